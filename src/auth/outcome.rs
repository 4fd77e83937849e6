//! How authentication decisions turned out, counted for `/metrics`: one atomic per outcome,
//! so counting costs the request path no lock and no allocation. Nothing about the caller
//! (token, address, user) is kept: only which outcome it was.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// A valid, active token within its rate limit.
    Token,
    /// A valid dashboard session (with the CSRF checks its method needs).
    Session,
    /// No credentials (or a scheme other than Bearer).
    Unauthenticated,
    /// A malformed `Authorization: Bearer` header.
    InvalidRequest,
    /// A token that fails the format or the checksum: refused with no database work.
    Malformed,
    Unknown,
    Revoked,
    Expired,
    InsufficientScope,
    Csrf,
    /// The token's hourly quota is used up.
    RateLimited,
    /// The address presented too many bad tokens: refused before any lookup.
    AddressBlocked,
    /// A good token from an address outside its allowed ones.
    IpNotAllowed,
    /// A token of a suspended account.
    Suspended,
}

impl AuthOutcome {
    pub const ALL: [AuthOutcome; 14] = [
        AuthOutcome::Token,
        AuthOutcome::Session,
        AuthOutcome::Unauthenticated,
        AuthOutcome::InvalidRequest,
        AuthOutcome::Malformed,
        AuthOutcome::Unknown,
        AuthOutcome::Revoked,
        AuthOutcome::Expired,
        AuthOutcome::InsufficientScope,
        AuthOutcome::Csrf,
        AuthOutcome::RateLimited,
        AuthOutcome::AddressBlocked,
        AuthOutcome::IpNotAllowed,
        AuthOutcome::Suspended,
    ];

    /// The metrics label. `invalid_token` outcomes are split by why.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Token => "ok_token",
            AuthOutcome::Session => "ok_session",
            AuthOutcome::Unauthenticated => "unauthenticated",
            AuthOutcome::InvalidRequest => "invalid_request",
            AuthOutcome::Malformed => "invalid_token_malformed",
            AuthOutcome::Unknown => "invalid_token_unknown",
            AuthOutcome::Revoked => "invalid_token_revoked",
            AuthOutcome::Expired => "invalid_token_expired",
            AuthOutcome::InsufficientScope => "insufficient_scope",
            AuthOutcome::Csrf => "csrf_failed",
            AuthOutcome::RateLimited => "rate_limited",
            AuthOutcome::AddressBlocked => "address_blocked",
            AuthOutcome::IpNotAllowed => "ip_not_allowed",
            AuthOutcome::Suspended => "account_suspended",
        }
    }
}

#[derive(Default)]
pub struct AuthOutcomes([AtomicU64; AuthOutcome::ALL.len()]);

impl AuthOutcomes {
    pub fn note(&self, outcome: AuthOutcome) {
        self.0[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, outcome: AuthOutcome) -> u64 {
        self.0[outcome as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_counter() {
        for (i, outcome) in AuthOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, i, "{outcome:?} is out of order in ALL");
        }
        let outcomes = AuthOutcomes::default();
        outcomes.note(AuthOutcome::Revoked);
        assert_eq!(outcomes.get(AuthOutcome::Revoked), 1);
        assert_eq!(outcomes.get(AuthOutcome::Expired), 0);
    }
}
