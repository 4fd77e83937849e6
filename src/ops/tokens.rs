//! Issuing, rotating and revoking a token (SPEC §4, §8.1, §8.4), for the JSON API and the forms
//! alike, and for the finders of leaked tokens. Revoking for disuse is the sweep's
//! (`ops::sweep`).

use crate::auth::reauth;
use chrono::NaiveDateTime;

use crate::db::models::leaks::{self, Outcome, Reported};
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::tokens::{self, TokenRow};
use crate::db::models::{settings, users};
use crate::db::{self, write_transaction, DbConnection};
use crate::domain::{
    NewToken, PlainToken, ProjectSelection, ReportChannel, Rotation, SecurityKind, TokenId, UserId,
};
use crate::error::AppError;
use crate::notify::Notice;
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

/// Runs `issue` (a creation or a rotation) and keeps what it made only if the token respects
/// the instance's token policy (SPEC §9): else nothing is written, and the answer is 403
/// `token_policy` naming the rule. Checked on the token as made, so the rule sees the very
/// lifetime and scopes it would have.
fn within_instance_policy(
    conn: &mut DbConnection,
    issue: impl FnOnce(&mut DbConnection) -> Result<(TokenRow, PlainToken), AppError>,
) -> Result<(TokenRow, PlainToken), AppError> {
    write_transaction(conn, |conn| {
        let (token, plain) = issue(conn)?;
        let policy = settings::token_policy(conn)?;
        policy
            .check(
                token.created_at,
                token.expires_at,
                token.scopes.iter().count(),
            )
            .map_err(AppError::TokenPolicy)?;
        if policy.require_second_factor {
            let owner = users::User::find(conn, &token.user_id)?;
            policy
                .check_owner(owner.is_some_and(|u| u.second_factor))
                .map_err(AppError::TokenPolicy)?;
        }
        Ok((token, plain))
    })
}

/// Creates a token for the requester, logged as `token_created` and told as a notification in
/// the same transaction; refused by the instance's token policy.
pub async fn issue(state: &AppState, by: &Requester, new: NewToken) -> Result<Issued, AppError> {
    if needs_recent_password(&new) && !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let now = state.clock.now();
    let (notifier, by) = (state.notifier.clone(), by.clone());
    let projects = new.projects.clone();
    let (token, plain) = db::write(&state.pool, move |conn| {
        within_instance_policy(conn, |conn| {
            Ok(notifier.issue(conn, now, |conn| {
                security_log::issued(conn, &by.client, now, |conn| {
                    tokens::create(conn, &by.user_id, &new, now)
                })
            })?)
        })
    })
    .await?;
    Ok(Issued {
        token,
        plain,
        projects,
    })
}

/// Writes `owner`'s new token as `issue` does — every rule of `tokens::create` (name, the cap,
/// the projects) and the instance's token policy — and logs it as `token_created`, in the
/// caller's transaction, but tells no one: `trusted_ci::exchange`'s, as a pipeline mints one
/// per run.
pub fn create_logged(
    conn: &mut DbConnection,
    owner: &UserId,
    client: &Client,
    new: &NewToken,
    now: NaiveDateTime,
) -> Result<(TokenRow, PlainToken), AppError> {
    within_instance_policy(conn, |conn| {
        Ok(security_log::issued(conn, client, now, |conn| {
            tokens::create(conn, owner, new, now)
        })?)
    })
}

