//! Issuing, rotating and revoking a token (SPEC §4, §8.1), for the JSON API and the forms alike.

use crate::auth::reauth;
use chrono::NaiveDateTime;

use crate::db::models::security_log::{self, Client};
use crate::db::models::tokens::{self, TokenRow};
use crate::db::models::WriteError;
use crate::db::{self, DbConnection};
use crate::domain::{NewToken, PlainToken, ProjectSelection, Rotation, TokenId, UserId};
use crate::error::AppError;
use crate::state::AppState;

use super::Requester;

/// A token just made, with its secret: the only moment it exists in the clear.
pub struct Issued {
    pub token: TokenRow,
    pub plain: PlainToken,
    pub projects: ProjectSelection,
}

/// Whether issuing `new` needs the password entered recently; a form asks for it first.
pub fn needs_recent_password(new: &NewToken) -> bool {
    reauth::token_needs_it(&new.scopes, new.expiry)
}

/// Creates a token for the requester, logged as `token_created` and told as a notification in
/// the same transaction.
pub async fn issue(state: &AppState, by: &Requester, new: NewToken) -> Result<Issued, AppError> {
    if needs_recent_password(&new) && !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (notifier, by) = (state.notifier.clone(), by.clone());
    let projects = new.projects.clone();
    let (token, plain) = db::write(&state.pool, move |conn| {
        notifier.issue(conn, now, |conn| {
            create_logged(conn, &by.user_id, &by.client, &new, now)
        })
    })
    .await?;
    Ok(Issued {
        token,
        plain,
        projects,
    })
}

/// Writes `owner`'s new token, every rule of `tokens::create` checked (name, the cap, the
/// projects), and logs it as `token_created`, in the caller's transaction: `issue` for a
/// person's request, `trusted_ci::exchange` for a CI's (which tells no one: a pipeline mints
/// one per run).
pub fn create_logged(
    conn: &mut DbConnection,
    owner: &UserId,
    client: &Client,
    new: &NewToken,
    now: NaiveDateTime,
) -> Result<(TokenRow, PlainToken), WriteError> {
    security_log::issued(conn, client, now, |conn| {
        tokens::create(conn, owner, new, now)
    })
}

/// Replaces the requester's working token `id` by a new one with its settings (SPEC §8.1),
/// logged as `token_rotated` and told like a new token. Always needs a recent password: it
/// mints a credential without saying what it may do.
pub async fn rotate(
    state: &AppState,
    by: &Requester,
    id: TokenId,
    rotation: Rotation,
) -> Result<Issued, AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (notifier, by) = (state.notifier.clone(), by.clone());
    db::write(&state.pool, move |conn| {
        let (token, plain) = notifier.issue(conn, now, |conn| {
            security_log::issued(conn, &by.client, now, |conn| {
                let Rotation { expiry, grace } = rotation;
                tokens::rotate(conn, &by.user_id, &id, expiry, grace, now)
            })
        })?;
        let chosen = tokens::chosen_projects(conn, std::slice::from_ref(&token.id))?;
        let projects = tokens::selection_of(&token, &chosen);
        Ok::<_, AppError>(Issued {
            token,
            plain,
            projects,
        })
    })
    .await
}

/// Revokes the requester's token `id` at once (someone else's is `not_found`); logged as
/// `token_revoked` when it was still working. Revoking a revoked token changes nothing.
pub async fn revoke(state: &AppState, by: &Requester, id: TokenId) -> Result<TokenRow, AppError> {
    let now = state.clock.now();
    let by = by.clone();
    Ok(db::write_query(&state.pool, move |conn| {
        security_log::revoke_token(conn, &by.user_id, &id, &by.client, now)
    })
    .await?)
}
