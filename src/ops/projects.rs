//! A project's life and its people (SPEC §6, §8.5): creating a project, adding, changing and
//! removing a member, setting the token policy — for the JSON API and the forms alike. Every
//! change but creating is the project's owners' alone, and asked on a dashboard session.

use std::sync::Arc;

use crate::auth::{reauth, Caller, Credential, Need};
use crate::db::models::projects::{self, Member, Project};
use crate::db::models::security_log::{self, Actor};
use crate::db::models::users::User;
use crate::db::{self, DbConnection};
use crate::domain::{
    LifetimeDays, LifetimeDaysError, ProjectId, ProjectName, Role, TokenPolicy, UserId,
};
use crate::error::AppError;
use crate::state::AppState;

use super::Requester;

/// Creates a project owned by the requester.
pub async fn create(
    state: &AppState,
    by: &Requester,
    name: ProjectName,
) -> Result<Project, AppError> {
    let now = state.clock.now();
    let user_id = by.user_id.clone();
    Ok(db::write(&state.pool, move |conn| {
        projects::create(conn, &user_id, name, now)
    })
    .await?)
}

/// A membership to set: whose (the email of an existing account) and which role.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberChange {
    pub email: String,
    pub role: Role,
}

impl MemberChange {
    /// The two fields as either door received them (absent: `None`), with one rule and one
    /// wording for what is wrong.
    pub fn parse(email: Option<&str>, role: Option<&str>) -> Result<MemberChange, AppError> {
        let required = |field| AppError::validation(field, "This field is required.");
        let email = email.ok_or_else(|| required("email"))?;
        let role = Role::parse(role.ok_or_else(|| required("role"))?)
            .ok_or_else(|| AppError::validation("role", Role::EXPECTED))?;
        Ok(MemberChange {
            email: email.to_owned(),
            role,
        })
    }
}

/// The requester as an owner of `project`, or the refusal anyone else gets (404 for a project
/// they are not in, 403 below owner): always before the request's fields are judged.
fn owner(conn: &mut DbConnection, by: &Requester, project: &ProjectId) -> Result<User, AppError> {
    let user = User::find(conn, &by.user_id)?.ok_or(AppError::Unauthenticated)?;
    let caller = Caller {
        user: Arc::new(user),
        credential: Credential::Session,
    };
    caller.require_on(conn, project, Need::role(Role::Owner))?;
    Ok(Arc::unwrap_or_clone(caller.user))
}

/// The role the account with `email` has on `project` now (`None`: not a member), asked by
/// one of its owners only: what a form needs to know whether to ask for the password first
/// (`reauth::membership_needs_it`). Anyone else is refused as `set_member` would refuse them.
pub async fn role_before(
    state: &AppState,
    by: &Requester,
    project: ProjectId,
    email: String,
) -> Result<Option<Role>, AppError> {
    let by = by.clone();
    db::run(&state.pool, move |conn| {
        owner(conn, &by, &project)?;
        Ok::<_, AppError>(projects::role_by_email(conn, &project, &email)?)
    })
    .await
}

/// Adds the account to `project` or changes its role there, logged as `member_added` or
/// `member_role_changed` in the same transaction. At most 60 an hour per requester (counted
/// first); owners only; then `change` is judged (it comes unparsed, so a non-owner learns
/// nothing about their fields); making an owner or lowering one needs a recent password,
/// judged against the role read at the write.
pub async fn set_member(
    state: &AppState,
    by: &Requester,
    project: ProjectId,
    change: Result<MemberChange, AppError>,
) -> Result<Member, AppError> {
    let now = state.clock.now();
    state
        .throttles
        .members_attempt(&state.pool, &by.user_id, now)
        .await?;
    let by = by.clone();
    db::write(&state.pool, move |conn| {
        let owner = owner(conn, &by, &project)?;
        let MemberChange { email, role } = change?;
        let before = projects::role_by_email(conn, &project, &email)?;
        reauth::check_membership(before, Some(role), by.password_recent)?;
        let actor = Actor {
            user: &owner,
            client: &by.client,
            now,
        };
        Ok(security_log::set_member(
            conn, &project, &email, role, &actor,
        )?)
    })
    .await
}

