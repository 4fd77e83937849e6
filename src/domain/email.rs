//! An account's email: trimmed and lower-cased (emails are unique case-insensitively), and
//! plausible enough to be someone's address.

use std::fmt;

#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[serde(transparent)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Email(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmailError;

impl std::error::Error for EmailError {}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enter an email address like name@example.com.")
    }
}

impl Email {
    /// The normalized form of what was typed, if it looks like an address: something, `@`, a
    /// domain with a dot inside it, no spaces or control characters, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let email = Email::normalize(raw);
        let Some((local, domain)) = email.split_once('@') else {
            return Err(EmailError);
        };
        let plausible = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if plausible {
            Ok(Email(email))
        } else {
            Err(EmailError)
        }
    }

    /// The spelling an email is stored and compared in, without judging it: a login form
    /// looks up what was typed and answers the same for anything unknown.
    pub fn normalize(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::text_column!(Email, |v| v.0.as_str(), |s| Email(s));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_plausible() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "ada@.com",
            "ada@com.",
            "a b@x.io",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad}");
        }
    }
}
