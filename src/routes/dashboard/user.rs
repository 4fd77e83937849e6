//! `DashboardUser`: the signed-in person of a dashboard page, decided by the same rules as
//! the API's caller (`auth::caller`), with the page's CSRF token.

use std::sync::Arc;

use actix_session::{Session, SessionExt};
use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::{HtmlError, Layout};
use crate::auth::caller::{refuse_authorization, session_user, Caller, Credential};
use crate::auth::csrf;
use crate::db::{self, models::notifications, models::users::User};
use crate::error::AppError;
use crate::state::AppState;

/// The logged-in person of a dashboard page, with the page's CSRF token. Form posts check the
/// token field themselves (`DashboardUser::check_csrf`); the header rules of the API do not apply.
pub struct DashboardUser {
    pub user: User,
    pub csrf_token: String,
    /// Unread notifications, for the top bar.
    pub unread: i64,
    req: HttpRequest,
}

impl DashboardUser {
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), AppError> {
        csrf::check_form(&self.req.get_session(), submitted)
    }

    pub fn session(&self) -> Session {
        self.req.get_session()
    }

    pub fn request(&self) -> &HttpRequest {
        &self.req
    }

    /// The layout of a signed-in page.
    pub fn layout(&self) -> Layout {
        Layout {
            csrf_token: self.csrf_token.clone(),
            user_email: Some(self.user.email.to_string()),
            unread: self.unread,
            admin: self.user.admin,
        }
    }

    /// The same person as an API caller would be: a session, holding every scope.
    pub fn caller(&self) -> Caller {
        Caller {
            user: std::sync::Arc::new(self.user.clone()),
            credential: Credential::Session,
        }
    }
}

impl FromRequest for DashboardUser {
    type Error = HtmlError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            refuse_authorization(&req)?;
            let state = AppState::of(&req);
            let session = req.get_session();
            let Some(user) = session_user(&state.pool, &session).await? else {
                // Halfway signed in: the second step is the only page open (SPEC §3.1).
                let now = state.clock.now();
                return Err(match super::second_factor::pending_user(&session, now)? {
                    Some(_) => AppError::SecondFactorPending.into(),
                    None => AppError::Unauthenticated.into(),
                });
            };
            let user = Arc::unwrap_or_clone(user);
            let csrf_token = csrf::token(&session)?;
            let user_id = user.id.clone();
            let unread = db::query(&state.pool, move |conn| {
                notifications::unread_count(conn, &user_id)
            })
            .await
            .map_err(AppError::from)?;
            Ok(DashboardUser {
                user,
                csrf_token,
                unread,
                req,
            })
        })
    }
}
