//! Reading SQLite's text timestamps without chrono's format parser, for the rows every
//! signed-in request reads (its session and user). Diesel reads a SQLite `TIMESTAMP` by trying
//! chrono format strings in turn, about 2 600 instructions a value, a fifth of a session
//! request's row decoding (measured, docs/benchmarks.md). What diesel itself writes,
//! `YYYY-MM-DD HH:MM:SS` with an optional fraction, is read here by hand; anything else goes
//! to diesel's reader as before. PostgreSQL sends binary timestamps and keeps diesel's reader.
//!
//! Used per field: `#[diesel(deserialize_as = Stamp)]` on a `NaiveDateTime`.
//!
//! `text` writes that shape by hand too, for the activity batches, which hand the database
//! their rows as one JSON document (`models::token_activity`): chrono's format interpreter
//! cost about 3 500 instructions a value there.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Timestamp;
use diesel::sqlite::{Sqlite, SqliteValue};

use super::MultiBackend;

/// A `NaiveDateTime` read from a `Timestamp` column.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct Stamp(NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

/// `YYYY-MM-DD HH:MM:SS`, then nothing or `.` and one to nine digits: the shape diesel writes
/// (`%F %T%.f`). `None` for anything else, which the caller hands to diesel.
fn parse(text: &[u8]) -> Option<NaiveDateTime> {
    fn digits(text: &[u8], from: usize, len: usize) -> Option<u32> {
        text.get(from..from + len)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, b)| text.get(at) != Some(&b)) {
        return None;
    }
    let nanos = match text.get(19..) {
        Some([]) => 0,
        Some([b'.', fraction @ ..]) if (1..=9).contains(&fraction.len()) => {
            digits(fraction, 0, fraction.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    NaiveDate::from_ymd_opt(
        digits(text, 0, 4)? as i32,
        digits(text, 5, 2)?,
        digits(text, 8, 2)?,
    )?
    .and_hms_nano_opt(
        digits(text, 11, 2)?,
        digits(text, 14, 2)?,
        digits(text, 17, 2)?,
        nanos,
    )
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let fast = match value.value_type() {
            Some(diesel::sqlite::SqliteType::Text) => parse(value.read_text().as_bytes()),
            _ => None,
        };
        match fast {
            Some(time) => Ok(Stamp(time)),
            None => <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp),
        }
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

/// `at` as diesel writes it to SQLite (`%F %T%.f`: no fraction, or 3, 6 or 9 digits, as few
/// as hold it), which PostgreSQL reads as a `timestamp` too.
pub fn text(at: NaiveDateTime) -> String {
    let nanos = at.nanosecond();
    // A year of five digits or a leap second: chrono's own writer.
    if !(0..=9999).contains(&at.year()) || nanos >= 1_000_000_000 {
        return at.format("%F %T%.f").to_string();
    }
    fn push(text: &mut String, n: u32, digits: u32) {
        for place in (0..digits).rev() {
            text.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
    }
    let mut text = String::with_capacity(29);
    let fields = [
        (at.year() as u32, 4, '-'),
        (at.month(), 2, '-'),
        (at.day(), 2, ' '),
        (at.hour(), 2, ':'),
        (at.minute(), 2, ':'),
    ];
    for (n, digits, separator) in fields {
        push(&mut text, n, digits);
        text.push(separator);
    }
    push(&mut text, at.second(), 2);
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if digits > 0 {
        text.push('.');
        push(&mut text, fraction, digits);
    }
    text
}

/// What `DbConnection` reads through: the backend that ran the query.
impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    /// Whatever diesel writes (`%F %T%.f`) reads back the same, at every precision.
    #[test]
    fn reads_back_what_diesel_writes() {
        let base = NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(23, 59, 7)
            .unwrap();
        for nanos in [0, 5_000_000, 123_456_000, 1, 999_999_999] {
            let time = base + chrono::Duration::nanoseconds(nanos);
            let text = time.format("%F %T%.f").to_string();
            assert_eq!(parse(text.as_bytes()), Some(time), "{text}");
        }
        assert_eq!(
            parse(b"2026-12-06 23:59:07.5"),
            NaiveDateTime::parse_from_str("2026-12-06 23:59:07.5", "%F %T%.f").ok()
        );
    }

    /// `text` writes what diesel writes, at every precision, and reads back the same.
    #[test]
    fn writes_what_diesel_writes() {
        let base = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        let nanos = [
            0,
            1,
            7_000,
            5_000_000,
            120_000_000,
            123_456_000,
            123_456_789,
            999_999_999,
        ];
        for days in [0, 364, -738_000, 2_900_000] {
            for n in nanos {
                let at = base + chrono::Duration::days(days) + chrono::Duration::nanoseconds(n);
                let written = text(at);
                assert_eq!(written, at.format("%F %T%.f").to_string());
                if (0..=9999).contains(&at.year()) {
                    assert_eq!(parse(written.as_bytes()), Some(at), "{written}");
                }
            }
        }
    }

    /// Any other shape, and an impossible date or time, is left to diesel's reader.
    #[test]
    fn leaves_every_other_shape_to_diesel() {
        for text in [
            "2026-12-06T23:59:07",
            "2026-12-06 23:59",
            "2026-12-06 23:59:07Z",
            "2026-12-06 23:59:07+01:00",
            "2026-12-06 23:59:07.",
            "2026-12-06 23:59:07.1234567890",
            "2026-02-30 00:00:00",
            "2026-12-06 24:00:00",
            "2026-1a-06 00:00:00",
            "",
        ] {
            assert_eq!(parse(text.as_bytes()), None, "{text}");
        }
    }
}
