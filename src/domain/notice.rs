//! What a person is told about their tokens (SPEC §8.2) and their second factor (§3.1): the
//! kinds of notification.

super::string_enum! {
    stored
    /// Each kind is stored as its name; what a notification says is `notify::Notice`'s business.
    pub enum NoticeKind {
        TokenCreated = "token_created",
        /// Expires within 30, 7 or 1 days.
        TokenExpiring = "token_expiring",
        TokenExpired = "token_expired",
        TokenReportedPublic = "token_reported_public",
        TokenUsedFromNewIp = "token_used_from_new_ip",
        /// A revoked, expired or replaced token was presented (at most daily).
        TokenUsedAfterRevocation = "token_used_after_revocation",
        /// Unused for 358 days: revoked for inactivity in 7 days unless used.
        TokenInactive = "token_inactive",
        /// Unused for 365 days and revoked.
        TokenRevokedInactive = "token_revoked_inactive",
        /// Revoked by an instance admin, with their reason (SPEC §9).
        TokenRevokedByAdmin = "token_revoked_by_admin",
        /// The account's second factor (SPEC §3.1): added, removed, a recovery code used, the
        /// recovery codes replaced. Told each time: whoever did it without the owner is found out.
        SecondFactorAdded = "second_factor_added",
        SecondFactorRemoved = "second_factor_removed",
        RecoveryCodeUsed = "recovery_code_used",
        RecoveryCodesRegenerated = "recovery_codes_regenerated",
        /// A passkey was added or removed, or signed in without the password (its name in
        /// the details).
        PasskeyAdded = "passkey_added",
        PasskeyRemoved = "passkey_removed",
        PasskeySignIn = "passkey_sign_in",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("nope"), None);
    }
}
