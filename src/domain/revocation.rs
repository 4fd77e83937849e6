//! Why a token stopped working (SPEC §8.1: `revokedReason`).

super::string_enum! {
    stored
    /// Why the token stopped working.
    pub enum RevokedReason {
        /// Its owner revoked it.
        User = "user",
        /// A newer token replaced it, and its grace ended.
        Rotated = "rotated",
        /// Someone reported it found in public.
        ReportedPublic = "reported_public",
        /// Unused for a year.
        Inactive = "inactive",
        /// An instance admin revoked it (SPEC §9), with a reason told to its owner.
        Admin = "admin",
    }
}

impl RevokedReason {
    /// What a bearer request with such a token is told (SPEC §8.1 fixes the rotated one).
    pub fn message(self) -> &'static str {
        match self {
            RevokedReason::Rotated => "This token was replaced by a newer one.",
            RevokedReason::ReportedPublic => "This token was revoked: it was found in public.",
            RevokedReason::Admin => "This token was revoked by an administrator.",
            RevokedReason::User | RevokedReason::Inactive => "This token was revoked.",
        }
    }
}

/// An admin's revocation of other people's tokens (SPEC §9): which (1 to 100 ids), and why —
/// told to each owner, so required: 1 to 500 characters once trimmed.
#[derive(Clone, Debug)]
pub struct AdminRevocation {
    pub ids: Vec<super::TokenId>,
    pub reason: String,
}

impl AdminRevocation {
    pub const MAX_IDS: usize = 100;
    pub const MAX_REASON: usize = 500;

    /// The request, or the field it breaks and why.
    pub fn parse(ids: &[String], reason: &str) -> Result<Self, (&'static str, &'static str)> {
        let ids = Self::token_ids(ids)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > Self::MAX_REASON {
            return Err((
                "reason",
                "Say why, in 1 to 500 characters: each owner is told.",
            ));
        }
        Ok(AdminRevocation {
            ids,
            reason: reason.to_owned(),
        })
    }

    /// The tokens an admin acts on at once (revoked, or shortened): 1 to 100 ids.
    pub fn token_ids(ids: &[String]) -> Result<Vec<super::TokenId>, (&'static str, &'static str)> {
        if ids.is_empty() || ids.len() > Self::MAX_IDS {
            return Err(("ids", "Give 1 to 100 token ids."));
        }
        ids.iter()
            .map(|id| super::TokenId::parse(id))
            .collect::<Option<Vec<_>>>()
            .ok_or(("ids", "Every id must be a token id."))
    }
}
