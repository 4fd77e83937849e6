//! The instance's token policy (SPEC §9), set by an instance admin: what every new or
//! regenerated token must respect, whoever asks for it. Unlike a project's policy (which
//! blocks a token on one project), it refuses the token before it exists; tokens made before
//! it changed keep working, and the inventory names those that exceed it.

use chrono::{Duration, NaiveDateTime};

use super::{Expiry, LifetimeDays, PolicyBreach, Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstancePolicy {
    /// The longest a new token may live, from creation to expiry; null: no limit.
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 366)]
    pub max_lifetime_days: Option<LifetimeDays>,
    /// Whether a token may never expire (always false while there is a maximum lifetime).
    pub allow_never: bool,
    /// The most scopes one token may hold; null: no limit.
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 5)]
    pub max_scopes: Option<ScopeCount>,
    /// Whether a token's owner must have a second factor (SPEC §3.1) for it to be made.
    pub require_second_factor: bool,
}

impl Default for InstancePolicy {
    /// No policy: what an instance has until an admin sets one.
    fn default() -> Self {
        InstancePolicy {
            max_lifetime_days: None,
            allow_never: true,
            max_scopes: None,
            require_second_factor: false,
        }
    }
}

/// 1 to as many scopes as there are: a limit a token could not reach is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ScopeCount(u8);

impl ScopeCount {
    pub const MAX: usize = Scope::ALL.len();

    pub fn new(n: i64) -> Option<ScopeCount> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=ScopeCount::MAX).contains(&usize::from(*n)))
            .map(ScopeCount)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Which field of a policy change is wrong, and why.
