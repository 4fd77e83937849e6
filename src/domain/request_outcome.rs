//! How a bearer request with an identified token turned out (SPEC §8.3 `outcome`).

super::string_enum! {
    stored
    /// How a request with this token turned out.
    pub enum RequestOutcome {
        /// The token worked (whatever the handler then answered).
        Ok = "ok",
        /// The token worked but was refused: a scope it lacks, its quota, its allowed
        /// addresses, a project it may not see (404), its role there, the project's policy.
        /// Not use.
        Denied = "denied",
        /// Presented after it was revoked.
        Revoked = "revoked",
        /// Presented after it expired.
        Expired = "expired",
        /// Presented after a newer token replaced it and the grace ended.
        Replaced = "replaced",
    }
}

impl RequestOutcome {
    /// A presentation of a token that no longer works.
    pub fn is_after_stop(self) -> bool {
        matches!(
            self,
            RequestOutcome::Revoked | RequestOutcome::Expired | RequestOutcome::Replaced
        )
    }
}
