//! The permission rule, in one place: what a caller may do on a project is the intersection
//! of the credential's scopes, the projects it may reach, and the owner's role on that project
//! *now*. A token never remembers a role, so a member who is removed or downgraded loses that
//! access with every token they hold, on the next request. A token restricted to chosen
//! projects (SPEC §8.5) finds any other project exactly as a non-member does: 404. A token
//! that breaks the project's token policy is blocked there (403 `token_policy`), not revoked;
//! so is the token of a member without a second factor on a project that requires one
//! (403 `second_factor_required`, SPEC §3.1), from the owner row the token lookup brought.

use actix_web::{HttpMessage, HttpRequest};

use crate::auth::{Caller, Credential};
use crate::db::models::projects::{self, Standing};
use crate::db::DbConnection;
use crate::domain::{ProjectId, Role, Scope, TokenId, UserId};
use crate::error::AppError;

/// The route a request is for, as the route table (`routes::methods`) found it before
/// anything else ran: its template — what the metrics and a token's activity name a request
/// by, never its raw path, which may hold anything (a token included) — and the scope a token
/// needs there (SPEC §6), which `auth::caller::authenticate` checks before routing, as it
/// checks the credential itself. Scope first is this module's rule (`decide`): a token without
/// the scope learns nothing of the route, not even whether its body or its project exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub template: &'static str,
    pub scope: Option<Scope>,
}

impl Route {
    /// The route `routes::methods::answer` put on the request; `None` for a path no route has.
    pub fn of(req: &HttpRequest) -> Option<Route> {
        req.extensions().get::<Route>().copied()
    }
}

/// What an endpoint needs on a project: a scope (none for endpoints any credential may use)
/// and a minimum role.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    pub scope: Option<Scope>,
    pub role: Role,
}

impl Need {
    pub const fn new(scope: Scope, role: Role) -> Need {
        Need {
            scope: Some(scope),
            role,
        }
    }

    /// For endpoints without a scope of their own (session-only ones).
    pub const fn role(role: Role) -> Need {
        Need { scope: None, role }
    }
}

/// The decision itself, without I/O: `None` standing means not a member (or no such project).
/// Scope first (a token without the scope learns nothing about the project), then reach and
/// membership (a project you are not in, or your token did not choose, does not exist for
/// you), then the project's token policy (a token it blocks learns the rule), then role.
pub fn decide(caller: &Caller, standing: Option<&Standing>, need: Need) -> Result<Role, AppError> {
    if let Some(scope) = need.scope {
        caller.require(scope)?;
    }
    let standing = standing.ok_or(AppError::Hidden)?;
    if caller.reach().is_some() && !standing.chosen {
        return Err(AppError::Hidden);
    }
    if let Credential::Token(t) = &caller.credential {
        standing
            .policy
            .check(t.created_at, t.expires_at, t.narrowing.restricted)
            .map_err(AppError::TokenPolicy)?;
        if standing.policy.require_second_factor && !caller.user.second_factor {
            return Err(AppError::SecondFactorRequired);
        }
    }
    if standing.role < need.role {
        return Err(AppError::Forbidden);
    }
    Ok(standing.role)
}

impl Caller {
    /// `Some(token)` when the caller reaches only the projects that token chose; `None` when
    /// it reaches every project its user is a member of. Lists of projects use it too.
    pub fn reach(&self) -> Option<&TokenId> {
        match &self.credential {
            Credential::Token(t) if t.narrowing.restricted => Some(&t.id),
            _ => None,
        }
    }

    /// Checks `need` on `project_id` against the caller's role there now; returns that role.
    pub fn require_on(
        &self,
        conn: &mut DbConnection,
        project_id: &ProjectId,
        need: Need,
    ) -> Result<Role, AppError> {
        if let Some(scope) = need.scope {
            self.require(scope)?;
        }
        // One query: a restricted token's choice and the project's policy come with the role.
        let standing = projects::standing(conn, project_id, &self.user.id, self.reach())?;
        decide(self, standing.as_ref(), need)
    }

