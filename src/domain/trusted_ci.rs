//! Trusted CI (SPEC §8.8): which CI identities a project's owners trust to exchange their
//! platform's OIDC token for a short-lived Mantel token — the issuer, the audience, the claims
//! that must match exactly, the scopes granted and the lifetime — each value checked where it
//! is made.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;

use super::{FieldErrors, Scope, Scopes};

/// GitHub Actions' issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's issuer (self-managed GitLab instances are generic issuers).
pub const GITLAB_ISSUER: &str = "https://gitlab.com";

/// An OIDC issuer (or a URL found in its discovery document): `https://`, or `http://` only for
/// a loopback host (127.0.0.1, ::1, localhost), so a local issuer and the tests work while a
/// network attacker can never stand in for a real one. No user, query or fragment; at most 200
/// characters. Compared with a JWT's `iss` exactly as written.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    pub const MAX_CHARS: usize = 200;
    pub const EXPECTED: &'static str = "Use an https:// URL (http:// only for 127.0.0.1, ::1 or \
        localhost) of at most 200 characters, with no user, query or fragment.";
    /// The document's pattern: the scheme rule (the loopback exception is checked by the
    /// server and said in the description).
    pub const PATTERN: &'static str = r"^https?://[^\s?#@]+$";

    pub fn parse(raw: &str) -> Option<IssuerUrl> {
        let raw = visible(raw, Self::MAX_CHARS)?;
        if raw.contains(['?', '#', '@']) {
            return None;
        }
        let (secure, rest) = if let Some(rest) = raw.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, raw.strip_prefix("http://")?)
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return None;
        }
        let loopback = matches!(
            host.to_ascii_lowercase().as_str(),
            "127.0.0.1" | "::1" | "localhost"
        );
        (secure || loopback).then(|| IssuerUrl(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the issuer's discovery document is (OpenID Connect Discovery 1.0 §4).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.0.trim_end_matches('/')
        )
    }

    pub fn kind(&self) -> IssuerKind {
        match self.0.trim_end_matches('/') {
            GITHUB_ISSUER => IssuerKind::GitHub,
            GITLAB_ISSUER => IssuerKind::GitLab,
            _ => IssuerKind::Generic,
        }
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::text_column!(IssuerUrl, |v| v.0.as_str(), |s| IssuerUrl(s));

/// `raw` trimmed, when that is 1 to `max` characters with no white space or control character
/// among them: the rule an issuer and an audience share.
fn visible(raw: &str, max: usize) -> Option<&str> {
    let raw = raw.trim();
    let ok = !raw.is_empty()
        && raw.chars().count() <= max
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(raw)
}

/// Which claims an issuer's configurations may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerKind {
    /// `repository` required; `workflow_ref`, `ref`, `environment` optional.
    GitHub,
    /// `project_path` required; `ref`, `environment` optional.
    GitLab,
    /// Any claims but the registered ones the exchange checks itself.
    Generic,
}

impl IssuerKind {
    /// The claim that names the pipeline's repository, and the others allowed beside it.
    fn claims(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            IssuerKind::GitHub => Some(("repository", &["workflow_ref", "ref", "environment"])),
            IssuerKind::GitLab => Some(("project_path", &["ref", "environment"])),
            IssuerKind::Generic => None,
        }
    }
}

/// The audience a JWT must be issued for (`aud`): 1 to 200 visible characters.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct Audience(String);

impl Audience {
    pub const MAX_CHARS: usize = 200;
    pub const EXPECTED: &'static str = "Use 1 to 200 characters, none of them a space or a \
        control character.";

