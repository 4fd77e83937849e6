//! Why a token stopped working (SPEC §8.1: `revokedReason`).

use std::fmt;

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
pub enum RevokedReason {
    /// Its owner revoked it.
    User,
    /// A newer token replaced it, and its grace ended.
    Rotated,
    /// Someone reported it found in public.
    ReportedPublic,
    /// Unused for a year.
    Inactive,
}

impl RevokedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedReason::User => "user",
            RevokedReason::Rotated => "rotated",
            RevokedReason::ReportedPublic => "reported_public",
            RevokedReason::Inactive => "inactive",
        }
    }

    /// What a bearer request with such a token is told (SPEC §8.1 fixes the rotated one).
    pub fn message(self) -> &'static str {
        match self {
            RevokedReason::Rotated => "This token was replaced by a newer one.",
            RevokedReason::ReportedPublic => "This token was revoked: it was found in public.",
            RevokedReason::User | RevokedReason::Inactive => "This token was revoked.",
        }
    }

    /// A stored reason; only `as_str` values are written, and a revocation stays one whatever
    /// its recorded reason.
    fn from_stored(s: &str) -> RevokedReason {
        [
            RevokedReason::Rotated,
            RevokedReason::ReportedPublic,
            RevokedReason::Inactive,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(RevokedReason::User)
    }
}

impl fmt::Display for RevokedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RevokedReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

super::text_column!(RevokedReason, |v| v.as_str(), |s| {
    RevokedReason::from_stored(&s)
});
