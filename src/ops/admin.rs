//! What an instance admin does (SPEC §9), for `/api/admin` and any later door. Every change
//! needs the password entered recently, and is logged for the admin and for each account it
//! touches.

use serde_json::json;

use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::db::models::sessions;
use crate::db::models::tokens;
use crate::db::models::users::User;
use crate::db::{self, write_transaction};
use crate::domain::{AdminRevocation, RevokedReason, SecurityKind, UserId};
use crate::error::AppError;
use crate::notify::Notice;
use crate::state::AppState;

use super::Requester;

/// Revokes those of the tokens that still work, whoever owns them; each owner is told why
/// (a notification and its mail) and gets `token_revoked` in their security log, and so does
/// the admin, naming the owner. All in one transaction. Answers how many were revoked.
pub async fn revoke_tokens(
    state: &AppState,
    by: &Requester,
    revocation: AdminRevocation,
) -> Result<usize, AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (notifier, by) = (state.notifier.clone(), by.clone());
    let AdminRevocation { ids, reason } = revocation;
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
            let revoked = tokens::revoke_by_admin(conn, &ids, now)?;
            for (token, owner) in &revoked {
                let mut event = security_log::revoked(token, RevokedReason::Admin, &by.client);
                event.details["by"] = json!(admin.email.to_string());
                event.details["note"] = json!(reason);
                security_log::record(conn, &event, now)?;
                let mut details = event.details.clone();
                details["ownerEmail"] = json!(owner.email.to_string());
                let admins = NewSecurityEvent::new(
                    &admin.id,
                    SecurityKind::TokenRevoked,
                    &by.client,
                    details,
                );
                security_log::record(conn, &admins, now)?;
                let notice = Notice::RevokedByAdmin {
                    reason: reason.clone(),
                };
                notifier.record(conn, token, &notice, now)?;
            }
            Ok::<_, AppError>(revoked.len())
        })
    })
    .await
}

/// Suspends (`true`) or reactivates the account `id`. Suspended, its sessions end now, its
/// tokens answer 401 `account_suspended` from the very next request on every instance (the
/// owner row is read with the token, and the caches stay exact across a committed write), and
/// its logins are refused; reactivated, its tokens work again (sign-ins too). Logged as
/// `account_suspended` / `account_reactivated` for the account and for the admin. An admin
/// cannot suspend themselves (nobody would be left to undo it); asking for the state the
/// account is already in changes and logs nothing. `not_found` for no such account.
pub async fn set_suspended(
    state: &AppState,
    by: &Requester,
    id: UserId,
    suspend: bool,
) -> Result<(), AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    if suspend && id == by.user_id {
        return Err(AppError::validation(
            "id",
            "You cannot suspend your own account.",
        ));
    }
    let now = state.clock.now();
    let by = by.clone();
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
            let user = User::find(conn, &id)?.ok_or(AppError::NotFound)?;
            if user.suspended_at.is_some() == suspend {
                return Ok(());
            }
            User::set_suspended(conn, &id, suspend.then_some(now))?;
            let kind = if suspend {
                sessions::delete_for_user(conn, &id)?;
                SecurityKind::AccountSuspended
            } else {
                SecurityKind::AccountReactivated
            };
            let details = json!({
                "by": admin.email.to_string(),
                "userId": user.id,
                "userEmail": user.email.to_string(),
            });
            for whose in [&user.id, &admin.id] {
                let event = NewSecurityEvent::new(whose, kind, &by.client, details.clone());
                security_log::record(conn, &event, now)?;
            }
            Ok::<_, AppError>(())
        })
    })
    .await
}
