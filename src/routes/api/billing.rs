//! The caller's own invoices (`billing.read`).

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::utc;
use crate::auth::Caller;
use crate::db::{self, models::invoices};
use crate::domain::Scope;
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(latest);
}

fn invoice_json(i: invoices::Invoice) -> serde_json::Value {
    json!({ "id": i.id, "period": i.period, "amountCents": i.amount_cents, "createdAt": utc(i.created_at) })
}

async fn load(caller: Caller, state: &AppState) -> Result<Vec<invoices::Invoice>, AppError> {
    caller.require(Scope::BillingRead)?;
    Ok(db::query(&state.pool, move |conn| {
        invoices::list(conn, &caller.user.id)
    })
    .await?)
}

#[get("/billing/invoices")]
async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let rows = load(caller, &state).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(invoice_json).collect::<Vec<_>>()))
}

#[get("/billing/invoices/latest")]
async fn latest(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let latest = load(caller, &state)
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(invoice_json(latest)))
}
