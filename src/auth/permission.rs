//! The permission rule, in one place: what a caller may do on a project is the intersection
//! of the credential's scopes, the projects it may reach, and the owner's role on that project
//! *now*. A token never remembers a role, so a member who is removed or downgraded loses that
//! access with every token they hold, on the next request. A token restricted to chosen
//! projects (SPEC §8.5) finds any other project exactly as a non-member does: 404.

use crate::auth::{Caller, Credential};
use crate::db::models::projects;
use crate::db::DbConnection;
use crate::domain::{ProjectId, Role, Scope, TokenId};
use crate::error::AppError;

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

/// The decision itself, without I/O: `None` membership means not a member; `chosen` whether
/// the caller's token chose this project (a session and an unrestricted token reach all).
/// Scope first (a token without the scope learns nothing about the project), then
/// reach and membership (a project you are not in, or your token did not choose, does not
/// exist for you), then role.
pub fn decide(
    caller: &Caller,
    membership: Option<Role>,
    chosen: bool,
    need: Need,
) -> Result<Role, AppError> {
    if let Some(scope) = need.scope {
        caller.require(scope)?;
    }
    if caller.reach().is_some() && !chosen {
        return Err(AppError::NotFound);
    }
    let role = membership.ok_or(AppError::NotFound)?;
    if role < need.role {
        return Err(AppError::Forbidden);
    }
    Ok(role)
}

impl Caller {
    /// `Some(token)` when the caller reaches only the projects that token chose; `None` when
    /// it reaches every project its user is a member of. Lists of projects use it too.
    pub fn reach(&self) -> Option<&TokenId> {
        match &self.credential {
            Credential::Token(t) if t.restricted => Some(&t.id),
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
        // One query either way: a restricted token's choice comes with the role.
        let (membership, chosen) = match self.reach() {
            None => (projects::role_of(conn, project_id, &self.user.id)?, true),
            Some(token_id) => {
                match projects::role_and_choice(conn, project_id, &self.user.id, token_id)? {
                    Some((role, chosen)) => (Some(role), chosen),
                    None => (None, false),
                }
            }
        };
        decide(self, membership, chosen, need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn token(scopes: &[Scope]) -> Caller {
        Caller::test_token(scopes)
    }

    /// Every role (and no membership) × every minimum role × a token with and without the
    /// scope × a session.
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
                    let with_scope =
                        decide(&token(&[scope]), membership, true, need).map_err(|e| e.code());
                    assert_eq!(with_scope, expected, "{scope} {min:?} {membership:?}");
                    let session = decide(&Caller::test_session(), membership, true, need)
                        .map_err(|e| e.code());
                    assert_eq!(session, expected);
                    // An unrestricted token reaches every project: `chosen` does not matter.
                    let all = decide(&token(&[scope]), membership, false, need);
                    assert_eq!(all.map_err(|e| e.code()), expected);
                    // A restricted token: as chosen, the same; not chosen, a non-member.
                    let restricted = Caller::test_restricted_token(&[scope]);
                    let chosen = decide(&restricted, membership, true, need);
                    assert_eq!(chosen.map_err(|e| e.code()), expected);
                    let other = decide(&restricted, membership, false, need);
                    assert_eq!(other.map_err(|e| e.code()), Err("not_found"));
                    let others: Vec<_> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
                    let without =
                        decide(&token(&others), membership, true, need).map_err(|e| e.code());
                    assert_eq!(
                        without,
                        Err("insufficient_scope"),
                        "the scope is checked first"
                    );
                }
            }
        }
    }
}
