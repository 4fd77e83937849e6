//! HTTP routes: `api/` answers JSON, `dashboard/` answers HTML, `health` answers probes.

pub mod api;
pub mod dashboard;
pub mod health;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{AppError, HtmlError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .configure(api::configure)
        .configure(dashboard::configure)
        .default_service(web::to(not_found));
}

/// Unknown paths: JSON under `/api`, a page elsewhere.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    if req.path() == "/api" || req.path().starts_with("/api/") {
        Err(AppError::NotFound.into())
    } else {
        Err(HtmlError(AppError::NotFound).into())
    }
}
