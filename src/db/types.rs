//! The domain's column types through `DbConnection`'s own backend: the derive of
//! `MultiConnection` hands each bound value on to the backend that runs the query, which
//! `domain` maps for itself (reading needs nothing here: `domain`'s `FromSql` is generic).

use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Binary, Integer, Text};

use super::MultiBackend;
use crate::domain::{
    Audience, CiLifetime, ClaimRules, Email, Expiry, IssuerUrl, Narrowing, NoticeKind, PasskeyName,
    ProjectId, ProjectName, ReportChannel, RequestOutcome, RevokedReason, Role, Scopes,
    SecurityKind, TokenHash, TokenId, TokenName, TrustId, UserId,
};

macro_rules! through_multi_backend {
    ($sql:ident: $($t:ty),+) => {$(
        impl ToSql<$sql, MultiBackend> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql, self));
                Ok(IsNull::No)
            }
        }
    )+};
}

through_multi_backend!(
    Text: UserId, ProjectId, TokenId, Role, Scopes, Email, TokenName, ProjectName, PasskeyName,
    Expiry,
    RevokedReason, Narrowing, NoticeKind, RequestOutcome, SecurityKind, ReportChannel, TrustId,
    IssuerUrl, Audience, ClaimRules
);
through_multi_backend!(Integer: CiLifetime);
through_multi_backend!(Binary: TokenHash);
