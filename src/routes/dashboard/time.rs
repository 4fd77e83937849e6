//! Moments as the dashboard's pages show them: relative for reading, exact on hover, ISO for
//! machines. Every page that shows a time takes it from here.

use chrono::NaiveDateTime;

/// A moment as the list shows it: relative for reading, exact on hover, ISO for machines.
pub struct When {
    pub text: String,
    pub exact: String,
    pub iso: String,
}

impl When {
    pub fn new(t: NaiveDateTime, now: NaiveDateTime) -> When {
        When {
            text: relative(t, now),
            exact: exact(t),
            iso: t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }
}

pub fn exact(t: NaiveDateTime) -> String {
    t.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// "3 hours ago", "in 11 months", "just now". Minutes and hours count whole units passed;
/// days and longer round to the nearest, so a 1-year token reads "in 1 year", not "in 12 months".
pub fn relative(t: NaiveDateTime, now: NaiveDateTime) -> String {
    let delta = (t - now).num_seconds();
    let secs = delta.abs();
    let days = secs as f64 / 86_400.0;
    let (n, unit) = match secs {
        s if s < 60 => return "just now".to_owned(),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        _ if days.round() < 28.0 => (days.round() as i64, "day"),
        _ if (days / 30.44).round() < 12.0 => ((days / 30.44).round() as i64, "month"),
        _ => ((days / 365.25).round().max(1.0) as i64, "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times() {
        let now =
            NaiveDateTime::parse_from_str("2026-11-28 12:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(relative(now - Duration::seconds(5), now), "just now");
        assert_eq!(relative(now - Duration::hours(3), now), "3 hours ago");
        assert_eq!(relative(now + Duration::days(334), now), "in 11 months");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now + Duration::days(800), now), "in 2 years");
        assert_eq!(
            relative(now + Duration::days(365) - Duration::seconds(3), now),
            "in 1 year"
        );
        assert_eq!(relative(now + Duration::days(181), now), "in 6 months");
        assert_eq!(relative(now + Duration::days(30), now), "in 1 month");
        assert_eq!(
            relative(now + Duration::days(5) - Duration::seconds(3), now),
            "in 5 days"
        );
    }
}
