//! Instance admins (SPEC §9): who may use `/admin` and `/api/admin`. A session only — a token
//! never administers, however it was scoped (403 `session_required`, before it is looked at) —
//! of an account with the admin flag (else 403 `forbidden`). Every change an admin makes also
//! needs the password entered recently (`ops::admin` asks `Requester::password_recent`).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::caller::SessionCaller;
use crate::db::models::users::User;
use crate::error::AppError;

/// The signed-in instance admin.
#[derive(Clone, Debug)]
pub struct AdminCaller {
    pub user: Arc<User>,
}

/// The admin rule: the account's flag, read with the session on this very request.
pub fn require_admin(user: Arc<User>) -> Result<AdminCaller, AppError> {
    if user.admin {
        Ok(AdminCaller { user })
    } else {
        Err(AppError::Forbidden)
    }
}

impl FromRequest for AdminCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let SessionCaller(caller) = SessionCaller::extract(&req).await?;
            require_admin(caller.user)
        })
    }
}
