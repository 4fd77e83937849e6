//! How long a new token lives: `1m`, `6m`, `1y` (the default) or `never`.

use chrono::{Months, NaiveDateTime};

super::string_enum! {
    stored
    /// Calendar months from creation, UTC. Stored with the token, so a rotation can repeat it.
    #[derive(Default)]
    pub enum Expiry {
        OneMonth = "1m",
        SixMonths = "6m",
        #[default]
        OneYear = "1y",
        Never = "never",
    }
}

impl Expiry {
    /// What a client is told when it names no expiry of these.
    pub const EXPECTED: &'static str = "Pick 1m, 6m, 1y or never.";

    pub fn label(self) -> &'static str {
        match self {
            Expiry::OneMonth => "1 month",
            Expiry::SixMonths => "6 months",
            Expiry::OneYear => "1 year",
            Expiry::Never => "Never",
        }
    }

    /// The expiry instant for a token created at `created_at` (None for never).
    /// Month ends clamp: Jan 31 + 1 month is Feb 28 (or 29).
    pub fn expires_at(self, created_at: NaiveDateTime) -> Option<NaiveDateTime> {
        let months = match self {
            Expiry::OneMonth => 1,
            Expiry::SixMonths => 6,
            Expiry::OneYear => 12,
            Expiry::Never => return None,
        };
        created_at.checked_add_months(Months::new(months))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn expiry_is_calendar_months() {
        let jan31 = at("2026-01-31 10:00:00");
        assert_eq!(
            Expiry::OneMonth.expires_at(jan31),
            Some(at("2026-02-28 10:00:00"))
        );
        assert_eq!(
            Expiry::SixMonths.expires_at(jan31),
            Some(at("2026-07-31 10:00:00"))
        );
        assert_eq!(
            Expiry::OneYear.expires_at(at("2028-02-29 00:00:00")),
            Some(at("2029-02-28 00:00:00"))
        );
        assert_eq!(Expiry::Never.expires_at(jan31), None);
    }
}
