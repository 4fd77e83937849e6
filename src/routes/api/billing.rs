//! The caller's own invoices (`billing.read`).

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::{utc, Page};
use crate::auth::Caller;
use crate::db::{self, models::invoices};
use crate::domain::{PageRequest, Scope};
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(latest);
}

fn invoice_json(i: invoices::Invoice) -> serde_json::Value {
    json!({ "id": i.id, "period": i.period, "amountCents": i.amount_cents, "createdAt": utc(i.created_at) })
}

async fn load(
    caller: Caller,
    state: &AppState,
    page: PageRequest,
) -> Result<Vec<invoices::Invoice>, AppError> {
    caller.require(Scope::BillingRead)?;
    Ok(db::query(&state.pool, move |conn| {
        invoices::list(conn, &caller.user.id, &page)
    })
    .await?)
}

#[get("/billing/invoices")]
async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let rows = load(caller, &state, page.request.clone()).await?;
    let (rows, next) = page.request.cut(rows, invoices::Invoice::cursor);
    Ok(page.respond(
        &rows.into_iter().map(invoice_json).collect::<Vec<_>>(),
        next,
    ))
}

#[get("/billing/invoices/latest")]
async fn latest(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let latest = load(caller, &state, PageRequest::first(1))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(invoice_json(latest)))
}
