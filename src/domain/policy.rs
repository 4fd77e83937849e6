//! A project's token policy (SPEC §8.5): what its owners ask of the tokens that reach it. A
//! token that breaks it is blocked on that project — not revoked: it works again if the policy
//! changes, and elsewhere meanwhile.

use chrono::{Duration, NaiveDateTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicy {
    /// The longest a token may live, from creation to expiry; `None`: no limit (then a token
    /// that never expires is fine too).
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 366)]
    pub max_lifetime_days: Option<LifetimeDays>,
    /// Only tokens restricted to chosen projects, not "all my projects" ones.
    pub require_restricted: bool,
    /// Only tokens of members whose account has a second factor (SPEC §3.1): any other member's
    /// token answers 403 `second_factor_required` here. Judged by `auth::permission::decide`,
    /// from the owner row the token lookup brings, not by `check` (a rule about the account, not
    /// the token).
    pub require_second_factor: bool,
}

/// 1 to 366 days: a year, leap or not, is always allowed to be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct LifetimeDays(u16);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "Use a whole number of days from 1 to {}, or none for no limit.",
    LifetimeDays::MAX
)]
pub struct LifetimeDaysError;

impl LifetimeDays {
    pub const MAX: u16 = 366;

    pub fn new(days: i64) -> Result<LifetimeDays, LifetimeDaysError> {
        u16::try_from(days)
            .ok()
            .filter(|d| (1..=LifetimeDays::MAX).contains(d))
            .map(LifetimeDays)
            .ok_or(LifetimeDaysError)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// Which rule of the policy a token breaks; the message names it, for the 403 `token_policy`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyBreach {
    #[error(
        "This project allows only tokens that expire within {0} days of their creation; this one \
         does not. Create a shorter-lived token (it is blocked here, not revoked)."
    )]
    TooLong(u16),
    #[error(
        "This project allows only tokens restricted to chosen projects; this one reaches all \
         your projects. Create one for this project (it is blocked here, not revoked)."
    )]
    Unrestricted,
    /// The instance's policy (`InstancePolicy`): the token is refused, not made.
    #[error(
        "This instance allows only tokens that expire within {0} days of their creation. Pick \
         a shorter expiry."
    )]
    InstanceTooLong(u16),
    #[error("This instance allows only tokens that expire. Pick an expiry.")]
    InstanceNever,
    #[error("This instance allows at most {0} scopes on one token. Pick fewer.")]
    TooManyScopes(u8),
    #[error(
        "This instance gives tokens only to accounts with a second factor. Add an authenticator \
         app on /settings/security first."
    )]
    InstanceSecondFactor,
}

impl TokenPolicy {
    /// Whether a token made at `created_at`, expiring at `expires_at` (never: `None`) and
    /// reaching only chosen projects or not, may be used on the project.
    pub fn check(
        &self,
        created_at: NaiveDateTime,
        expires_at: Option<NaiveDateTime>,
        restricted: bool,
    ) -> Result<(), PolicyBreach> {
        if let Some(max) = self.max_lifetime_days {
            let limit = Duration::days(i64::from(max.get()));
            if expires_at.is_none_or(|at| at - created_at > limit) {
                return Err(PolicyBreach::TooLong(max.get()));
            }
        }
        if self.require_restricted && !restricted {
            return Err(PolicyBreach::Unrestricted);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn days_are_bounded() {
        assert!(LifetimeDays::new(0).is_err());
        assert!(LifetimeDays::new(367).is_err());
        assert!(LifetimeDays::new(-1).is_err());
        assert_eq!(LifetimeDays::new(366).unwrap().get(), 366);
    }

    #[test]
    fn a_policy_names_the_rule_a_token_breaks() {
        let made = at("2026-01-01 00:00:00");
        let month = Some(at("2026-02-01 00:00:00"));
        let year = Some(at("2027-01-01 00:00:00"));
        let none = TokenPolicy::default();
        assert_eq!(none.check(made, None, false), Ok(()));
        let thirty_one = TokenPolicy {
            max_lifetime_days: Some(LifetimeDays::new(31).unwrap()),
            require_restricted: false,
            require_second_factor: false,
        };
        assert_eq!(thirty_one.check(made, month, false), Ok(()));
        assert_eq!(
            thirty_one.check(made, year, false),
            Err(PolicyBreach::TooLong(31))
        );
        assert_eq!(
            thirty_one.check(made, None, false),
            Err(PolicyBreach::TooLong(31))
        );
        let restricted = TokenPolicy {
            max_lifetime_days: None,
            require_restricted: true,
            require_second_factor: false,
        };
        assert_eq!(restricted.check(made, None, true), Ok(()));
        assert_eq!(
            restricted.check(made, None, false),
            Err(PolicyBreach::Unrestricted)
        );
        assert!(PolicyBreach::TooLong(31).to_string().contains("31 days"));
    }
}
