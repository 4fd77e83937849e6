//! A request for a token, from the form or the JSON API, checked against every rule of SPEC §4
//! and §8.1 in one place, so both front doors refuse the same input with the same fields.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::{AllowedIps, CiLifetime, Expiry, Grace, ProjectSelection, Scope, Scopes, TokenName};

/// Messages by field name (`name`, `scopes`, …), for the person to fix what they sent.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// A token request that passed every rule of SPEC §4.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: TokenName,
    pub scopes: Scopes,
    pub expiry: Expiry,
    pub projects: ProjectSelection,
    pub allowed_ips: AllowedIps,
    /// A token minted for CI (SPEC §8.8) lives minutes, not `expiry`'s months; `None` for
    /// every token a person asks for.
    pub ci_lifetime: Option<CiLifetime>,
}

impl NewToken {
    /// When it stops working, if it is created at `now` (`None`: never).
    pub fn expires_at(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        match self.ci_lifetime {
            Some(lifetime) => Some(now + lifetime.duration()),
            None => self.expiry.expires_at(now),
        }
    }

    /// The expiry kept for a rotation to repeat: a CI token's minutes are not a choice a
    /// rotation repeats.
    pub fn kept_expiry(&self) -> Option<Expiry> {
        self.ci_lifetime.is_none().then_some(self.expiry)
    }

    /// Checks a request from either the form or the JSON API; every broken field is named.
    /// `projects`: `None` for all the owner's projects, or the ids chosen (whether the owner
    /// is a member of each is checked by `create`).
    pub fn validate(
        name: &str,
        scopes: &[String],
        expiry: Option<&str>,
        projects: Option<&[String]>,
        allowed_ips: &[String],
    ) -> Result<NewToken, FieldErrors> {
        let mut fields = FieldErrors::new();
        let name = TokenName::parse(name);
        if let Err(e) = &name {
            fields.insert("name", e.to_string());
        }
        let mut parsed = Vec::new();
        for s in scopes {
            match Scope::parse(s) {
                Some(scope) => parsed.push(scope),
                None => {
                    fields.insert("scopes", format!("Unknown scope \"{}\".", s.escape_debug()));
                }
            }
        }
        if scopes.is_empty() {
            fields.insert("scopes", "Pick at least one scope.".to_owned());
        }
        let expiry = match expiry.map(str::trim) {
            None | Some("") => Some(Expiry::default()),
            Some(s) => Expiry::parse(s),
        };
        if expiry.is_none() {
            fields.insert("expiry", Expiry::EXPECTED.to_owned());
        }
        let projects = match projects {
            None => Ok(ProjectSelection::All),
            Some(ids) => ProjectSelection::only(ids),
        };
        if let Err(e) = &projects {
            fields.insert("projects", e.to_string());
        }
        let allowed_ips = AllowedIps::parse(allowed_ips);
        if let Err(e) = &allowed_ips {
            fields.insert("allowedIps", e.to_string());
        }
        match (name, expiry, projects, allowed_ips) {
            (Ok(name), Some(expiry), Ok(projects), Ok(allowed_ips)) if fields.is_empty() => {
                Ok(NewToken {
                    name,
                    scopes: Scopes::new(parsed),
                    expiry,
                    projects,
                    allowed_ips,
                    ci_lifetime: None,
                })
            }
            _ => Err(fields),
        }
    }
}

/// A rotation's choices (SPEC §8.1): the new token's expiry (`None`: the old token's
/// original choice) and how long the old one keeps working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub expiry: Option<Expiry>,
    pub grace: Grace,
}

impl Rotation {
    /// Checks what was sent; absent means the default. Field names are the JSON API's.
    pub fn validate(
        expiry: Option<&str>,
        grace_seconds: Option<i64>,
    ) -> Result<Rotation, FieldErrors> {
        let mut fields = FieldErrors::new();
        let expiry = match expiry.map(str::trim) {
            None | Some("") => None,
            Some(s) => {
                let parsed = Expiry::parse(s);
                if parsed.is_none() {
                    fields.insert("expiry", Expiry::EXPECTED.to_owned());
                }
                parsed
            }
        };
        let grace = Grace::from_seconds(grace_seconds.unwrap_or(0));
        if grace.is_none() {
            fields.insert("graceSeconds", Grace::EXPECTED.to_owned());
        }
        match grace {
            Some(grace) if fields.is_empty() => Ok(Rotation { expiry, grace }),
            _ => Err(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_each_broken_field() {
        let f = NewToken::validate("  ", &["root".into()], Some("2y"), Some(&[]), &["x".into()])
            .unwrap_err();
        assert_eq!(
            f.keys().copied().collect::<Vec<_>>(),
            ["allowedIps", "expiry", "name", "projects", "scopes"]
        );
        let ok = NewToken::validate(
            "  CI pipeline ",
            &["publish".into(), "publish".into()],
            None,
            None,
            &[],
        )
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.scopes.names(), ok.expiry),
            ("CI pipeline", vec!["publish"], Expiry::OneYear)
        );
        assert!(NewToken::validate(
            &"x".repeat(100),
            &["files".into()],
            Some("never"),
            None,
            &[]
        )
        .is_ok());
        assert!(NewToken::validate(
            &"x".repeat(101),
            &["files".into()],
            Some("never"),
            None,
            &[]
        )
        .is_err());
        assert!(NewToken::validate("ok", &[], Some("1m"), None, &[]).is_err());
    }

    #[test]
    fn a_rotation_names_each_broken_field() {
        assert_eq!(Rotation::validate(None, None), Ok(Rotation::default()));
        let ok = Rotation::validate(Some("6m"), Some(3600)).unwrap();
        assert_eq!(
            (ok.expiry, ok.grace.seconds()),
            (Some(Expiry::SixMonths), 3600)
        );
        let f = Rotation::validate(Some("2y"), Some(86_401)).unwrap_err();
        assert_eq!(
            f.keys().copied().collect::<Vec<_>>(),
            ["expiry", "graceSeconds"]
        );
        assert!(Rotation::validate(None, Some(-1)).is_err());
    }
}
