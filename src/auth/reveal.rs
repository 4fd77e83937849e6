//! The one-time reveal behind the dashboard's post/redirect/get: a new token's plaintext,
//! held in this process's memory between the form POST and the GET of its reveal page, handed
//! out once, then gone. SPEC §4 forbids writing the plaintext to the database, a log, a cookie
//! or the session, so memory is the only place it may wait; it waits briefly and in bounded
//! numbers. A restart, or a GET that reaches another instance, finds nothing: the reveal page
//! then says the token was created and can no longer be shown, as after a reload.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::PlainToken;
use crate::domain::{TokenId, UserId};

/// The redirect is followed at once; a minute covers a slow phone on a bad network.
const HOLD_FOR: Duration = Duration::from_secs(60);
/// Creation is session-only and throttled by people typing, so this many unclaimed reveals
/// within a minute means something is wrong; the oldest is dropped rather than memory grown.
const CAPACITY: usize = 256;

struct Held {
    token_id: TokenId,
    owner: UserId,
    plain: PlainToken,
    until: Instant,
}

#[derive(Default)]
pub struct PendingReveals {
    /// Oldest first, so expired entries are at the front.
    held: Mutex<VecDeque<Held>>,
}

impl PendingReveals {
    /// Keeps `plain` for one `take` by its owner.
    pub fn hold(&self, owner: &UserId, token_id: &TokenId, plain: PlainToken) {
        self.hold_at(owner, token_id, plain, Instant::now());
    }

    /// The plaintext of the owner's new token, once; `None` when it was already taken, is too
    /// old, or was never held here.
    pub fn take(&self, owner: &UserId, token_id: &TokenId) -> Option<PlainToken> {
        self.take_at(owner, token_id, Instant::now())
    }

    fn hold_at(&self, owner: &UserId, token_id: &TokenId, plain: PlainToken, now: Instant) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        drop_expired(&mut held, now);
        if held.len() >= CAPACITY {
            held.pop_front();
        }
        held.push_back(Held {
            token_id: token_id.clone(),
            owner: owner.clone(),
            plain,
            until: now + HOLD_FOR,
        });
    }

    fn take_at(&self, owner: &UserId, token_id: &TokenId, now: Instant) -> Option<PlainToken> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        drop_expired(&mut held, now);
        let at = held
            .iter()
            .position(|h| h.token_id == *token_id && h.owner == *owner)?;
        held.remove(at).map(|h| h.plain)
    }
}

fn drop_expired(held: &mut VecDeque<Held>, now: Instant) {
    while held.front().is_some_and(|h| h.until <= now) {
        held.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reveal_is_taken_once_by_its_owner_only() {
        let reveals = PendingReveals::default();
        let (alice, mallory, t1, t2) =
            (UserId::new(), UserId::new(), TokenId::new(), TokenId::new());
        let plain = PlainToken::generate();
        let expected = plain.expose().to_owned();
        reveals.hold(&alice, &t1, plain);
        assert!(reveals.take(&mallory, &t1).is_none());
        assert!(reveals.take(&alice, &t2).is_none());
        assert_eq!(reveals.take(&alice, &t1).unwrap().expose(), expected);
        assert!(reveals.take(&alice, &t1).is_none(), "only once");
    }

    #[test]
    fn a_reveal_expires_and_the_oldest_gives_way() {
        let reveals = PendingReveals::default();
        let start = Instant::now();
        let (alice, bob, old) = (UserId::new(), UserId::new(), TokenId::new());
        reveals.hold_at(&alice, &old, PlainToken::generate(), start);
        assert!(reveals.take_at(&alice, &old, start + HOLD_FOR).is_none());

        let ids: Vec<TokenId> = (0..=CAPACITY).map(|_| TokenId::new()).collect();
        for id in &ids {
            reveals.hold_at(&bob, id, PlainToken::generate(), start);
        }
        assert!(
            reveals.take_at(&bob, &ids[0], start).is_none(),
            "the oldest gave way"
        );
        assert!(reveals.take_at(&bob, &ids[1], start).is_some());
        assert_eq!(reveals.held.lock().unwrap().len(), CAPACITY - 1);
    }
}
