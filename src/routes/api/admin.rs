//! `/api/admin/...` (SPEC §9): what an instance admin sees and does. Every handler takes an
//! `AdminCaller` (a session of an admin account: a token gets 403 `session_required`, anyone
//! else 403 `forbidden`); every change goes through `ops::admin`, which also asks for a recent
//! password.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{utc, Page};
use crate::auth::AdminCaller;
use crate::db::{self, models::users};
use crate::domain::{Cursor, Email, UserId};
use crate::error::AppError;
use crate::state::AppState;

super::resource!(list_users);

/// An account as an admin sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUser)]
pub struct AdminUserJson {
    id: UserId,
    #[schema(value_type = String, format = Email)]
    email: Email,
    created_at: DateTime<Utc>,
    /// The last sign-in the security log still remembers (a year); null if none.
    last_login_at: Option<DateTime<Utc>>,
    /// Its tokens that are not revoked.
    token_count: i64,
    /// An instance admin.
    admin: bool,
}

/// List every account.
///
/// Newest first, with its last sign-in, how many tokens it holds and whether it is an
/// admin. For instance admins, with a dashboard session.
#[utoipa::path(
    tag = "admin",
    params(Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of accounts.", body = [AdminUserJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/users")]
async fn list_users(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let request = page.request()?;
    let (rows, overview) = db::query(&state.pool, move |conn| {
        let rows = users::list(conn, &request)?;
        let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
        Ok::<_, diesel::result::Error>((rows, users::overview(conn, &ids)?))
    })
    .await?;
    let (rows, next) = page.cut(rows, |u| {
        Cursor::new(Some(u.created_at), u.id.as_str().to_owned())
    });
    let items: Vec<AdminUserJson> = rows
        .into_iter()
        .map(|u| {
            let (token_count, last_login) = overview.get(&u.id).copied().unwrap_or_default();
            AdminUserJson {
                created_at: utc(u.created_at),
                last_login_at: last_login.map(utc),
                token_count,
                admin: u.admin,
                id: u.id,
                email: u.email,
            }
        })
        .collect();
    Ok(page.respond(&items, next))
}
