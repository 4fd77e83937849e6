//! How a token is narrowed beyond its scopes (SPEC §8.5): to chosen projects, and to allowed
//! addresses. One column on the token's row, so the bearer hot path reads both with the token
//! (and `api_tokens` stays within diesel's 16 columns without its slower-building 32-column
//! feature). Which projects were chosen lives in `api_token_projects`.

use super::AllowedIps;

#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Default,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Narrowing {
    /// Reaches only the projects chosen for it, not all its owner's.
    pub restricted: bool,
    /// Where it may be used from; empty: anywhere.
    pub allowed_ips: AllowedIps,
}

impl Narrowing {
    /// Stored as `projects=chosen;ips=203.0.113.0/24,2001:db8::/32`, each part only when it
    /// narrows: a token narrowed in no way stores the empty string.
    fn to_db(&self) -> String {
        let mut parts = Vec::new();
        if self.restricted {
            parts.push("projects=chosen".to_owned());
        }
        if !self.allowed_ips.is_empty() {
            parts.push(format!("ips={}", self.allowed_ips.to_db()));
        }
        parts.join(";")
    }

    fn from_db(s: &str) -> Narrowing {
        let mut narrowing = Narrowing::default();
        for part in s.split(';') {
            match part.split_once('=') {
                Some(("projects", "chosen")) => narrowing.restricted = true,
                Some(("ips", list)) => narrowing.allowed_ips = AllowedIps::from_db(list),
                // Nothing else is written; an unknown part cannot widen a token.
                _ => {}
            }
        }
        narrowing
    }
}

super::text_column!(Narrowing, |v| v.to_db(), |s| Narrowing::from_db(&s));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let none = Narrowing::default();
        assert_eq!(none.to_db(), "");
        assert_eq!(Narrowing::from_db(""), none);
        let both = Narrowing {
            restricted: true,
            allowed_ips: AllowedIps::parse(&["2001:db8::/32", "203.0.113.9"]).unwrap(),
        };
        assert_eq!(
            both.to_db(),
            "projects=chosen;ips=203.0.113.9/32,2001:db8::/32"
        );
        assert_eq!(Narrowing::from_db(&both.to_db()), both);
        let ips_only = Narrowing {
            restricted: false,
            ..both.clone()
        };
        assert_eq!(Narrowing::from_db(&ips_only.to_db()), ips_only);
    }
}