    pub fn parse(raw: &str) -> Option<Audience> {
        visible(raw, Self::MAX_CHARS).map(|raw| Audience(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

super::text_column!(Audience, |v| v.0.as_str(), |s| Audience(s));

/// Claims a JWT must carry with exactly these string values. 1 to 10 rules; names of 1 to 64
/// characters of `[A-Za-z0-9_.:-]`, never a registered claim the exchange checks itself; values
/// of 1 to 256 characters.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct ClaimRules(BTreeMap<String, String>);

impl ClaimRules {
    pub const MAX_RULES: usize = 10;
    pub const MAX_NAME_CHARS: usize = 64;
    pub const MAX_VALUE_CHARS: usize = 256;
    pub const NAME_PATTERN: &'static str = "^[A-Za-z0-9_.:-]{1,64}$";
    /// Checked by the exchange itself, whatever the configuration says.
    const REGISTERED: [&'static str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

    /// The rules for an issuer of `kind`; the error says what to fix.
    pub fn parse(kind: IssuerKind, raw: &BTreeMap<String, String>) -> Result<ClaimRules, String> {
        if raw.is_empty() || raw.len() > Self::MAX_RULES {
            return Err(format!(
                "Name 1 to {} claims the CI's token must carry.",
                Self::MAX_RULES
            ));
        }
        for (name, value) in raw {
            let name_ok = !name.is_empty()
                && name.len() <= Self::MAX_NAME_CHARS
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
            if !name_ok || Self::REGISTERED.contains(&name.as_str()) {
                return Err(format!(
                    "\"{}\" cannot be a claim rule: use 1 to 64 letters, digits, `_`, `.`, `:` or \
                     `-`, and none of iss, aud, exp, nbf, iat, jti (checked anyway).",
                    name.escape_debug()
                ));
            }
            if value.is_empty()
                || value.chars().count() > Self::MAX_VALUE_CHARS
                || value.chars().any(char::is_control)
            {
                return Err(format!(
                    "The value of \"{name}\" must be 1 to {} characters, none a control character.",
                    Self::MAX_VALUE_CHARS
                ));
            }
        }
        if let Some((required, optional)) = kind.claims() {
            if !raw.contains_key(required) {
                return Err(format!("This issuer needs the \"{required}\" claim."));
            }
            if let Some(other) = raw
                .keys()
                .find(|k| *k != required && !optional.contains(&k.as_str()))
            {
                return Err(format!(
                    "This issuer's rules may name \"{required}\" and {}; not \"{other}\".",
                    optional
                        .iter()
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(ClaimRules(raw.clone()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first rule `claims` breaks: a claim missing, or not the string required.
    pub fn first_mismatch(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, value)| claims.get(*name).and_then(|v| v.as_str()) != Some(value))
            .map(|(name, _)| name.as_str())
    }
}

super::text_column!(
    ClaimRules,
    |v| serde_json::to_string(&v.0).unwrap_or_default(),
    |s| ClaimRules(serde_json::from_str(&s)?)
);

/// How long a token minted for CI lives: 1 to 60 minutes, 15 by default.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Integer)]
#[serde(transparent)]
pub struct CiLifetime(i32);

impl CiLifetime {
    pub const MIN: i32 = 1;
    pub const MAX: i32 = 60;
    pub const DEFAULT: CiLifetime = CiLifetime(15);
    pub const EXPECTED: &'static str = "Use 1 to 60 minutes.";

    pub fn from_minutes(minutes: i64) -> Option<CiLifetime> {
        (i64::from(Self::MIN)..=i64::from(Self::MAX))
            .contains(&minutes)
            .then_some(CiLifetime(minutes as i32))
    }

    pub fn minutes(self) -> i32 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::minutes(i64::from(self.0))
    }
}

impl Default for CiLifetime {
    fn default() -> Self {
        CiLifetime::DEFAULT
    }
}

impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Integer, DB> for CiLifetime
where
    DB: diesel::backend::Backend,
    i32: diesel::deserialize::FromSql<diesel::sql_types::Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        let minutes = i32::from_sql(bytes)?;
        CiLifetime::from_minutes(minutes.into()).ok_or_else(|| "a CI lifetime out of range".into())
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Integer, diesel::sqlite::Sqlite> for CiLifetime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(self.0);
        Ok(diesel::serialize::IsNull::No)
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Integer, diesel::pg::Pg> for CiLifetime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        out.write_all(&self.0.to_be_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

/// A trust configuration as sent, checked field by field (SPEC §8.8); the audience is `None`
/// when the server's public URL is meant.
#[derive(Clone, Debug)]
pub struct NewTrust {
    pub issuer: IssuerUrl,
    pub audience: Option<Audience>,
    pub claims: ClaimRules,
    pub scopes: Scopes,
    pub lifetime: CiLifetime,
}

impl NewTrust {
    /// Every broken field is named, by the JSON API's names.
    pub fn validate(
        issuer: &str,
        audience: Option<&str>,
        claims: &BTreeMap<String, String>,
        scopes: &[String],
        lifetime_minutes: Option<i64>,
    ) -> Result<NewTrust, FieldErrors> {
        let mut fields = FieldErrors::new();
        let issuer = IssuerUrl::parse(issuer);
        if issuer.is_none() {
            fields.insert("issuer", IssuerUrl::EXPECTED.to_owned());
        }
        let audience = match audience.map(str::trim) {
            None | Some("") => Ok(None),
            Some(a) => Audience::parse(a).map(Some).ok_or(()),
        };
        if audience.is_err() {
            fields.insert("audience", Audience::EXPECTED.to_owned());
        }
        let kind = issuer.as_ref().map_or(IssuerKind::Generic, IssuerUrl::kind);
        let claims = ClaimRules::parse(kind, claims);
        if let Err(e) = &claims {
            fields.insert("claims", e.clone());
        }
        let mut parsed = Vec::new();
        for s in scopes {
            match Scope::parse(s) {
                // Invoices are an account's, not a project's: a pipeline never reads them.
                Some(Scope::BillingRead) => {
                    fields.insert(
                        "scopes",
                        "CI tokens reach one project: billing.read is an \
                        account's scope, not a project's."
                            .to_owned(),
                    );
                }
                Some(scope) => parsed.push(scope),
                None => {
                    fields.insert("scopes", format!("Unknown scope \"{}\".", s.escape_debug()));
                }
            }
        }
        if scopes.is_empty() {
            fields.insert("scopes", "Pick at least one scope.".to_owned());
        }
        let lifetime = match lifetime_minutes {
            None => Some(CiLifetime::DEFAULT),
            Some(m) => CiLifetime::from_minutes(m),
        };
        if lifetime.is_none() {
            fields.insert("lifetimeMinutes", CiLifetime::EXPECTED.to_owned());
        }
        match (issuer, audience, claims, lifetime) {
            (Some(issuer), Ok(audience), Ok(claims), Some(lifetime)) if fields.is_empty() => {
                Ok(NewTrust {
                    issuer,
                    audience,
                    claims,
                    scopes: Scopes::new(parsed),
                    lifetime,
                })
            }
            _ => Err(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn issuers_are_https_or_loopback_http() {
        for ok in [
            GITHUB_ISSUER,
            "https://gitlab.example.com/",
            "http://127.0.0.1:8123",
            "http://[::1]:9000/issuer",
            "http://localhost:1",
        ] {
            assert!(IssuerUrl::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "http://ci.example.com",
            "http://127.0.0.2",
            "http://localhost.example.com",
            "https://",
            "https://u@host",
            "https://host/?q",
            "ftp://host",
            "https://a b",
        ] {
            assert!(IssuerUrl::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            IssuerUrl::parse("http://127.0.0.1:80/")
                .unwrap()
                .discovery_url(),
            "http://127.0.0.1:80/.well-known/openid-configuration"
        );
        assert_eq!(
            IssuerUrl::parse(GITHUB_ISSUER).unwrap().kind(),
            IssuerKind::GitHub
        );
    }

    #[test]
    fn claim_rules_follow_the_issuer() {
        let github = IssuerKind::GitHub;
        assert!(ClaimRules::parse(github, &rules(&[("repository", "o/r")])).is_ok());
        assert!(ClaimRules::parse(
            github,
            &rules(&[
                ("repository", "o/r"),
                ("ref", "refs/heads/main"),
                ("environment", "prod")
            ])
        )
        .is_ok());
        assert!(ClaimRules::parse(github, &rules(&[("ref", "refs/heads/main")])).is_err());
        assert!(
            ClaimRules::parse(github, &rules(&[("repository", "o/r"), ("repo", "x")])).is_err()
        );
        let gitlab = IssuerKind::GitLab;
        assert!(ClaimRules::parse(gitlab, &rules(&[("project_path", "g/p")])).is_ok());
        assert!(ClaimRules::parse(gitlab, &rules(&[("repository", "g/p")])).is_err());
        let generic = IssuerKind::Generic;
        assert!(ClaimRules::parse(generic, &rules(&[("sub", "x")])).is_ok());
        assert!(ClaimRules::parse(generic, &rules(&[("aud", "x")])).is_err());
        assert!(ClaimRules::parse(generic, &rules(&[("a b", "x")])).is_err());
        assert!(ClaimRules::parse(generic, &rules(&[("sub", "")])).is_err());
        assert!(ClaimRules::parse(generic, &rules(&[])).is_err());
    }

    #[test]
    fn a_rule_matches_only_the_same_string() {
        let r = ClaimRules::parse(IssuerKind::Generic, &rules(&[("repository", "o/r")])).unwrap();
        let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert_eq!(
            r.first_mismatch(&claims(serde_json::json!({"repository": "o/r"}))),
            None
        );
        for other in [
            serde_json::json!({"repository": "o/R"}),
            serde_json::json!({"repository": ["o/r"]}),
            serde_json::json!({}),
        ] {
            assert_eq!(r.first_mismatch(&claims(other)), Some("repository"));
        }
    }

    #[test]
    fn a_trust_names_each_broken_field() {
        let f = NewTrust::validate(
            "http://ci.example.com",
            Some(" "),
            &rules(&[]),
            &["billing.read".into()],
            Some(61),
        )
        .unwrap_err();
        assert_eq!(
            f.keys().copied().collect::<Vec<_>>(),
            ["claims", "issuer", "lifetimeMinutes", "scopes"]
        );
        let ok = NewTrust::validate(
            GITHUB_ISSUER,
            None,
            &rules(&[("repository", "o/r")]),
            &["publish".into()],
            None,
        )
        .unwrap();
        assert_eq!((ok.lifetime.minutes(), ok.audience), (15, None));
    }
}