pub type PolicyFieldError = (&'static str, String);

impl InstancePolicy {
    /// A policy from what an admin sent (`None`: no limit). A maximum lifetime leaves no room
    /// for tokens that never expire, so asking for both is refused rather than guessed at.
    pub fn new(
        max_lifetime_days: Option<i64>,
        allow_never: bool,
        max_scopes: Option<i64>,
        require_second_factor: bool,
    ) -> Result<InstancePolicy, PolicyFieldError> {
        let max_lifetime_days = max_lifetime_days
            .map(LifetimeDays::new)
            .transpose()
            .map_err(|e| ("maxLifetimeDays", e.to_string()))?;
        if max_lifetime_days.is_some() && allow_never {
            return Err((
                "allowNever",
                "A maximum lifetime rules out tokens that never expire: set allowNever to \
                 false, or maxLifetimeDays to null."
                    .to_owned(),
            ));
        }
        let max_scopes = max_scopes
            .map(|n| {
                ScopeCount::new(n).ok_or_else(|| {
                    (
                        "maxScopes",
                        format!(
                            "Use a whole number from 1 to {}, or none for no limit.",
                            ScopeCount::MAX
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(InstancePolicy {
            max_lifetime_days,
            allow_never,
            max_scopes,
            require_second_factor,
        })
    }

    /// Whether the owner may be given a new token: with `require_second_factor`, only an
    /// account that has a second factor. (Not a token's own trait, so not `check`'s: the
    /// inventory's "exceeds" is about lifetime and scopes.)
    pub fn check_owner(&self, has_second_factor: bool) -> Result<(), PolicyBreach> {
        if self.require_second_factor && !has_second_factor {
            Err(PolicyBreach::InstanceSecondFactor)
        } else {
            Ok(())
        }
    }

    /// Whether a token made at `created_at`, expiring at `expires_at` (never: `None`), with
    /// `scopes` scopes, respects the policy: the same rule for a token about to be made and
    /// for one the inventory shows.
    pub fn check(
        &self,
        created_at: NaiveDateTime,
        expires_at: Option<NaiveDateTime>,
        scopes: usize,
    ) -> Result<(), PolicyBreach> {
        match (expires_at, self.max_lifetime_days) {
            (None, Some(max)) => return Err(PolicyBreach::InstanceTooLong(max.get())),
            (None, None) if !self.allow_never => return Err(PolicyBreach::InstanceNever),
            (Some(at), Some(max)) if at - created_at > Duration::days(max.get().into()) => {
                return Err(PolicyBreach::InstanceTooLong(max.get()))
            }
            _ => {}
        }
        match self.max_scopes {
            Some(max) if scopes > usize::from(max.get()) => {
                Err(PolicyBreach::TooManyScopes(max.get()))
            }
            _ => Ok(()),
        }
    }

    /// Whether a new token may be given this expiry now (what the Create form offers).
    pub fn allows_expiry(&self, expiry: Expiry, now: NaiveDateTime) -> bool {
        self.check(now, expiry.expires_at(now), 1).is_ok()
    }

    /// The latest a token made at `created_at` may expire under this policy; `None` while
    /// there is no maximum lifetime (then there is nothing to shorten a token to).
    pub fn latest_expiry(&self, created_at: NaiveDateTime) -> Option<NaiveDateTime> {
        self.max_lifetime_days
            .map(|max| created_at + Duration::days(max.get().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn a_change_names_the_field_it_cannot_take() {
        assert_eq!(
            InstancePolicy::new(None, true, None, false),
            Ok(InstancePolicy::default())
        );
        assert_eq!(
            InstancePolicy::new(Some(0), false, None, false)
                .unwrap_err()
                .0,
            "maxLifetimeDays"
        );
        assert_eq!(
            InstancePolicy::new(Some(367), false, None, false)
                .unwrap_err()
                .0,
            "maxLifetimeDays"
        );
        assert_eq!(
            InstancePolicy::new(Some(90), true, None, false)
                .unwrap_err()
                .0,
            "allowNever"
        );
        assert_eq!(
            InstancePolicy::new(None, true, Some(0), false)
                .unwrap_err()
                .0,
            "maxScopes"
        );
        assert_eq!(
            InstancePolicy::new(None, true, Some(6), false)
                .unwrap_err()
                .0,
            "maxScopes"
        );
        let p = InstancePolicy::new(Some(90), false, Some(5), false).unwrap();
        assert_eq!(p.max_scopes.map(ScopeCount::get), Some(5));
    }

    #[test]
    fn a_policy_names_the_rule_a_token_breaks() {
        let made = at("2026-01-01 00:00:00");
        let month = Some(at("2026-02-01 00:00:00"));
        let year = Some(at("2027-01-01 00:00:00"));
        assert_eq!(InstancePolicy::default().check(made, None, 5), Ok(()));
        let thirty_one = InstancePolicy::new(Some(31), false, None, false).unwrap();
        assert_eq!(thirty_one.check(made, month, 5), Ok(()));
        assert_eq!(
            thirty_one.check(made, year, 1),
            Err(PolicyBreach::InstanceTooLong(31))
        );
        assert_eq!(
            thirty_one.check(made, None, 1),
            Err(PolicyBreach::InstanceTooLong(31))
        );
        let expiring = InstancePolicy::new(None, false, Some(2), false).unwrap();
        assert_eq!(expiring.check(made, year, 2), Ok(()));
        assert_eq!(
            expiring.check(made, None, 1),
            Err(PolicyBreach::InstanceNever)
        );
        assert_eq!(
            expiring.check(made, year, 3),
            Err(PolicyBreach::TooManyScopes(2))
        );
        let factor = InstancePolicy::new(None, true, None, true).unwrap();
        assert_eq!(
            factor.check(made, None, 5),
            Ok(()),
            "not a token's own trait"
        );
        assert_eq!(factor.check_owner(true), Ok(()));
        assert_eq!(
            factor.check_owner(false),
            Err(PolicyBreach::InstanceSecondFactor)
        );
        assert_eq!(expiring.check_owner(false), Ok(()));
        assert!(PolicyBreach::InstanceTooLong(31)
            .to_string()
            .contains("31 days"));
    }

    #[test]
    fn the_form_offers_the_expiries_the_policy_allows() {
        let jan = at("2026-01-15 12:00:00");
        let p = InstancePolicy::new(Some(200), false, None, false).unwrap();
        let offered: Vec<Expiry> = Expiry::ALL
            .into_iter()
            .filter(|e| p.allows_expiry(*e, jan))
            .collect();
        assert_eq!(offered, [Expiry::OneMonth, Expiry::SixMonths]);
        assert_eq!(p.latest_expiry(jan), Some(at("2026-08-03 12:00:00")));
        assert_eq!(InstancePolicy::default().latest_expiry(jan), None);
    }
}
