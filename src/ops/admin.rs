//! What an instance admin does (SPEC §9), for `/api/admin` and any later door. Every change
//! needs the password entered recently, and is logged for the admin and for each account it
//! touches.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::models::security_log::{self, NewSecurityEvent};
use crate::db::models::tokens::{self, TokenStatus};
use crate::db::models::users::User;
use crate::db::models::{offboarding, sessions, settings};
use crate::db::{self, write_transaction, DbConnection};
use crate::domain::{
    AdminRevocation, InstancePolicy, RevokedReason, SecurityKind, TokenId, UserId,
};
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
    let notifier = state.notifier.clone();
    let AdminRevocation { ids, reason } = revocation;
    change(state, by, move |conn, by, now| {
        let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
        let revoked = tokens::revoke_by_admin(conn, &ids, now)?;
        for (token, owner) in &revoked {
            let mut event = security_log::revoked(token, RevokedReason::Admin, &by.client);
            event.details["by"] = json!(admin.email.to_string());
            event.details["note"] = json!(reason);
            security_log::record(conn, &event, now)?;
            let mut details = event.details.clone();
            details["ownerEmail"] = json!(owner.email.to_string());
            let admins =
                NewSecurityEvent::new(&admin.id, SecurityKind::TokenRevoked, &by.client, details);
            security_log::record(conn, &admins, now)?;
            let notice = Notice::RevokedByAdmin {
                reason: reason.clone(),
            };
            notifier.record(conn, token, &notice, now)?;
        }
        Ok::<_, AppError>(revoked.len())
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
    change(state, by, move |conn, by, now| {
        if suspend && id == by.user_id {
            return Err(AppError::validation(
                "id",
                "You cannot suspend your own account.",
            ));
        }
        let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
        let user = User::find(conn, &id)?.ok_or(AppError::NotFound)?;
        if offboarding::is_deleted(conn, &id)? {
            return Err(AppError::NotFound);
        }
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
    .await
}

/// Replaces the instance's token policy (SPEC §9): from now on every new or regenerated token
/// must respect it (`ops::tokens`); tokens made before keep working, and the inventory names
/// those that exceed it. Logged as `token_policy_changed` for the admin, with the policy
/// before and after.
pub async fn set_token_policy(
    state: &AppState,
    by: &Requester,
    policy: InstancePolicy,
) -> Result<(), AppError> {
    change(state, by, move |conn, by, now| {
        let before = settings::token_policy(conn)?;
        settings::set_token_policy(conn, &policy)?;
        let details = json!({ "before": before, "after": policy });
        let event = NewSecurityEvent::new(
            &by.user_id,
            SecurityKind::TokenPolicyChanged,
            &by.client,
            details,
        );
        security_log::record(conn, &event, now)?;
        Ok::<_, AppError>(())
    })
    .await
}

/// "Shorten to the maximum": each of these working tokens that outlives the instance's
/// maximum lifetime now expires at its creation plus that maximum (at once, if that has
/// passed). Logged as `token_shortened` for its owner and for the admin. Tokens already
/// within it, stopped or unknown are skipped; with no maximum lifetime there is nothing to
/// shorten to (422). Answers how many were shortened.
pub async fn shorten_tokens(
    state: &AppState,
    by: &Requester,
    ids: Vec<TokenId>,
) -> Result<usize, AppError> {
    change(state, by, move |conn, by, now| {
        let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
        let policy = settings::token_policy(conn)?;
        if policy.max_lifetime_days.is_none() {
            return Err(AppError::validation(
                "ids",
                "The instance's token policy sets no maximum lifetime to shorten to.",
            ));
        }
        let mut shortened = 0;
        for (token, owner) in tokens::with_owners(conn, &ids)? {
            let Some(latest) = policy.latest_expiry(token.created_at) else {
                continue;
            };
            if token.status(now) != TokenStatus::Active
                || token.expires_at.is_some_and(|at| at <= latest)
            {
                continue;
            }
            tokens::shorten(conn, &token.id, latest)?;
            let mut event =
                NewSecurityEvent::token(SecurityKind::TokenShortened, &token, &by.client);
            event.details["by"] = json!(admin.email.to_string());
            event.details["expiresAt"] = json!(latest.and_utc());
            security_log::record(conn, &event, now)?;
            let mut admins = event.clone();
            admins.user_id = admin.id.clone();
            admins.details["ownerEmail"] = json!(owner.email.to_string());
            security_log::record(conn, &admins, now)?;
            shortened += 1;
        }
        Ok(shortened)
    })
    .await
}

/// Deletes the account `id` (SPEC §9): its working tokens are revoked (as by an admin, on
/// every instance at once), its sessions end, the projects it alone owns are handed to the
/// admin account `transfer_to`, it leaves every project, and it is anonymised
/// (`offboarding::anonymise`: every security log stops naming its email). Logged as
/// `account_deleted` for the admin who did it. Refused (422) for yourself, for the last admin,
/// and without a `transfer_to` that is another admin's working account while there are
/// projects to hand over; `not_found` for no such account (or one already deleted).
pub async fn delete_account(
    state: &AppState,
    by: &Requester,
    id: UserId,
    transfer_to: Option<UserId>,
) -> Result<(), AppError> {
    change(state, by, move |conn, by, now| {
        if id == by.user_id {
            return Err(AppError::validation(
                "id",
                "You cannot delete your own account.",
            ));
        }
        let admin = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
        if !admin.admin {
            return Err(AppError::Forbidden);
        }
        let user = User::find(conn, &id)?.ok_or(AppError::NotFound)?;
        if offboarding::is_deleted(conn, &id)? {
            return Err(AppError::NotFound);
        }
        // The caller was an admin when the request began; counted here, in the
        // transaction, so two admins deleting each other at once cannot leave none.
        if user.admin && offboarding::other_admins(conn, &id)? == 0 {
            return Err(AppError::validation(
                "id",
                "The last admin cannot be deleted.",
            ));
        }
        let orphans = offboarding::sole_owned(conn, &id)?;
        if !orphans.is_empty() {
            let heir = match &transfer_to {
                Some(to) if *to != id => User::find(conn, to)?,
                _ => None,
            };
            let usable = heir.filter(|h| h.admin && h.suspended_at.is_none());
            let Some(heir) = usable else {
                return Err(AppError::validation(
                    "transferTo",
                    format!(
                        "This account alone owns {} project(s): name another admin's \
                             account to receive them.",
                        orphans.len()
                    ),
                ));
            };
            for project in &orphans {
                offboarding::hand_over(conn, project, &heir.id, now)?;
            }
        }
        let working: Vec<TokenId> = tokens::working(conn, &id, now)?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let revoked = tokens::revoke_by_admin(conn, &working, now)?;
        sessions::delete_for_user(conn, &id)?;
        offboarding::anonymise(conn, &id, &user.email, now)?;
        let details = json!({
            "by": admin.email.to_string(),
            "userId": user.id,
            "tokensRevoked": revoked.len(),
            "projectsHandedOver": orphans,
            "transferTo": transfer_to,
        });
        let event =
            NewSecurityEvent::new(&admin.id, SecurityKind::AccountDeleted, &by.client, details);
        security_log::record(conn, &event, now)?;
        Ok::<_, AppError>(())
    })
    .await
}

/// Runs an admin's change as one transaction on the writer, with the requester and the time,
/// once the requester has entered the password recently (403 `reauthentication_required`
/// before anything else is judged).
async fn change<T, F>(state: &AppState, by: &Requester, change: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection, &Requester, NaiveDateTime) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let (by, now) = (by.clone(), state.clock.now());
    db::write(&state.pool, move |conn| {
        write_transaction(conn, |conn| change(conn, &by, now))
    })
    .await
}
