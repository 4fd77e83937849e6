//! Invoices of an account (recorded by `mantel invoice add`, read with `billing.read`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::WriteError;
use crate::db::schema::invoices;
use crate::db::DbConnection;
use crate::domain::{Cursor, PageRequest, UserId};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub struct Invoice {
    pub id: String,
    pub user_id: UserId,
    pub period: String,
    pub amount_cents: i64,
    pub created_at: NaiveDateTime,
}

/// `YYYY-MM` with a real month.
pub fn validate_period(period: &str) -> Result<(), WriteError> {
    let ok = period.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").is_ok();
    if ok {
        Ok(())
    } else {
        Err(WriteError::field("period", "Use YYYY-MM, e.g. 2026-11."))
    }
}

pub fn add(
    conn: &mut DbConnection,
    user_id: &UserId,
    period: &str,
    amount_cents: i64,
    now: NaiveDateTime,
) -> Result<Invoice, WriteError> {
    validate_period(period)?;
    if amount_cents < 0 {
        return Err(WriteError::field(
            "amountCents",
            "The amount cannot be negative.",
        ));
    }
    let row = Invoice {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.clone(),
        period: period.to_owned(),
        amount_cents,
        created_at: now,
    };
    diesel::insert_into(invoices::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// A page of the account's invoices, newest first.
pub fn list(
    conn: &mut DbConnection,
    user_id: &UserId,
    page: &PageRequest,
) -> QueryResult<Vec<Invoice>> {
    let mut query = invoices::table
        .filter(invoices::user_id.eq(user_id))
        .into_boxed();
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            invoices::created_at.lt(*at).or(invoices::created_at
                .eq(*at)
                .and(invoices::id.lt(key.clone()))),
        );
    }
    query
        .order((invoices::created_at.desc(), invoices::id.desc()))
        .limit(page.fetch())
        .select(Invoice::as_select())
        .load(conn)
}

impl Invoice {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), self.id.as_str())
    }
}
