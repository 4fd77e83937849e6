//! The values of a project's content that a member sends: a custom domain's hostname and a
//! comment's text, each checked here once, with the pattern the API document states for it.

/// A hostname as a custom domain accepts it: lower-cased, without its final dot, at most 253
/// characters, at least two labels of letters, digits and inner hyphens, each at most 63 long,
/// a top-level label that starts with a letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostname(String);

impl Hostname {
    /// `parse` as `/api/openapi.json` states it (with `maxLength` `MAX_LEN`, a final dot
    /// included): labels of letters, digits and inner hyphens, each at most 63 long, at least
    /// two, the last starting with a letter (as every top-level domain does). No look-ahead:
    /// schemathesis' generator gave up on one.
    pub const PATTERN: &'static str = "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+\
        [A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$";
    /// The longest hostname sent, with its final dot.
    pub const MAX_LEN: usize = 254;
    pub const EXPECTED: &'static str = "Enter a hostname like www.example.com.";

    pub fn parse(raw: &str) -> Option<Hostname> {
        let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let tld_ok = labels
            .last()
            .is_some_and(|t| t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()));
        let ok = domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok;
        ok.then_some(Hostname(domain))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A comment's text: at most `MAX_CHARS` as sent, trimmed, not empty, no control character but
/// line breaks and tabs (anywhere, ends included: the document's pattern).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 10_000;
    /// `parse` as `/api/openapi.json` states it (with `maxLength` = `MAX_CHARS`): no control
    /// character but line breaks and tabs, and one that is neither a control character nor
    /// white space (`char::is_whitespace`, what `trim` drops).
    pub const PATTERN: &'static str = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*\
        [^\\x00-\\x20\\x7f-\\xa0\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]\
        [^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$";

    /// The text, or what is wrong with it, in words for the person who sent it.
    pub fn parse(raw: &str) -> Result<MessageText, String> {
        let body = raw.trim();
        let sent = raw.chars().count();
        match body.chars().count() {
            0 => Err("Write a message.".to_owned()),
            _ if sent > Self::MAX_CHARS => {
                Err(format!("Use at most {} characters.", Self::MAX_CHARS))
            }
            // Line breaks and tabs are text; other control characters are not (and PostgreSQL
            // cannot store NUL at all: found by the contract test as a 500).
            _ if raw
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                Err("The message cannot contain control characters.".to_owned())
            }
            _ => Ok(MessageText(body.to_owned())),
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "example.com",
            "WWW.Example.COM.",
            "a-b.c0.io",
            "xn--bcher-kva.example",
        ] {
            assert!(Hostname::parse(ok).is_some(), "{ok}");
        }
        assert_eq!(
            Hostname::parse(" Docs.Example.com ").unwrap().into_string(),
            "docs.example.com"
        );
        for bad in [
            "",
            "localhost",
            "-a.com",
            "a-.com",
            "a..com",
            "exa mple.com",
            "1.2.3.4",
            "a_b.com",
            "http://example.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(Hostname::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_message_pattern_accepts_what_parse_does() {
        let pattern = regex_lite::Regex::new(MessageText::PATTERN).unwrap();
        for c in (0..0x3100u32).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!(" {c} ")] {
                let ok = MessageText::parse(&s).is_ok();
                assert_eq!(pattern.is_match(&s), ok, "{:?}", c as u32);
            }
        }
    }
}
