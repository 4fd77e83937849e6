//! The occasions time brings (SPEC §8.2): a token's expiry drawing near (30, 7, 1 days) and
//! passing, and a year of disuse. Every instance sweeps on its own clock tick; what one finds,
//! another finding it too cannot record again (each occasion is a unique key), and the
//! inactivity revocation is an UPDATE guarded on the token still being idle and live.

use chrono::{Duration, NaiveDateTime};
use diesel::QueryResult;

use crate::db::models::notifications;
use crate::db::models::security_log::{self, Client, NewSecurityEvent};
use crate::db::models::tokens::{self, TokenRow};
use crate::db::{write_transaction, DbConnection};
use crate::domain::{RevokedReason, SecurityKind};
use crate::notify::{idle_since, Notice, Notifier};

/// Days before expiry at which the owner is warned.
pub const THRESHOLDS: [u32; 3] = [30, 7, 1];
/// A token unused this long is revoked (SPEC §8.2)…
pub const INACTIVE_AFTER: Duration = Duration::days(365);
/// …after a warning at least this long before.
pub const INACTIVE_WARNING: Duration = Duration::days(7);
/// Expiries longer ago than this are not announced: tokens that expired before notifications
/// existed are old news.
const EXPIRED_WINDOW: Duration = Duration::days(7);

/// What one sweep recorded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub notified: usize,
    pub revoked: usize,
}

pub fn sweep(
    conn: &mut DbConnection,
    notifier: &Notifier,
    now: NaiveDateTime,
) -> QueryResult<Swept> {
    let mut swept = Swept::default();
    let longest = Duration::days(THRESHOLDS[0].into());
    let due: Vec<(TokenRow, Notice)> =
        tokens::expiring_between(conn, now - EXPIRED_WINDOW, now + longest)?
            .into_iter()
            .filter_map(|token| expiry_notice(&token, now).map(|notice| (token, notice)))
            .collect();
    swept.notified += record_new(conn, notifier, due, now)?;

    let idle = tokens::idle_since_before(conn, now - (INACTIVE_AFTER - INACTIVE_WARNING), now)?;
    let mut warnings = Vec::new();
    for token in idle {
        let revoke_at = idle_since(&token) + INACTIVE_AFTER;
        let warning = Notice::Inactive {
            revoke_at: revoke_at.max(now + INACTIVE_WARNING),
        };
        match notifications::recorded_at(conn, &warning.dedupe_key(&token))? {
            None => warnings.push((token, warning)),
            Some(warned) if warned + INACTIVE_WARNING <= now && revoke_at <= now => {
                let revoked = write_transaction(conn, |conn| {
                    if !tokens::revoke_inactive(conn, &token, now)? {
                        return Ok(false);
                    }
                    let event =
                        security_log::revoked(&token, RevokedReason::Inactive, &Client::default());
                    security_log::record(conn, &event, now)?;
                    notifier.record(conn, &token, &Notice::RevokedInactive, now)
                })?;
                swept.revoked += usize::from(revoked);
                swept.notified += usize::from(revoked);
            }
            Some(_) => {}
        }
    }
    swept.notified += record_new(conn, notifier, warnings, now)?;
    Ok(swept)
}

/// The notice a token's expiry calls for now: "expired" once it has, else the nearest
/// threshold crossed. A threshold the token never lived beyond is skipped (a 7-day token is
/// not warned "7 days left" as it is born), and after a gap in sweeping only the nearest
/// crossed threshold is told, not every one missed. A token that lived less than a day (one
/// minted for a CI job, SPEC §8.8) was meant to end soon: its end is no news, and a pipeline
/// would otherwise send a mail a run.
fn expiry_notice(token: &TokenRow, now: NaiveDateTime) -> Option<Notice> {
    let expires_at = token.expires_at?;
    let lifetime = expires_at - token.created_at;
    if lifetime < Duration::days(1) {
        return None;
    }
    if expires_at <= now {
        return Some(Notice::Expired);
    }
    THRESHOLDS
        .into_iter()
        .rev()
        .map(|days| (days, Duration::days(days.into())))
        .find(|(_, before)| expires_at - now <= *before && lifetime > *before)
        .map(|(days, _)| Notice::Expiring { days })
}

/// Records the notices whose occasions are not recorded yet; a quick read first, as most
/// sweeps find every one already told.
fn record_new(
    conn: &mut DbConnection,
    notifier: &Notifier,
    due: Vec<(TokenRow, Notice)>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let keys: Vec<String> = due.iter().map(|(t, n)| n.dedupe_key(t)).collect();
    let known = notifications::recorded_keys(conn, &keys)?;
    let mut recorded = 0;
    for ((token, notice), key) in due.iter().zip(&keys) {
        if !known.contains(key) && told(conn, notifier, token, notice, now)? {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// Records `notice`; an expiry also goes into the owner's security log, in the same
/// transaction, so it is logged exactly when it is first told (once, whoever sweeps).
fn told(
    conn: &mut DbConnection,
    notifier: &Notifier,
    token: &TokenRow,
    notice: &Notice,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    write_transaction(conn, |conn| {
        let recorded = notifier.record(conn, token, notice, now)?;
        if recorded && matches!(notice, Notice::Expired) {
            let mut event =
                NewSecurityEvent::token(SecurityKind::TokenExpired, token, &Client::default());
            event.details["expiredAt"] = serde_json::json!(token.expires_at.map(|t| t.and_utc()));
            security_log::record(conn, &event, now)?;
        }
        Ok(recorded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Expiry;

    fn token(created: NaiveDateTime, lifetime_days: i64) -> TokenRow {
        TokenRow {
            created_at: created,
            expires_at: Some(created + Duration::days(lifetime_days)),
            expiry: Some(Expiry::OneMonth),
            ..TokenRow::for_test()
        }
    }

    fn days_left(notice: Option<Notice>) -> Option<u32> {
        match notice {
            Some(Notice::Expiring { days }) => Some(days),
            Some(Notice::Expired) => Some(0),
            _ => None,
        }
    }

    #[test]
    fn the_nearest_threshold_the_token_lived_beyond() {
        let start =
            NaiveDateTime::parse_from_str("2026-01-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let year = token(start, 365);
        let at = |days_before: i64| start + Duration::days(365 - days_before);
        assert_eq!(days_left(expiry_notice(&year, at(31))), None);
        assert_eq!(days_left(expiry_notice(&year, at(30))), Some(30));
        assert_eq!(days_left(expiry_notice(&year, at(8))), Some(30));
        assert_eq!(days_left(expiry_notice(&year, at(7))), Some(7));
        assert_eq!(days_left(expiry_notice(&year, at(1))), Some(1));
        assert_eq!(days_left(expiry_notice(&year, at(0))), Some(0));
        // A 7-day token is not told "7 days left" at birth, only 1 day before.
        let week = token(start, 7);
        assert_eq!(days_left(expiry_notice(&week, start)), None);
        assert_eq!(
            days_left(expiry_notice(&week, start + Duration::days(6))),
            Some(1)
        );
        // A CI job's quarter-hour token ends without a word.
        let mut ci = token(start, 0);
        ci.expires_at = Some(start + Duration::minutes(15));
        assert_eq!(
            days_left(expiry_notice(&ci, start + Duration::hours(1))),
            None
        );
    }
}
