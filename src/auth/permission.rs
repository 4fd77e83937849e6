//! The permission rule, in one place: what a caller may do on a project is the intersection
//! of the credential's scopes and the owner's role on that project *now*. A token never
//! remembers a role, so a member who is removed or downgraded loses that access with every
//! token they hold, on the next request.

use std::fmt;

use crate::auth::{Caller, Scope};
use crate::db::models::projects;
use crate::db::DbConnection;
use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        project_id: &str,
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
    use crate::auth::caller::{Credential, TokenInfo};
    use crate::auth::Scopes;
    use crate::db::models::users::User;

    fn caller(credential: Credential) -> Caller {
        let user = User {
            id: "u".into(),
            email: "a@example.com".into(),
            password_hash: String::new(),
            created_at: Default::default(),
        };
        Caller { user, credential }
    }

    fn token(scopes: &[Scope]) -> Caller {
        caller(Credential::Token(TokenInfo {
            id: "t".into(),
            name: "n".into(),
            prefix: "mm_pat_AAAA".into(),
            scopes: Scopes::new(scopes.to_vec()),
            expires_at: None,
        }))
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
                    let session = decide(&caller(Credential::Session), membership, need)
                        .map_err(|e| e.code());
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

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Owner > Role::Editor && Role::Editor > Role::Viewer);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
