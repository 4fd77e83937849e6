//! Tokens reported found in public (SPEC §8.4): what a report says, parsed once where it
//! enters. A report never echoes a token back: its errors name the field, not the value.

use std::collections::HashSet;

use serde_json::Value;

use super::{PlainToken, TokenHash};

super::string_enum! {
    stored
    /// Who told us a token is public.
    pub enum ReportChannel {
        /// Anyone, through `POST /api/credentials/revoke` (or `mantel scan --report`).
        Public = "public",
        /// GitHub's secret scanning partner program.
        Github = "github",
        /// GitLab's secret detection partner program.
        Gitlab = "gitlab",
    }
}

impl ReportChannel {
    /// The name the owner reads.
    pub fn label(self) -> &'static str {
        match self {
            ReportChannel::Public => "a public report",
            ReportChannel::Github => "GitHub secret scanning",
            ReportChannel::Gitlab => "GitLab secret detection",
        }
    }
}

/// A URL a partner says it found a token at, kept to show its owner: `http`/`https` only
/// (it becomes a link on the owner's page), printable, at most 2048 bytes. Anything else is
/// dropped rather than refusing the report: revoking the token matters more than the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakUrl(String);

impl LeakUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(s: &str) -> Option<LeakUrl> {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        let web = lower.starts_with("https://") || lower.starts_with("http://");
        let clean = !s.chars().any(|c| c.is_control() || c.is_whitespace());
        (web && clean && s.len() <= Self::MAX_LEN).then(|| LeakUrl(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kind of place a partner found a token (GitHub's `source`: `content`, `commit`,
/// `pull_request_title`, `gist_content`, `npm` …): short lowercase words, else dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakSource(String);

impl LeakSource {
    pub fn parse(s: &str) -> Option<LeakSource> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        ok.then(|| LeakSource(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the owner is told it was found: "found in a public commit".
    pub fn place(source: Option<&str>) -> &'static str {
        let Some(s) = source else { return "in public" };
        match s {
            "content" | "commit" => "in a public commit",
            "commit_comment" => "in a comment on a public commit",
            s if s.starts_with("pull_request") => "in a public pull request",
            s if s.starts_with("issue") => "in a public issue",
            s if s.starts_with("discussion") => "in a public discussion",
            s if s.starts_with("wiki") => "in a public wiki",
            s if s.starts_with("gist") => "in a public gist",
            "npm" => "in a public npm package",
            _ => "in public",
        }
    }
}

/// One token a partner reports: the string as found (it may not be ours at all), and where.
#[derive(Debug)]
pub struct Finding {
    /// The reported string, which is hashed for the feedback and never shown or logged.
    raw: String,
    pub url: Option<LeakUrl>,
    pub source: Option<LeakSource>,
}

impl Finding {
    /// A well-formed token with a valid checksum, else `None` (then it cannot be ours).
    pub fn token(&self) -> Option<PlainToken> {
        PlainToken::parse(&self.raw).ok()
    }

    /// The SHA-256 of the reported string, in lowercase hex: how GitHub names a token in its
    /// feedback.
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.raw.as_bytes()))
    }
}

/// Why a report's body was refused, said without repeating any of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportError {
    pub field: &'static str,
    pub message: &'static str,
}

/// What partners send: `[{"token", "type", "url", "source"}]` (GitHub) or
/// `[{"type", "token", "url"}]` (GitLab). `type` is not checked: a partner sends only the type
/// registered for us, and a token is ours only if its hash is found.
pub fn partner_findings(body: &Value) -> Result<Vec<Finding>, ReportError> {
    const SHAPE: ReportError = ReportError {
        field: "body",
        message: "Expected an array of objects, each with a string `token`.",
    };
    let items = body.as_array().ok_or(SHAPE)?;
    items
        .iter()
        .map(|item| {
            let raw = item.get("token").and_then(Value::as_str).ok_or(SHAPE)?;
            let text = |key| item.get(key).and_then(Value::as_str);
            Ok(Finding {
                raw: raw.to_owned(),
                url: text("url").and_then(LeakUrl::parse),
                source: text("source").and_then(LeakSource::parse),
            })
        })
        .collect()
}

/// The body of `POST /api/credentials/revoke`: `{"credentials": [...]}` with 1 to 1000
/// strings of a token's shape (`TOKEN_PATTERN`, as the document says). Only the checksum-valid
/// ones are kept (the rest cannot be ours), once each.
pub struct ReportedCredentials(Vec<TokenHash>);

impl ReportedCredentials {
    pub const MAX: usize = 1000;