/// Replaces the requester's working token `id` by a new one with its settings (SPEC §8.1),
/// logged as `token_rotated` and told like a new token; refused by the instance's token policy
/// (a token made before it changed cannot be renewed past it). Always needs a recent password:
/// it mints a credential without saying what it may do.
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
        let (token, plain) = within_instance_policy(conn, |conn| {
            Ok(notifier.issue(conn, now, |conn| {
                security_log::issued(conn, &by.client, now, |conn| {
                    let Rotation { expiry, grace } = rotation;
                    tokens::rotate(conn, &by.user_id, &id, expiry, grace, now)
                })
            })?)
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

/// Revokes what still works of tokens reported found in public (SPEC §8.4), and logs how
/// much (never which). Each revocation's owner notification (and mail) and security-log event
/// (with the reporter's address) commit with it.
pub async fn revoke_reported(
    state: &AppState,
    client: Client,
    channel: ReportChannel,
    reported: Vec<Reported>,
) -> Result<Vec<Outcome>, AppError> {
    if reported.is_empty() {
        return Ok(Vec::new());
    }
    let now = state.clock.now();
    let notifier = state.notifier.clone();
    // The revocations and their owners' notifications (and mail) commit together.
    let outcomes = db::write_query(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            let outcomes = leaks::revoke_reported(conn, channel, &reported, now)?;
            for outcome in &outcomes {
                if let Outcome::Revoked { token, url } = outcome {
                    let notice = Notice::ReportedPublic { url: url.clone() };
                    notifier.record(conn, token, &notice, now)?;
                    let mut details = security_log::token_details(token);
                    details["channel"] = channel.as_str().into();
                    details["url"] = url.clone().into();
                    let kind = SecurityKind::TokenReportedPublic;
                    let event = NewSecurityEvent::new(&token.user_id, kind, &client, details);
                    security_log::record(conn, &event, now)?;
                }
            }
            Ok(outcomes)
        })
    })
    .await?;
    let revoked = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Revoked { .. }))
        .count();
    let known = outcomes.iter().filter(|o| o.is_ours()).count();
    tracing::info!(%channel, reported = outcomes.len(), known, revoked, "leaked tokens reported");
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::users::User;
    use crate::domain::Email;

    fn reported(plain: &PlainToken) -> Reported {
        Reported {
            hash: plain.hash(),
            url: None,
            source: None,
        }
    }

    /// A report revokes a live token once, tells its owner and logs it with the reporter's
    /// address; a token already revoked, or no token of ours, changes nothing.
    #[actix_web::test]
    async fn a_reported_token_is_revoked_once_told_and_logged() {
        let (_dir, state) = crate::state::for_tests().await;
        let now = state.clock.now();
        let email = Email::parse("owner@example.com").unwrap();
        let user = db::write(&state.pool, move |conn| {
            User::create(conn, email, "not a hash".into(), now)
        })
        .await
        .unwrap();
        let by = Requester {
            user_id: user.id.clone(),
            client: Client::default(),
            password_recent: true,
        };
        let new = NewToken::validate("ci", &["publish".into()], Some("1y"), None, &[]).unwrap();
        let issued = issue(&state, &by, new).await.unwrap();

        let reporter = Client {
            ip: Some("192.0.2.7".into()),
            user_agent: None,
        };
        let batch = vec![reported(&issued.plain), reported(&issued.plain)];
        let outcomes = revoke_reported(&state, reporter.clone(), ReportChannel::Public, batch)
            .await
            .unwrap();
        assert!(matches!(
            outcomes.as_slice(),
            [Outcome::Revoked { .. }, Outcome::AlreadyInactive]
        ));
        let unknown = vec![reported(&PlainToken::generate())];
        let outcomes = revoke_reported(&state, reporter, ReportChannel::Public, unknown)
            .await
            .unwrap();
        assert!(matches!(outcomes.as_slice(), [Outcome::Unknown]));

        let user_id = user.id.clone();
        let (events, told) = db::query(&state.pool, move |conn| {
            let page = crate::domain::PageRequest::parse(None, None).unwrap();
            let events = security_log::list(conn, &user_id, None, &page)?;
            let told = crate::db::models::notifications::unread_count(conn, &user_id)?;
            Ok::<_, diesel::result::Error>((events, told))
        })
        .await
        .unwrap();
        let reports: Vec<_> = events
            .iter()
            .filter(|e| e.kind == SecurityKind::TokenReportedPublic)
            .collect();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].ip.as_deref(), Some("192.0.2.7"));
        // Created, then reported: both told.
        assert_eq!(told, 2);
    }
}
