//! How long a rotated token keeps working beside its replacement (SPEC §8.1): 0 to 24 hours.

use chrono::Duration;

/// Seconds of grace, checked once where a rotation enters; `tokens::rotate` takes only this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Grace(i64);

impl Grace {
    /// The longest grace a replaced token may keep working.
    pub const MAX_SECONDS: i64 = 86_400;

    /// What a client is told when the grace is out of bounds.
    pub const EXPECTED: &'static str = "Use 0 to 86400 seconds.";

    pub fn from_seconds(seconds: i64) -> Option<Grace> {
        (0..=Self::MAX_SECONDS)
            .contains(&seconds)
            .then_some(Grace(seconds))
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_to_a_day() {
        assert_eq!(Grace::from_seconds(0), Some(Grace::default()));
        assert_eq!(
            Grace::from_seconds(86_400).map(Grace::seconds),
            Some(86_400)
        );
        assert_eq!(Grace::from_seconds(-1), None);
        assert_eq!(Grace::from_seconds(86_401), None);
        assert!(Grace::EXPECTED.contains(&Grace::MAX_SECONDS.to_string()));
    }
}
