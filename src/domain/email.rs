//! An account's email: one plain addr-spec `local@domain` (SPEC §3), trimmed and lower-cased
//! (emails are unique case-insensitively). Mail goes to it, so it must be one address a mail
//! server and a mail client both read the same way: a display name, angle brackets, comments,
//! encoded words or a list would let a sign-up choose where, and under whose name, the mail
//! about an account goes.

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
        f.write_str(
            "Enter one email address like name@example.com, without a name, brackets or spaces.",
        )
    }
}

/// RFC 5321's limits: a path holds at most 254 octets, a local part 64, a domain label 63.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

impl Email {
    /// The normalized form of what was typed, if it is a plain address: a dot-atom local part
    /// (RFC 5322's `atext` in dot-separated runs, no encoded word `=?…`), `@`, and a hostname
    /// of at least two labels (letters, digits, inner hyphens) whose last label starts with a
    /// letter. ASCII only: every part of it is then read the same by every mail server and
    /// client, and a look-alike letter cannot pass for another account's.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let email = Email::normalize(raw);
        let (local, domain) = email.split_once('@').ok_or(EmailError)?;
        if email.len() <= MAX_LEN && is_local_part(local) && is_hostname(domain) {
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

    /// The part before the `@`, for a mailer that builds the address from its parts.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

/// A dot-atom: runs of `atext` joined by single dots. `=?` would open an RFC 2047 encoded
/// word, which a mail client may show decoded, as a name, and not as the address.
fn is_local_part(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    local.len() <= MAX_LOCAL_LEN
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext))
        && !local.contains("=?")
}

/// Dot-separated labels of ASCII letters, digits and inner hyphens; at least two, the last
/// starting with a letter (a top-level domain, not the end of an IP address).
fn is_hostname(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()))
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
    fn plain_addresses_are_accepted_and_normalized() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for good in [
            "a@b.co",
            "ada.lovelace@example.com",
            "ada+tokens@mail.example.org",
            "o'brien@example.ie",
            "first_last-2@sub-domain.example.com",
            "x!#$%&*/=^`{|}~y@example.com",
            "user=x@example.com",
            "ops@xn--80ak6aa92e.com",
            "a@123.example",
        ] {
            let email = Email::parse(good).unwrap_or_else(|_| panic!("{good} is accepted"));
            assert_eq!(
                format!("{}@{}", email.local_part(), email.domain()),
                email.as_str()
            );
        }
        // At the limits: a 64-character local part, a 63-character label.
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(63))).is_ok());
    }

    #[test]
    fn anything_but_one_plain_address_is_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "ada@com.",
            "ada@exa..mple.com",
            "ada@-example.com",
            "ada@example-.com",
            "ada@exa_mple.com",
            "ada@1.2.3.4",
            "ada@[127.0.0.1]",
            "ada@example.123",
            // Display names, brackets, comments, encoded words.
            "<alice@example.com>",
            "Alice <alice@example.com>",
            "\"Alice\" <alice@example.com>",
            "alice@example.com (Alice)",
            "alice(comment)@example.com",
            "=?utf-8?q?alice?=@example.com",
            "=?utf-8?b?YWxpY2U=?= <alice@example.com>",
            "x=?y@example.com",
            // Lists and more than one `@`.
            "a@evil.example,victim@example.com",
            "a@evil.example;victim@example.com",
            "a@evil.example victim@example.com",
            "a@b@example.com",
            "group: a@example.com;",
            // Quoting, dots out of place, whitespace, control characters.
            "\"a b\"@example.com",
            "\"a\"@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "a b@x.io",
            "ada@exam ple.com",
            "ada\t@example.com",
            "ada\r\n@example.com",
            "ada@example.com\r\nBcc: victim@example.com",
            "ada\0@example.com",
            "a\\b@example.com",
            // Not ASCII: a look-alike `а` (Cyrillic) is not an `a`.
            "аda@example.com",
            "ada@exаmple.com",
            "ada@bücher.example",
            long_local.as_str(),
            long_label.as_str(),
            long.as_str(),
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
    }
}
