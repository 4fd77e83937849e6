//! `GET /api/me`: who the credential belongs to, and which token it is.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::utc;
use crate::auth::{Caller, Credential};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(me);
}

#[get("/me")]
async fn me(caller: Caller) -> HttpResponse {
    let auth = match &caller.credential {
        Credential::Session => json!({ "kind": "session", "token": null }),
        Credential::Token(t) => json!({
            "kind": "token",
            "token": {
                "id": t.id,
                "name": t.name,
                "prefix": t.prefix,
                "scopes": t.scopes.names(),
                "expiresAt": t.expires_at.map(utc),
            }
        }),
    };
    HttpResponse::Ok().json(json!({
        "user": { "id": caller.user.id, "email": caller.user.email },
        "auth": auth,
    }))
}
