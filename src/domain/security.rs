//! The account security log (SPEC §8.3): the kinds of event, and how much of a user agent an
//! event keeps.

use std::fmt;

/// What happened to an account. Stored and shown by its name (`as_str`), fixed by SPEC §8.3.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum SecurityKind {
    Signup,
    Login,
    /// A wrong password for this account (unknown emails have no account to log against).
    LoginFailed,
    Logout,
    PasswordChanged,
    /// One session ended from the sessions page.
    SessionEnded,
    Reauthenticated,
    TokenCreated,
    TokenRotated,
    TokenRevoked,
    TokenExpired,
    TokenReportedPublic,
    TokenUsedFromNewIp,
    TokenUsedAfterRevocation,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    /// An admin suspended the account (logged for it and for the admin).
    AccountSuspended,
    AccountReactivated,
    /// An owner trusted a CI identity on a project, or stopped trusting one (SPEC §8.8).
    TrustedCiAdded,
    TrustedCiRemoved,
    /// A CI token presented to the exchange was refused (logged for the owners of the
    /// projects that trust its issuer), with the reason.
    CiExchangeRefused,
}

impl SecurityKind {
    pub const ALL: [SecurityKind; 22] = [
        SecurityKind::Signup,
        SecurityKind::Login,
        SecurityKind::LoginFailed,
        SecurityKind::Logout,
        SecurityKind::PasswordChanged,
        SecurityKind::SessionEnded,
        SecurityKind::Reauthenticated,
        SecurityKind::TokenCreated,
        SecurityKind::TokenRotated,
        SecurityKind::TokenRevoked,
        SecurityKind::TokenExpired,
        SecurityKind::TokenReportedPublic,
        SecurityKind::TokenUsedFromNewIp,
        SecurityKind::TokenUsedAfterRevocation,
        SecurityKind::MemberAdded,
        SecurityKind::MemberRemoved,
        SecurityKind::MemberRoleChanged,
        SecurityKind::AccountSuspended,
        SecurityKind::AccountReactivated,
        SecurityKind::TrustedCiAdded,
        SecurityKind::TrustedCiRemoved,
        SecurityKind::CiExchangeRefused,
    ];

    /// What `?kind=` accepts, for the error that refuses anything else.
    pub const EXPECTED: &'static str = "Use one of the kinds of event the security log lists \
        (signup, login, login_failed, …, ci_exchange_refused).";

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityKind::Signup => "signup",
            SecurityKind::Login => "login",
            SecurityKind::LoginFailed => "login_failed",
            SecurityKind::Logout => "logout",
            SecurityKind::PasswordChanged => "password_changed",
            SecurityKind::SessionEnded => "session_ended",
            SecurityKind::Reauthenticated => "reauthenticated",
            SecurityKind::TokenCreated => "token_created",
            SecurityKind::TokenRotated => "token_rotated",
            SecurityKind::TokenRevoked => "token_revoked",
            SecurityKind::TokenExpired => "token_expired",
            SecurityKind::TokenReportedPublic => "token_reported_public",
            SecurityKind::TokenUsedFromNewIp => "token_used_from_new_ip",
            SecurityKind::TokenUsedAfterRevocation => "token_used_after_revocation",
            SecurityKind::MemberAdded => "member_added",
            SecurityKind::MemberRemoved => "member_removed",
            SecurityKind::MemberRoleChanged => "member_role_changed",
            SecurityKind::AccountSuspended => "account_suspended",
            SecurityKind::AccountReactivated => "account_reactivated",
            SecurityKind::TrustedCiAdded => "trusted_ci_added",
            SecurityKind::TrustedCiRemoved => "trusted_ci_removed",
            SecurityKind::CiExchangeRefused => "ci_exchange_refused",
        }
    }

    /// A kind by its name, exactly as `as_str` writes it.
    pub fn parse(s: &str) -> Option<SecurityKind> {
        SecurityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

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
            SecurityKind::TrustedCiAdded => "CI identity trusted",
            SecurityKind::TrustedCiRemoved => "CI identity no longer trusted",
            SecurityKind::CiExchangeRefused => "CI token refused",
        }
    }
}

impl fmt::Display for SecurityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SecurityKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for SecurityKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_enum(SecurityKind::ALL.map(SecurityKind::as_str))
    }
}

impl utoipa::ToSchema for SecurityKind {}

super::text_column!(SecurityKind, |v| v.as_str(), |s| {
    SecurityKind::parse(&s).ok_or_else(|| format!("unknown security event kind {s:?}"))?
});

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
