//! The credentials inventory's filters (SPEC §9), read from the query string the same way by
//! `GET /api/admin/tokens` and the `/admin/tokens` page.

use actix_web::HttpRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::models::tokens::{InventoryFilter, TokenStatus};
use crate::domain::Scope;
use crate::error::AppError;

/// The inventory's filters (paging comes from `Page`); every one given must hold.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct InventoryQuery {
    /// Only the tokens of the account with this email.
    owner: Option<String>,
    /// `active`, `expired` or `revoked`.
    #[param(value_type = Option<String>, pattern = "^(active|expired|revoked)$")]
    status: Option<String>,
    /// Only tokens with this scope.
    #[param(value_type = Option<Scope>)]
    scope: Option<String>,
    /// Working tokens that expire within this many days (1 to 3650).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    expires_within_days: Option<String>,
    /// `true`: only tokens that never expire.
    #[param(value_type = Option<bool>)]
    never_expires: Option<String>,
    /// Tokens not used (never used: not created) within this many days (1 to 3650).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    unused_for_days: Option<String>,
    /// `json` (the default) or `csv`: the same page as a CSV file with a header row.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// A number of days, 1 to 3650, or the field's 422.
fn days(field: &'static str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Ok(Some(n)),
            _ => Err(AppError::validation(field, "A number of days, 1 to 3650.")),
        },
    }
}

/// The filters and the format, or the 422 of the first one that is malformed.
pub fn inventory_query(req: &HttpRequest) -> Result<(InventoryFilter, bool), AppError> {
    let q: InventoryQuery = serde_html_form::from_str(req.query_string())
        .map_err(|_| AppError::validation("query", "Give each filter at most once."))?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            TokenStatus::parse(raw)
                .ok_or_else(|| AppError::validation("status", "Use active, expired or revoked."))?,
        ),
    };
    let scope = match q.scope.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Scope::parse(raw).ok_or_else(|| {
            AppError::validation(
                "scope",
                "Use publish, messages, files, domain or billing.read.",
            )
        })?),
    };
    let never_expires = match q.never_expires.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(AppError::validation("neverExpires", "Use true or false.")),
    };
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::validation("format", "Use json or csv.")),
    };
    let filter = InventoryFilter {
        owner: q.owner.filter(|o| !o.is_empty()),
        status,
        scope,
        expires_within_days: days("expiresWithinDays", q.expires_within_days.as_deref())?,
        never_expires,
        unused_for_days: days("unusedForDays", q.unused_for_days.as_deref())?,
    };
    Ok((filter, csv))
}