/// Removes `member` from `project`, logged as `member_removed`. Owners only; removing an owner
/// needs a recent password; the last owner stays (422 on `userId`).
pub async fn remove_member(
    state: &AppState,
    by: &Requester,
    project: ProjectId,
    member: UserId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let by = by.clone();
    db::write(&state.pool, move |conn| {
        let owner = owner(conn, &by, &project)?;
        let before = projects::role_of(conn, &project, &member)?;
        reauth::check_membership(before, None, by.password_recent)?;
        let actor = Actor {
            user: &owner,
            client: &by.client,
            now,
        };
        Ok(security_log::remove_member(
            conn, &project, &member, &actor,
        )?)
    })
    .await
}

/// Sets what `project` asks of the tokens used on it (SPEC §8.5). Owners only, then the
/// policy's fields (422 on `maxLifetimeDays`), then a recent password, always (a policy can
/// block every token on the project, or let them back in). Answers the policy now.
pub async fn set_token_policy(
    state: &AppState,
    by: &Requester,
    project: ProjectId,
    policy: Result<TokenPolicy, LifetimeDaysError>,
) -> Result<TokenPolicy, AppError> {
    let by = by.clone();
    db::write(&state.pool, move |conn| {
        owner(conn, &by, &project)?;
        let policy = policy.map_err(|e| AppError::validation("maxLifetimeDays", e.to_string()))?;
        if !by.password_recent {
            return Err(AppError::ReauthenticationRequired);
        }
        projects::set_policy(conn, &project, &policy)?;
        Ok(policy)
    })
    .await
}

