//! What a person is told about their tokens (SPEC §8.2) and their second factor (§3.1): the
//! kinds of notification.

/// Each kind is stored as its name; what a notification says is `notify::Notice`'s business.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum NoticeKind {
    TokenCreated,
    /// Expires within 30, 7 or 1 days.
    TokenExpiring,
    TokenExpired,
    TokenReportedPublic,
    TokenUsedFromNewIp,
    /// A revoked, expired or replaced token was presented (at most daily).
    TokenUsedAfterRevocation,
    /// Unused for 358 days: revoked for inactivity in 7 days unless used.
    TokenInactive,
    /// Unused for 365 days and revoked.
    TokenRevokedInactive,
    /// Revoked by an instance admin, with their reason (SPEC §9).
    TokenRevokedByAdmin,
    /// The account's second factor (SPEC §3.1): added, removed, a recovery code used, the
    /// recovery codes replaced. Told each time: whoever did it without the owner is found out.
    SecondFactorAdded,
    SecondFactorRemoved,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 13] = [
        NoticeKind::TokenCreated,
        NoticeKind::TokenExpiring,
        NoticeKind::TokenExpired,
        NoticeKind::TokenReportedPublic,
        NoticeKind::TokenUsedFromNewIp,
        NoticeKind::TokenUsedAfterRevocation,
        NoticeKind::TokenInactive,
        NoticeKind::TokenRevokedInactive,
        NoticeKind::TokenRevokedByAdmin,
        NoticeKind::SecondFactorAdded,
        NoticeKind::SecondFactorRemoved,
        NoticeKind::RecoveryCodeUsed,
        NoticeKind::RecoveryCodesRegenerated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::TokenCreated => "token_created",
            NoticeKind::TokenExpiring => "token_expiring",
            NoticeKind::TokenExpired => "token_expired",
            NoticeKind::TokenReportedPublic => "token_reported_public",
            NoticeKind::TokenUsedFromNewIp => "token_used_from_new_ip",
            NoticeKind::TokenUsedAfterRevocation => "token_used_after_revocation",
            NoticeKind::TokenInactive => "token_inactive",
            NoticeKind::TokenRevokedInactive => "token_revoked_inactive",
            NoticeKind::TokenRevokedByAdmin => "token_revoked_by_admin",
            NoticeKind::SecondFactorAdded => "second_factor_added",
            NoticeKind::SecondFactorRemoved => "second_factor_removed",
            NoticeKind::RecoveryCodeUsed => "recovery_code_used",
            NoticeKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }

    fn from_stored(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

super::text_column!(NoticeKind, |v| v.as_str(), |s| {
    NoticeKind::from_stored(&s).ok_or_else(|| format!("unknown notification kind {s:?}"))?
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::from_stored("nope"), None);
    }
}
