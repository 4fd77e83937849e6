//! `GET /healthz`: 200 once the server can reach its database.

use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

use crate::db;
use crate::state::AppState;

pub const PATH: &str = "/healthz";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(healthz));
}

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let reachable = db::query(&state.pool, |conn| conn.batch_execute("SELECT 1")).await;
    match reachable {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable"),
    }
}
