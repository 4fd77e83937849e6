//! The permission rule, in one place: what a caller may do on a project is the intersection
//! of the credential's scopes and the owner's role on that project *now*. A token never
//! remembers a role, so a member who is removed or downgraded loses that access with every
//! token they hold, on the next request.

use crate::auth::Caller;
use crate::db::models::projects;
use crate::db::DbConnection;
use crate::domain::{ProjectId, Role, Scope};
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

/// The decision itself, without I/O: `None` membership means not a member.
/// Scope first (a token without the scope learns nothing about the project), then
/// membership (a project you are not in does not exist for you), then role.
pub fn decide(caller: &Caller, membership: Option<Role>, need: Need) -> Result<Role, AppError> {
    if let Some(scope) = need.scope {
        caller.require(scope)?;
    }
    let role = membership.ok_or(AppError::NotFound)?;
    if role < need.role {
        return Err(AppError::Forbidden);
    }
    Ok(role)
}

impl Caller {
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
        let membership = projects::role_of(conn, project_id, &self.user.id)?;
        decide(self, membership, need)
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
                        decide(&token(&[scope]), membership, need).map_err(|e| e.code());
                    assert_eq!(with_scope, expected, "{scope} {min:?} {membership:?}");
                    let session =
                        decide(&Caller::test_session(), membership, need).map_err(|e| e.code());
                    assert_eq!(session, expected);
                    let others: Vec<_> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
                    let without = decide(&token(&others), membership, need).map_err(|e| e.code());
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
