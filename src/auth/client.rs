//! Where a request comes from: the client's address and user agent, as the throttles, the
//! sessions page and the security log keep them. One place, so that all of them agree (and a
//! proxy-aware address, when there is one, changes here only).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use crate::db::models::security_log::Client;
use crate::domain::cut_user_agent;

/// The client's address as `auth::client_ip` decides it (the peer of the connection, or what
/// trusted proxies report); "" when there is none, as in tests that call handlers directly.
pub fn ip(req: &HttpRequest) -> String {
    super::client_ip(req)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The client's user agent, cut to what an event keeps; none when absent or not text.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(cut_user_agent)
        .filter(|ua| !ua.is_empty())
}

pub fn of(req: &HttpRequest) -> Client {
    let ip = ip(req);
    Client {
        ip: (!ip.is_empty()).then_some(ip),
        user_agent: user_agent(req),
    }
}

impl FromRequest for Client {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(of(req)))
    }
}