/// A policy from its two fields, the lifetime as a number of days (absent: no limit).
pub fn token_policy(
    max_lifetime_days: Option<i64>,
    require_restricted: bool,
    require_second_factor: bool,
) -> Result<TokenPolicy, LifetimeDaysError> {
    Ok(TokenPolicy {
        max_lifetime_days: max_lifetime_days.map(LifetimeDays::new).transpose()?,
        require_restricted,
        require_second_factor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::security_log::Client;
    use crate::domain::Email;

    async fn account(state: &AppState, email: &str) -> Requester {
        let now = state.clock.now();
        let email = Email::parse(email).unwrap();
        let user = db::write(&state.pool, move |conn| {
            User::create(conn, email, "not a hash".into(), now)
        })
        .await
        .unwrap();
        Requester {
            user_id: user.id,
            client: Client::default(),
            password_recent: false,
        }
    }

    fn recent(by: &Requester) -> Requester {
        Requester {
            password_recent: true,
            ..by.clone()
        }
    }

    fn field(e: AppError) -> String {
        match e {
            AppError::Validation(fields) => fields.into_keys().collect::<Vec<_>>().join(","),
            e => panic!("not a validation error: {e:?}"),
        }
    }

    #[test]
    fn a_member_change_needs_an_email_and_a_role_it_knows() {
        let change = MemberChange::parse(Some("a@example.com"), Some("editor")).unwrap();
        assert_eq!(change.role, Role::Editor);
        assert_eq!(
            field(MemberChange::parse(None, Some("editor")).unwrap_err()),
            "email"
        );
        assert_eq!(
            field(MemberChange::parse(Some("a@x.io"), None).unwrap_err()),
            "role"
        );
        let bad = MemberChange::parse(Some("a@x.io"), Some("admin")).unwrap_err();
        assert!(matches!(&bad, AppError::Validation(f) if f["role"] == Role::EXPECTED));
    }

    #[test]
    fn a_policy_lives_from_1_to_366_days_or_without_limit() {
        assert_eq!(
            token_policy(None, true, false).unwrap().max_lifetime_days,
            None
        );
        let days = token_policy(Some(366), false, false)
            .unwrap()
            .max_lifetime_days;
        assert_eq!(days.map(LifetimeDays::get), Some(366));
        for bad in [0, -1, 367, i64::MAX] {
            assert_eq!(
                token_policy(Some(bad), false, false),
                Err(LifetimeDaysError),
                "{bad}"
            );
        }
    }

    #[actix_web::test]
    async fn only_an_owner_changes_members_and_only_then_are_the_fields_judged() {
        let (_dir, state) = crate::state::for_tests().await;
        let owner = account(&state, "owner@example.com").await;
        let other = account(&state, "other@example.com").await;
        let name = ProjectName::parse("Ops").unwrap();
        let project = create(&state, &owner, name).await.unwrap().id;

        // A stranger learns nothing, not even that their fields are wrong.
        let bad = MemberChange::parse(None, None);
        let refused = set_member(&state, &other, project.clone(), bad).await;
        assert!(matches!(refused, Err(AppError::Hidden)), "{refused:?}");
        let bad = MemberChange::parse(Some("nobody@example.com"), Some("editor"));
        let refused = set_member(&state, &owner, project.clone(), bad)
            .await
            .unwrap_err();
        assert_eq!(field(refused), "email");

        // Making an owner needs the password entered recently; an editor does not.
        let to = |role| MemberChange::parse(Some("other@example.com"), Some(role));
        let refused = set_member(&state, &owner, project.clone(), to("owner")).await;
        assert!(matches!(refused, Err(AppError::ReauthenticationRequired)));
        let member = set_member(&state, &owner, project.clone(), to("editor"))
            .await
            .unwrap();
        assert_eq!(
            (member.user_id.clone(), member.role),
            (other.user_id.clone(), Role::Editor)
        );
        // An editor is not an owner.
        let refused = set_member(&state, &other, project.clone(), to("viewer")).await;
        assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");

        // The last owner stays, even with a recent password.
        let lower = MemberChange::parse(Some("owner@example.com"), Some("editor"));
        let refused = set_member(&state, &recent(&owner), project.clone(), lower).await;
        assert_eq!(field(refused.unwrap_err()), "role");
        let refused = remove_member(
            &state,
            &recent(&owner),
            project.clone(),
            owner.user_id.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(field(refused), "userId");

        remove_member(&state, &owner, project.clone(), other.user_id.clone())
            .await
            .unwrap();
        let role = role_before(&state, &owner, project, "other@example.com".into()).await;
        assert_eq!(role.unwrap(), None);
    }

    #[actix_web::test]
    async fn a_policy_is_set_by_an_owner_with_a_recent_password_after_its_fields_are_judged() {
        let (_dir, state) = crate::state::for_tests().await;
        let owner = account(&state, "owner@example.com").await;
        let other = account(&state, "other@example.com").await;
        let name = ProjectName::parse("Policy").unwrap();
        let project = create(&state, &owner, name).await.unwrap().id;

        let month = || token_policy(Some(30), true, false);
        let refused = set_token_policy(&state, &recent(&other), project.clone(), month()).await;
        assert!(matches!(refused, Err(AppError::Hidden)), "{refused:?}");
        let bad = token_policy(Some(400), false, false);
        let refused = set_token_policy(&state, &owner, project.clone(), bad).await;
        assert_eq!(field(refused.unwrap_err()), "maxLifetimeDays");
        let refused = set_token_policy(&state, &owner, project.clone(), month()).await;
        assert!(matches!(refused, Err(AppError::ReauthenticationRequired)));
        let unchanged = project.clone();
        let stored = db::query(&state.pool, move |conn| projects::policy(conn, &unchanged))
            .await
            .unwrap();
        assert_eq!(stored, TokenPolicy::default());

        let set = set_token_policy(&state, &recent(&owner), project.clone(), month())
            .await
            .unwrap();
        let stored = db::query(&state.pool, move |conn| projects::policy(conn, &project))
            .await
            .unwrap();
        assert_eq!((set, stored), (month().unwrap(), month().unwrap()));
    }
}
