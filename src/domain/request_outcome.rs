//! How a bearer request with an identified token turned out (SPEC §8.3 `outcome`).

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
pub enum RequestOutcome {
    /// The token worked (whatever the handler then answered).
    Ok,
    /// The token worked but was refused: a scope it lacks, its quota, its allowed addresses, a
    /// project it may not see (404), its role there, the project's policy. Not use.
    Denied,
    /// Presented after it was revoked.
    Revoked,
    /// Presented after it expired.
    Expired,
    /// Presented after a newer token replaced it and the grace ended.
    Replaced,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 5] = [
        RequestOutcome::Ok,
        RequestOutcome::Denied,
        RequestOutcome::Revoked,
        RequestOutcome::Expired,
        RequestOutcome::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Denied => "denied",
            RequestOutcome::Revoked => "revoked",
            RequestOutcome::Expired => "expired",
            RequestOutcome::Replaced => "replaced",
        }
    }

    /// A presentation of a token that no longer works.
    pub fn is_after_stop(self) -> bool {
        matches!(
            self,
            RequestOutcome::Revoked | RequestOutcome::Expired | RequestOutcome::Replaced
        )
    }

    fn from_stored(s: &str) -> RequestOutcome {
        RequestOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .unwrap_or(RequestOutcome::Denied)
    }
}

impl serde::Serialize for RequestOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for RequestOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_enum(RequestOutcome::ALL.map(RequestOutcome::as_str))
    }
}

impl utoipa::ToSchema for RequestOutcome {}

super::text_column!(RequestOutcome, |v| v.as_str(), |s| {
    RequestOutcome::from_stored(&s)
});
