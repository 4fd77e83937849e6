//! `GET /healthz`: 200 once the server can reach its database.

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;

use crate::db;
use crate::state::AppState;

#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let reachable = db::query(&state.pool, |conn| conn.batch_execute("SELECT 1")).await;
    match reachable {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable"),
    }
}
