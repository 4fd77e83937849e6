//! Instance-wide settings that every instance on one database shares.

use diesel::prelude::*;

use crate::db::schema::app_settings;
use crate::db::{is_unique_violation, DbConnection};

/// Returns the stored value of `name`, storing `make()` first if there is none. When two
/// instances race, the first insert wins and both return the same value.
pub fn get_or_insert(
    conn: &mut DbConnection,
    name: &str,
    make: impl FnOnce() -> String,
) -> QueryResult<String> {
    let find = |conn: &mut DbConnection| {
        app_settings::table
            .find(name)
            .select(app_settings::value)
            .get_result::<String>(conn)
            .optional()
    };
    if let Some(value) = find(conn)? {
        return Ok(value);
    }
    let inserted = diesel::insert_into(app_settings::table)
        .values((app_settings::name.eq(name), app_settings::value.eq(make())))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e),
    }
    find(conn)?.ok_or(diesel::result::Error::NotFound)
}