    pub fn from_json(body: &Value) -> Result<Self, ReportError> {
        const SHAPE: ReportError = ReportError {
            field: "credentials",
            message: "Expected `{\"credentials\": [\"mm_pat_…\", …]}` with 1 to 1000 strings, \
                      each `mm_pat_` and 32 letters or digits.",
        };
        let list = body
            .get("credentials")
            .and_then(Value::as_array)
            .filter(|l| (1..=Self::MAX).contains(&l.len()))
            .ok_or(SHAPE)?;
        let mut seen = HashSet::new();
        let mut hashes = Vec::new();
        for item in list {
            let s = item
                .as_str()
                .filter(|s| PlainToken::is_shaped(s))
                .ok_or(SHAPE)?;
            if let Ok(token) = PlainToken::parse(s) {
                let hash = token.hash();
                if seen.insert(hash) {
                    hashes.push(hash);
                }
            }
        }
        Ok(ReportedCredentials(hashes))
    }

    /// The hashes of the well-formed tokens reported.
    pub fn hashes(&self) -> &[TokenHash] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALID: &str = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";

    #[test]
    fn credentials_are_one_to_a_thousand_strings_and_only_tokens_are_kept() {
        let ok = ReportedCredentials::from_json(&json!({
            "credentials": [VALID, VALID, "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAB2dbXlp"]
        }))
        .unwrap();
        assert_eq!(ok.hashes().len(), 1);
        let many: Vec<&str> = vec![VALID; 1000];
        assert!(ReportedCredentials::from_json(&json!({ "credentials": many })).is_ok());
        let too_many: Vec<&str> = vec![VALID; 1001];
        for bad in [
            json!({ "credentials": [VALID, "garbage"] }),
            json!({ "credentials": too_many }),
            json!({ "credentials": [] }),
            json!({ "credentials": VALID }),
            json!({ "credentials": [VALID, 1] }),
            json!([VALID]),
            json!({}),
        ] {
            let e = ReportedCredentials::from_json(&bad).err().unwrap();
            assert_eq!(e.field, "credentials");
            assert!(!e.message.contains(VALID));
        }
    }

    #[test]
    fn partner_findings_keep_safe_urls_and_sources_only() {
        let found = partner_findings(&json!([
            {"token": VALID, "type": "mantel_personal_access_token",
             "url": "https://github.com/o/r/blob/abc/.env", "source": "commit"},
            {"token": "abc", "url": "javascript:alert(1)", "source": "<b>"},
        ]))
        .unwrap();
        assert_eq!(
            found[0].url.as_ref().map(LeakUrl::as_str),
            Some("https://github.com/o/r/blob/abc/.env")
        );
        assert!(found[0].token().is_some());
        assert_eq!(found[1].url, None);
        assert_eq!(found[1].source, None);
        assert!(found[1].token().is_none());
        // The feedback names even a string that is not ours by its SHA-256 (FIPS 180-2's "abc").
        assert_eq!(
            found[1].sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for bad in [
            json!({"token": VALID}),
            json!([{"url": "x"}]),
            json!([{"token": 5}]),
        ] {
            assert_eq!(partner_findings(&bad).err().unwrap().field, "body");
        }
        assert!(partner_findings(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn places_read_as_sentences() {
        assert_eq!(LeakSource::place(Some("commit")), "in a public commit");
        assert_eq!(LeakSource::place(Some("gist_content")), "in a public gist");
        assert_eq!(LeakSource::place(None), "in public");
        assert_eq!(LeakSource::parse("Commit"), None);
    }
}
