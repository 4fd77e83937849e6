//! Trusted CI (SPEC §8.8): an owner trusts or stops trusting a CI identity on a project, and a
//! CI job exchanges its platform's OIDC token for a short-lived token of that project.
//!
//! The minted token is issued like any other (`tokens::create_logged`: name, cap, projects,
//! `token_created`), to the owner who set the trust up, restricted to the project, with the
//! configuration's scopes and lifetime; so it can never do more than that owner may on the
//! project now, and it is listed, shown in activity and revoked like any token of theirs.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::{on_project_write, Requester};
use crate::auth::oidc::{self, Refused};
use crate::auth::{Caller, Need};
use crate::db::models::projects;
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::trusted_ci::{self, IssuedTo, TrustRow};
use crate::db::{self, write_transaction, DbConnection};
use crate::domain::{
    AllowedIps, Audience, Expiry, NewToken, NewTrust, ProjectId, ProjectSelection, Role,
    SecurityKind, TokenName, TrustId, UserId,
};
use crate::error::AppError;
use crate::state::AppState;

use super::tokens::Issued;

/// Trusts `new` (as the door read it) on the project: owners only, then the fields, then the
/// password entered recently, like every change that lets something mint tokens. The server's
/// public URL is the audience when none is given.
pub async fn add(
    state: &AppState,
    caller: Caller,
    by: &Requester,
    project: ProjectId,
    new: Result<NewTrust, AppError>,
) -> Result<TrustRow, AppError> {
    let (by, public_url, now) = (by.clone(), state.public_origin.clone(), state.clock.now());
    on_project_write(state, caller, project, OWNERS, move |conn, id, _| {
        insert(conn, &by, id, new?, &public_url, now)
    })
    .await
}

/// Stops trusting the project's configuration `id` (404 when it has none such): owners only,
/// with the password entered recently. Tokens already minted under it keep their short lives;
/// revoke them to end them sooner.
pub async fn remove(
    state: &AppState,
    caller: Caller,
    by: &Requester,
    project: ProjectId,
    id: TrustId,
) -> Result<(), AppError> {
    let (by, now) = (by.clone(), state.clock.now());
    on_project_write(state, caller, project, OWNERS, move |conn, project, _| {
        delete(conn, &by, project, &id, now)
    })
    .await
}

/// Who may trust a CI identity on a project, or stop trusting one.
const OWNERS: Need = Need::role(Role::Owner);

