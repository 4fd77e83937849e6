//! The caller's own invoices (`billing.read`).

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{utc, Page};
use crate::auth::Caller;
use crate::db::{self, models::invoices};
use crate::domain::{PageRequest, Scope};
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;

super::resource!(list, latest);

/// Fields in alphabetical order: the order this answer has always had.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Invoice)]
pub struct InvoiceJson {
    /// In cents.
    amount_cents: i64,
    created_at: DateTime<Utc>,
    #[schema(format = Uuid)]
    id: String,
    /// The month billed, `YYYY-MM`.
    #[schema(example = "2026-11")]
    period: String,
}

impl From<invoices::Invoice> for InvoiceJson {
    fn from(i: invoices::Invoice) -> Self {
        InvoiceJson {
            amount_cents: i.amount_cents,
            created_at: utc(i.created_at),
            id: i.id,
            period: i.period,
        }
    }
}

/// `page`: as `Page::request` gave it, checked after the scope.
async fn load(
    caller: Caller,
    state: &AppState,
    page: Result<PageRequest, AppError>,
) -> Result<Vec<invoices::Invoice>, AppError> {
    caller.require(Scope::BillingRead)?;
    let page = page?;
    Ok(db::query(&state.pool, move |conn| {
        invoices::list(conn, &caller.user.id, &page)
    })
    .await?)
}

/// List your invoices.
///
/// Newest first. Needs the `billing.read` scope; each account reads its own.
#[utoipa::path(
    tag = "billing",
    params(Page),
    security(("bearer" = ["billing.read"]), ("session" = [])),
    responses((status = 200, description = "A page of invoices.", body = [InvoiceJson], headers(
        ("Link" = String, description = "`<…>; rel=\"next\"` while more remain."),
    ))),
)]
#[get("/invoices")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let rows = load(caller, &state, page.request()).await?;
    let (rows, next) = page.cut(rows, invoices::Invoice::cursor);
    Ok(page.respond(
        &rows.into_iter().map(InvoiceJson::from).collect::<Vec<_>>(),
        next,
    ))
}

/// Your latest invoice.
///
/// Needs the `billing.read` scope.
#[utoipa::path(
    tag = "billing",
    security(("bearer" = ["billing.read"]), ("session" = [])),
    responses(
        (status = 200, description = "The latest invoice.", body = InvoiceJson),
        (status = 404, description = "`not_found`: no invoice yet.", body = ErrorBody),
    ),
)]
#[get("/invoices/latest")]
async fn latest(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let latest = load(caller, &state, Ok(PageRequest::first(1)))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(InvoiceJson::from(latest)))
}
