//! A page of a list (SPEC §8.6): `?limit=` (1–200, default 50) and an opaque `?cursor=` that
//! names the last row already seen. Lists are read by keyset — "the rows after this one in
//! the list's order" — never by offset, so rows inserted meanwhile neither repeat nor skip
//! a row on later pages.

use std::fmt;

use chrono::{DateTime, NaiveDateTime};

pub const DEFAULT_LIMIT: i64 = 50;
/// The smallest page.
pub const MIN_LIMIT: i64 = 1;
pub const MAX_LIMIT: i64 = 200;

/// Where a page starts: after the row with this sort time (if the list sorts by time) and
/// this unique key (an id, a name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: Option<NaiveDateTime>,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    Limit,
    Cursor,
}

impl std::error::Error for PageError {}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Limit => write!(f, "Use a limit from {MIN_LIMIT} to {MAX_LIMIT}."),
            PageError::Cursor => f.write_str("Use the cursor of a Link header as it was given."),
        }
    }
}

/// 1 to `MAX_LIMIT`, in decimal digits only: Rust's integer parser also takes a sign (`+5`),
/// which is no integer the document allows.
fn parse_limit(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse()
        .ok()
        .filter(|n| (MIN_LIMIT..=MAX_LIMIT).contains(n))
}

impl PageRequest {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, PageError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => parse_limit(raw).ok_or(PageError::Limit)?,
        };
        let after = cursor
            .map(|c| Cursor::decode(c).ok_or(PageError::Cursor))
            .transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// The first page of `limit` rows.
    pub fn first(limit: i64) -> Self {
        PageRequest { limit, after: None }
    }

    /// How many rows to read: one more than the page holds tells whether another page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `rows` (read with `fetch`) to the page, with the cursor of the next page when
    /// more rows remain.
    pub fn cut<T>(
        &self,
        mut rows: Vec<T>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> (Vec<T>, Option<Cursor>) {
        if rows.len() as i64 <= self.limit {
            return (rows, None);
        }
        rows.truncate(self.limit as usize);
        let next = rows.last().map(cursor_of);
        (rows, next)
    }
}

/// What a cursor is (`Cursor::encode`): the lowercase hex of `{micros}|{key}`, the time at
/// most 16 digits (maybe negative, maybe absent) and the key at least one byte, none of them
/// NUL. `/api/openapi.json` states it for `?cursor=`, and `decode` refuses anything else, so a
/// cursor the document allows always reads (a key that is not UTF-8 reads as its lossy text:
/// it still names a place in the list's order).
pub const CURSOR_PATTERN: &str = "^(?:(?:2d)?(?:3[0-9]){1,16})?7c(?:0[1-9a-f]|[1-9a-f][0-9a-f])+$";

impl Cursor {
    pub fn new(at: Option<NaiveDateTime>, key: impl Into<String>) -> Self {
        Cursor {
            at,
            key: key.into(),
        }
    }

    /// Opaque to clients (hex, so it needs no escaping in a URL); a client that edits one gets
    /// a clear 422 rather than a wrong page — or, for a value no database could hold, a 500.
    pub fn encode(&self) -> String {
        let at = self
            .at
            .map(|t| t.and_utc().timestamp_micros().to_string())
            .unwrap_or_default();
        hex::encode(format!("{at}|{}", self.key))
    }

    fn decode(raw: &str) -> Option<Cursor> {
        static SHAPE: std::sync::LazyLock<regex_lite::Regex> =
            std::sync::LazyLock::new(|| regex_lite::Regex::new(CURSOR_PATTERN).expect("a regex"));
        if !SHAPE.is_match(raw) {
            return None;
        }
        let bytes = hex::decode(raw).ok()?;
        let (at, key) = bytes.split_at(bytes.iter().position(|&b| b == b'|')?);
        let at = match std::str::from_utf8(at).ok()? {
            "" => None,
            micros => Some(DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc()),
        };
        // No NUL (the pattern): PostgreSQL refuses one in text, which would be a 500.
        Some(Cursor::new(at, String::from_utf8_lossy(&key[1..])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_parse_or_say_why_not() {
        assert_eq!(PageRequest::parse(None, None), Ok(PageRequest::first(50)));
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit, 200);
        for bad in [
            "0",
            "201",
            "-1",
            "+5",
            " 5",
            "5 ",
            "ten",
            "",
            "99999999999999999999",
        ] {
            assert_eq!(
                PageRequest::parse(Some(bad), None),
                Err(PageError::Limit),
                "{bad}"
            );
        }
        let at = DateTime::from_timestamp_micros(1_800_000_000_123_456)
            .unwrap()
            .naive_utc();
        // The earliest and latest times a cursor's pattern allows (16 digits of microseconds).
        let first = DateTime::from_timestamp_micros(-9_999_999_999_999_999)
            .unwrap()
            .naive_utc();
        let last = DateTime::from_timestamp_micros(9_999_999_999_999_999)
            .unwrap()
            .naive_utc();
        for cursor in [
            Cursor::new(Some(at), "a-b-c"),
            Cursor::new(None, "report.pdf"),
            Cursor::new(Some(first), "x".repeat(255)),
            Cursor::new(Some(last), "9223372036854775807"),
        ] {
            let page = PageRequest::parse(None, Some(&cursor.encode())).unwrap();
            assert_eq!(page.after, Some(cursor));
        }
        for bad in [
            "zz",
            "7c",
            &hex::encode("12|"),
            &hex::encode("x|id"),
            &hex::encode("|a\0b"),
            &hex::encode("12|id").to_uppercase(),
            &format!("{}\n", hex::encode("12|id")),
        ] {
            assert_eq!(
                PageRequest::parse(None, Some(bad)),
                Err(PageError::Cursor),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_cursor_the_pattern_allows_reads() {
        // Up to 16 digits (a time 316 years from 1970 or before it), any key bytes but NUL.
        for text in [
            "|k".as_bytes(),
            b"-9999999999999999|\xff\x01",
            b"9999999999999999|||",
            b"0|\xc2\x8e",
        ] {
            let raw = hex::encode(text);
            assert!(regex_lite::Regex::new(CURSOR_PATTERN)
                .unwrap()
                .is_match(&raw));
            assert!(Cursor::decode(&raw).is_some(), "{raw}");
        }
    }

    #[test]
    fn a_page_is_cut_with_the_cursor_of_its_last_row() {
        let page = PageRequest::first(2);
        let key = |n: &i32| Cursor::new(None, n.to_string());
        assert_eq!(page.cut(vec![1, 2, 3], key), (vec![1, 2], Some(key(&2))));
        assert_eq!(page.cut(vec![1, 2], key), (vec![1, 2], None));
    }
}