fn insert(
    conn: &mut DbConnection,
    by: &Requester,
    project_id: &ProjectId,
    new: NewTrust,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<TrustRow, AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    let audience = match new.audience {
        Some(a) => a,
        None => Audience::parse(public_url)
            .ok_or_else(|| AppError::validation("audience", Audience::EXPECTED))?,
    };
    let row = TrustRow {
        id: TrustId::new(),
        project_id: project_id.clone(),
        created_by: by.user_id.clone(),
        issuer: new.issuer,
        audience,
        claims: new.claims,
        scopes: new.scopes,
        lifetime: new.lifetime,
        created_at: now,
    };
    write_transaction(conn, |conn| {
        trusted_ci::insert(conn, &row)?;
        log(
            conn,
            &by.user_id,
            SecurityKind::TrustedCiAdded,
            &by.client,
            &row,
            now,
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(row)
}

fn delete(
    conn: &mut DbConnection,
    by: &Requester,
    project_id: &ProjectId,
    id: &TrustId,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    write_transaction(conn, |conn| {
        let row = trusted_ci::delete(conn, project_id, id)?.ok_or(AppError::NotFound)?;
        log(
            conn,
            &by.user_id,
            SecurityKind::TrustedCiRemoved,
            &by.client,
            &row,
            now,
        )?;
        Ok(())
    })
}

/// Stops trusting every CI identity on the project at once (`DELETE …/trusted-ci`): for an
/// owner who wants no pipeline to mint tokens here any more (owners only, with the password
/// entered recently). Each removal is logged as one `remove` would log it; none is no error.
/// Answers how many were removed.
pub async fn remove_all(
    state: &AppState,
    caller: Caller,
    by: &Requester,
    project: ProjectId,
) -> Result<usize, AppError> {
    let (by, now) = (by.clone(), state.clock.now());
    on_project_write(state, caller, project, OWNERS, move |conn, project, _| {
        delete_all(conn, &by, project, now)
    })
    .await
}

fn delete_all(
    conn: &mut DbConnection,
    by: &Requester,
    project_id: &ProjectId,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    if !by.password_recent {
        return Err(AppError::ReauthenticationRequired);
    }
    write_transaction(conn, |conn| {
        let rows = trusted_ci::delete_all(conn, project_id)?;
        for row in &rows {
            let kind = SecurityKind::TrustedCiRemoved;
            log(conn, &by.user_id, kind, &by.client, row, now)?;
        }
        Ok(rows.len())
    })
}

fn log(
    conn: &mut DbConnection,
    user_id: &UserId,
    kind: SecurityKind,
    client: &Client,
    row: &TrustRow,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let details = json!({
        "projectId": row.project_id,
        "trustId": row.id,
        "issuer": row.issuer,
        "claims": row.claims,
    });
    security_log::record(
        conn,
        &NewSecurityEvent::new(user_id, kind, client, details),
        now,
    )
}

/// A token minted for a CI job, with whom it was issued to.
pub struct Exchanged {
    pub issued: Issued,
    pub issued_to: IssuedTo,
}

/// Exchanges a CI platform's OIDC token for a token of the one project whose trust it matches
/// (SPEC §8.8). Every refusal is `CiTokenRefused` with its reason, and — once the token names
/// an issuer some project trusts — a `ci_exchange_refused` event for those projects' owners.
pub async fn exchange(state: &AppState, client: Client, jwt: &str) -> Result<Exchanged, AppError> {
    let now = state.clock.now();
    let token = oidc::peek(jwt).map_err(refused)?;
    let issuer = token.issuer.clone();
    let trusts = db::query(&state.pool, move |conn| {
        trusted_ci::for_issuer(conn, &issuer)
    })
    .await?;
    let Some(first) = trusts.first() else {
        return Err(refused(Refused(
            "No project trusts this token's issuer (iss).".into(),
        )));
    };
    let issuer = first.issuer.clone();
    let verified = match state.issuers.verify(jwt, &token, &issuer, now).await {
        Ok(v) => v,
        Err(r) => return Err(tell(state, &client, &trusts, None, r).await),
    };
    let subject = Some(verified.subject.as_str());
    let for_us: Vec<&TrustRow> = trusts
        .iter()
        .filter(|t| verified.audiences.iter().any(|a| a == t.audience.as_str()))
        .collect();
    if for_us.is_empty() {
        let r = Refused("The token's audience (aud) is not one trusted for its issuer.".into());
        return Err(tell(state, &client, &trusts, subject, r).await);
    }
    let matched: Vec<&TrustRow> = for_us
        .iter()
        .copied()
        .filter(|t| t.claims.first_mismatch(&verified.claims).is_none())
        .collect();
    let trust = match matched.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let names: Vec<&str> = for_us
                .iter()
                .filter_map(|t| t.claims.first_mismatch(&verified.claims))
                .collect();
            let r = Refused(format!(
                "The token's claims do not match a trust configuration: {} differs.",
                names.join(", ")
            ));
            let told: Vec<TrustRow> = for_us.into_iter().cloned().collect();
            return Err(tell(state, &client, &told, subject, r).await);
        }
        _ => {
            let r = Refused(
                "The token matches the trust of several projects: give each its own audience."
                    .into(),
            );
            let told: Vec<TrustRow> = matched.into_iter().cloned().collect();
            return Err(tell(state, &client, &told, subject, r).await);
        }
    };
    let claims: Map<String, Value> = trust
        .claims
        .iter()
        .filter_map(|(name, _)| Some((name.to_owned(), verified.claims.get(name)?.clone())))
        .collect();
    let issued_to = IssuedTo {
        issuer: verified.issuer.clone(),
        subject: verified.subject.clone(),
        claims,
    };
    let written = {
        let (trust, issued_to, client) = (trust.clone(), issued_to.clone(), client.clone());
        let (jti, expires_at) = (verified.jti.clone(), verified.expires_at);
        db::write(&state.pool, move |conn| {
            write_transaction(conn, |conn| {
                mint(conn, &trust, &issued_to, &client, &jti, expires_at, now)
            })
        })
        .await
    };
    match written {
        Ok(issued) => Ok(Exchanged { issued, issued_to }),
        Err(AppError::CiTokenRefused(reason)) => {
            Err(tell(state, &client, &[trust], subject, Refused(reason)).await)
        }
        Err(e) => Err(e),
    }
}

/// The token itself, once the JWT is verified and matched: its `jti` spent, its owner still an
/// owner of the project, written and logged.
fn mint(
    conn: &mut DbConnection,
    trust: &TrustRow,
    to: &IssuedTo,
    client: &Client,
    jti: &str,
    jwt_expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Issued, AppError> {
    if !trusted_ci::use_once(conn, trust.issuer.as_str(), jti, jwt_expires_at, now)? {
        return Err(AppError::CiTokenRefused(
            "This token was already exchanged (jti): each works once.".into(),
        ));
    }
    if projects::role_of(conn, &trust.project_id, &trust.created_by)? != Some(Role::Owner) {
        return Err(AppError::CiTokenRefused(
            "The owner who set up this trust is no longer an owner of the project.".into(),
        ));
    }
    let projects = ProjectSelection::from_parts(true, vec![trust.project_id.clone()]);
    let new = NewToken {
        name: name_for(&to.subject),
        scopes: trust.scopes.clone(),
        // Not used: `ci_lifetime` decides.
        expiry: Expiry::OneMonth,
        projects: projects.clone(),
        allowed_ips: AllowedIps::default(),
        ci_lifetime: Some(trust.lifetime),
    };
    let (token, plain) = super::tokens::create_logged(conn, &trust.created_by, client, &new, now)?;
    trusted_ci::record_issued(conn, &token.id, to)?;
    Ok(Issued {
        token,
        plain,
        projects,
    })
}

/// "CI: <subject> #<6 random>": the list tells the runs apart, and two jobs of one pipeline
/// at once never collide on the name rule.
fn name_for(subject: &str) -> TokenName {
    let tag: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let shown: String = subject
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(80)
        .collect();
    TokenName::parse(&format!("CI: {shown} #{tag}"))
        .or_else(|_| TokenName::parse(&format!("CI token #{tag}")))
        .expect("a name of ASCII letters is a name")
}

/// The refusal, told to the owners of the projects whose trust it concerns (a failure to log
/// does not change the answer, which stays the refusal).
async fn tell(
    state: &AppState,
    client: &Client,
    trusts: &[TrustRow],
    subject: Option<&str>,
    reason: Refused,
) -> AppError {
    let now = state.clock.now();
    let client = client.clone();
    let events: Vec<(ProjectId, Value)> = trusts
        .iter()
        .map(|t| {
            let details = json!({
                "projectId": t.project_id,
                "issuer": t.issuer,
                "subject": subject,
                "reason": reason.0,
            });
            (t.project_id.clone(), details)
        })
        .collect();
    let logged = db::write_query(&state.pool, move |conn| {
        write_transaction(conn, |conn| {
            let mut told = std::collections::HashSet::new();
            for (project_id, details) in events {
                for owner in trusted_ci::owners(conn, &project_id)? {
                    if told.insert((owner.clone(), project_id.clone())) {
                        let kind = SecurityKind::CiExchangeRefused;
                        let event = NewSecurityEvent::new(&owner, kind, &client, details.clone());
                        security_log::record(conn, &event, now)?;
                    }
                }
            }
            Ok(())
        })
    })
    .await;
    if let Err(e) = logged {
        tracing::warn!(error = %e, "a refused CI exchange could not be logged");
    }
    refused(reason)
}

fn refused(reason: Refused) -> AppError {
    AppError::CiTokenRefused(reason.0)
}
