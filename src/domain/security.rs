//! The account security log (SPEC §8.3): the kinds of event, and how much of a user agent an
//! event keeps.

super::string_enum! {
    stored
    /// What happened to the account (SPEC §8.3).
    pub enum SecurityKind {
        Signup = "signup",
        Login = "login",
        /// A wrong password for this account (unknown emails have no account to log against).
        LoginFailed = "login_failed",
        Logout = "logout",
        PasswordChanged = "password_changed",
        /// One session ended from the sessions page.
        SessionEnded = "session_ended",
        Reauthenticated = "reauthenticated",
        TokenCreated = "token_created",
        TokenRotated = "token_rotated",
        TokenRevoked = "token_revoked",
        TokenExpired = "token_expired",
        TokenReportedPublic = "token_reported_public",
        TokenUsedFromNewIp = "token_used_from_new_ip",
        TokenUsedAfterRevocation = "token_used_after_revocation",
        MemberAdded = "member_added",
        MemberRemoved = "member_removed",
        MemberRoleChanged = "member_role_changed",
        /// An admin suspended the account (logged for it and for the admin).
        AccountSuspended = "account_suspended",
        AccountReactivated = "account_reactivated",
        /// An admin deleted the account (logged for the admin; the account's own log is
        /// anonymised).
        AccountDeleted = "account_deleted",
        /// An admin changed the instance's token policy (logged for the admin).
        TokenPolicyChanged = "token_policy_changed",
        /// An admin shortened a token to the instance's maximum lifetime (for its owner and the
        /// admin).
        TokenShortened = "token_shortened",
        /// A second factor was confirmed (SPEC §3.1).
        SecondFactorAdded = "second_factor_added",
        SecondFactorRemoved = "second_factor_removed",
        /// A recovery code stood in for a code (its details say how many are left).
        RecoveryCodeUsed = "recovery_code_used",
        RecoveryCodesRegenerated = "recovery_codes_regenerated",
        /// A passkey was registered, or removed (details: its name).
        PasskeyAdded = "passkey_added",
        PasskeyRemoved = "passkey_removed",
        /// A passkey signed a login: as the second factor, or alone (details: its name and
        /// `passwordless`).
        PasskeyUsed = "passkey_used",
        /// An owner trusted a CI identity on a project, or stopped trusting one (SPEC §8.8).
        TrustedCiAdded = "trusted_ci_added",
        TrustedCiRemoved = "trusted_ci_removed",
        /// A CI token presented to the exchange was refused (logged for the owners of the
        /// projects that trust its issuer), with the reason.
        CiExchangeRefused = "ci_exchange_refused",
    }
}

impl SecurityKind {
    /// What `?kind=` accepts, for the error that refuses anything else.
    pub const EXPECTED: &'static str = "Use one of the kinds of event the security log lists \
        (signup, login, login_failed, …, ci_exchange_refused).";

    /// How the dashboard names it.
    pub fn label(self) -> &'static str {
        match self {
            SecurityKind::Signup => "Account created",
            SecurityKind::Login => "Signed in",
            SecurityKind::LoginFailed => "Failed sign-in",
            SecurityKind::Logout => "Signed out",
            SecurityKind::PasswordChanged => "Password changed",
            SecurityKind::SessionEnded => "Session ended",
            SecurityKind::Reauthenticated => "Password confirmed",
            SecurityKind::TokenCreated => "Token created",
            SecurityKind::TokenRotated => "Token regenerated",
            SecurityKind::TokenRevoked => "Token revoked",
            SecurityKind::TokenExpired => "Token expired",
            SecurityKind::TokenReportedPublic => "Token found in public",
            SecurityKind::TokenUsedFromNewIp => "Token used from a new address",
            SecurityKind::TokenUsedAfterRevocation => "Stopped token presented",
            SecurityKind::MemberAdded => "Project member added",
            SecurityKind::MemberRemoved => "Project member removed",
            SecurityKind::MemberRoleChanged => "Project role changed",
            SecurityKind::AccountSuspended => "Account suspended",
            SecurityKind::AccountReactivated => "Account reactivated",
            SecurityKind::AccountDeleted => "Account deleted",
            SecurityKind::TokenPolicyChanged => "Instance token policy changed",
            SecurityKind::TokenShortened => "Token shortened",
            SecurityKind::SecondFactorAdded => "Second factor added",
            SecurityKind::SecondFactorRemoved => "Second factor removed",
            SecurityKind::RecoveryCodeUsed => "Recovery code used",
            SecurityKind::RecoveryCodesRegenerated => "Recovery codes regenerated",
            SecurityKind::PasskeyAdded => "Passkey added",
            SecurityKind::PasskeyRemoved => "Passkey removed",
            SecurityKind::PasskeyUsed => "Signed in with a passkey",
            SecurityKind::TrustedCiAdded => "CI identity trusted",
            SecurityKind::TrustedCiRemoved => "CI identity no longer trusted",
            SecurityKind::CiExchangeRefused => "CI token refused",
        }
    }
}

/// A security event keeps at most this many characters of a user agent (SPEC §8.3 keeps the
/// same 200 for token activity): enough to tell browsers and tools apart, not a place to
/// store whatever a client sends.
pub const USER_AGENT_MAX_CHARS: usize = 200;

/// A user agent as an event keeps it: cut to `USER_AGENT_MAX_CHARS`, control characters
/// dropped (PostgreSQL cannot store NUL, and nothing shows them usefully).
pub fn cut_user_agent(raw: &str) -> String {
    // The common case, short visible ASCII, is a copy: counting characters costs more, and it
    // runs on every bearer request's activity record.
    if raw.len() <= USER_AGENT_MAX_CHARS && raw.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return raw.to_owned();
    }
    raw.chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_by_its_name() {
        for kind in SecurityKind::ALL {
            assert_eq!(SecurityKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SecurityKind::parse("Login"), None);
        assert_eq!(SecurityKind::parse(""), None);
    }

    #[test]
    fn user_agents_are_cut_to_200_characters() {
        let long = "é".repeat(300);
        assert_eq!(cut_user_agent(&long).chars().count(), 200);
        assert_eq!(cut_user_agent("curl/8.5\0\n"), "curl/8.5");
        assert_eq!(cut_user_agent("a\tb\u{85}c"), "abc");
        assert_eq!(cut_user_agent("Mozilla/5.0 (X11)"), "Mozilla/5.0 (X11)");
    }
}
