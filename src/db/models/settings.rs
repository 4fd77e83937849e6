//! Instance-wide settings that every instance on one database shares.

use diesel::prelude::*;

use crate::db::schema::{app_settings, instance_token_policy};
use crate::db::{is_unique_violation, DbConnection};
use crate::domain::{InstancePolicy, LifetimeDays, ScopeCount};

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

/// The instance's token policy (SPEC §9); no row is no policy.
pub fn token_policy(conn: &mut DbConnection) -> QueryResult<InstancePolicy> {
    let row: Option<(Option<i32>, bool, Option<i32>, bool)> = instance_token_policy::table
        .select((
            instance_token_policy::max_lifetime_days,
            instance_token_policy::allow_never,
            instance_token_policy::max_scopes,
            instance_token_policy::require_second_factor,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => InstancePolicy::default(),
        // Only `set_token_policy` writes it, with checked values.
        Some((days, allow_never, scopes, require_second_factor)) => InstancePolicy {
            max_lifetime_days: days.and_then(|d| LifetimeDays::new(d.into()).ok()),
            allow_never,
            max_scopes: scopes.and_then(|n| ScopeCount::new(n.into())),
            require_second_factor,
        },
    })
}

/// Replaces the instance's token policy (in the caller's transaction: an update, or the
/// first row).
pub fn set_token_policy(conn: &mut DbConnection, policy: &InstancePolicy) -> QueryResult<()> {
    let values = (
        instance_token_policy::max_lifetime_days
            .eq(policy.max_lifetime_days.map(|d| i32::from(d.get()))),
        instance_token_policy::allow_never.eq(policy.allow_never),
        instance_token_policy::max_scopes.eq(policy.max_scopes.map(|n| i32::from(n.get()))),
        instance_token_policy::require_second_factor.eq(policy.require_second_factor),
    );
    let updated = diesel::update(instance_token_policy::table.find(1))
        .set(values)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(instance_token_policy::table)
            .values((instance_token_policy::id.eq(1), values))
            .execute(conn)?;
    }
    Ok(())
}
