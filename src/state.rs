//! What every handler shares.

use crate::auth::csrf::FormCsrf;
use crate::auth::last_used::LastUsed;
use crate::auth::reveal::PendingReveals;
use crate::auth::throttle::Throttles;
use crate::clock::Clock;
use crate::db::{Pool, QueryCount};

impl AppState {
    /// The state of the app serving `req` (registered by `startup`).
    pub fn of(req: &actix_web::HttpRequest) -> &actix_web::web::Data<AppState> {
        req.app_data::<actix_web::web::Data<AppState>>()
            .expect("AppState is registered by startup")
    }
}

pub struct AppState {
    pub pool: Pool,
    pub clock: Clock,
    pub queries: QueryCount,
    /// The origin (`scheme://host[:port]`) of the public URL, which same-origin checks compare.
    pub public_origin: String,
    pub throttles: Throttles,
    /// The CSRF protection of the login and sign-up forms.
    pub form_csrf: FormCsrf,
    pub last_used: LastUsed,
    /// New tokens' plaintexts between the dashboard's create POST and its reveal GET.
    pub reveals: PendingReveals,
}