    /// Runs `work` with the connection, the project's id and the caller's account once the
    /// caller meets `need` on `project_id` (`require_on`): what a read of a project's data
    /// (`routes::access::on_project`) and a change to it (`ops`) both run, in one connection.
    /// What the request asks is judged inside `work`, after the refusals.
    pub fn with_project<T, E>(
        &self,
        conn: &mut DbConnection,
        project_id: &ProjectId,
        need: Need,
        work: impl FnOnce(&mut DbConnection, &ProjectId, &UserId) -> Result<T, E>,
    ) -> Result<T, AppError>
    where
        AppError: From<E>,
    {
        self.require_on(conn, project_id, need)?;
        Ok(work(conn, project_id, &self.user.id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LifetimeDays, PolicyBreach, TokenPolicy};

    fn token(scopes: &[Scope]) -> Caller {
        Caller::test_token(scopes)
    }

    fn standing(role: Option<Role>, chosen: bool) -> Option<Standing> {
        role.map(|role| Standing {
            role,
            chosen,
            policy: TokenPolicy::default(),
        })
    }

    /// Every role (and no membership) × every minimum role × a token with and without the
    /// scope, restricted or not, chosen or not × a session.
    #[test]
    fn rights_are_scopes_intersected_with_the_current_role() {
        let memberships = [
            None,
            Some(Role::Viewer),
            Some(Role::Editor),
            Some(Role::Owner),
        ];
        for scope in Scope::ALL {
            for min in Role::ALL {
                let need = Need::new(scope, min);
                for membership in memberships {
                    let expected = match membership {
                        None => Err("not_found"),
                        Some(r) if r < min => Err("forbidden"),
                        Some(r) => Ok(r),
                    };
                    let code = |c: &Caller, chosen: bool| {
                        decide(c, standing(membership, chosen).as_ref(), need)
                            .map_err(|e| e.code().as_str())
                    };
                    assert_eq!(
                        code(&token(&[scope]), true),
                        expected,
                        "{scope} {min:?} {membership:?}"
                    );
                    assert_eq!(code(&Caller::test_session(), true), expected);
                    // An unrestricted token reaches every project: `chosen` does not matter.
                    assert_eq!(code(&token(&[scope]), false), expected);
                    // A restricted token: as chosen, the same; not chosen, a non-member.
                    let restricted = Caller::test_restricted_token(&[scope]);
                    assert_eq!(code(&restricted, true), expected);
                    assert_eq!(code(&restricted, false), Err("not_found"));
                    let others: Vec<_> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
                    assert_eq!(
                        code(&token(&others), true),
                        Err("insufficient_scope"),
                        "the scope is checked first"
                    );
                }
            }
        }
    }

    #[test]
    fn a_policy_blocks_tokens_not_sessions_and_not_strangers() {
        let need = Need::new(Scope::Publish, Role::Viewer);
        let strict = Standing {
            role: Role::Owner,
            chosen: true,
            policy: TokenPolicy {
                max_lifetime_days: Some(LifetimeDays::new(30).unwrap()),
                require_restricted: true,
                require_second_factor: false,
            },
        };
        // `test_token` never expires: too long for 30 days.
        let t = token(&[Scope::Publish]);
        assert!(matches!(
            decide(&t, Some(&strict), need),
            Err(AppError::TokenPolicy(PolicyBreach::TooLong(30)))
        ));
        assert_eq!(
            decide(&Caller::test_session(), Some(&strict), need).ok(),
            Some(Role::Owner)
        );
        // A non-member learns nothing of the policy.
        assert_eq!(
            decide(&t, None, need).map_err(|e| e.code().as_str()),
            Err("not_found")
        );
        let no_limit = Standing {
            policy: TokenPolicy {
                max_lifetime_days: None,
                require_restricted: true,
                require_second_factor: false,
            },
            ..strict
        };
        assert!(matches!(
            decide(&t, Some(&no_limit), need),
            Err(AppError::TokenPolicy(PolicyBreach::Unrestricted))
        ));
        let restricted = Caller::test_restricted_token(&[Scope::Publish]);
        assert_eq!(
            decide(&restricted, Some(&no_limit), need).ok(),
            Some(Role::Owner)
        );
    }

    /// A project that requires a second factor refuses a token whose owner has none, and lets
    /// in the same token once the owner has one; a session is not a token it judges.
    #[test]
    fn a_second_factor_policy_judges_the_token_owner() {
        let need = Need::new(Scope::Publish, Role::Viewer);
        let strict = Standing {
            role: Role::Editor,
            chosen: true,
            policy: TokenPolicy {
                require_second_factor: true,
                ..TokenPolicy::default()
            },
        };
        let mut t = token(&[Scope::Publish]);
        assert_eq!(
            decide(&t, Some(&strict), need).map_err(|e| e.code()),
            Err(crate::error::ErrorCode::SecondFactorRequired)
        );
        std::sync::Arc::make_mut(&mut t.user).second_factor = true;
        assert_eq!(decide(&t, Some(&strict), need).ok(), Some(Role::Editor));
        assert_eq!(
            decide(&Caller::test_session(), Some(&strict), need).ok(),
            Some(Role::Editor)
        );
        // Not a member: as ever, nothing to learn.
        assert_eq!(
            decide(&token(&[Scope::Publish]), None, need).map_err(|e| e.code()),
            Err(crate::error::ErrorCode::NotFound)
        );
    }
}
