//! Typed values of the product, each parsed once where it enters and carried typed to its
//! column. A leaf: nothing here imports another module of the crate. Each type maps to a
//! portable SQL type on both backends here; `db::types` adds the mapping for the
//! `MultiConnection` backend.

mod cidr;
mod email;
mod expiry;
pub mod file_name;
mod grace;
mod ids;
pub mod leak;
pub mod name;
mod narrowing;
mod new_token;
mod notice;
mod page;
mod policy;
mod request_outcome;
mod revocation;
mod role;
mod scope;
mod security;
mod selection;
pub mod token;
mod token_hash;
pub mod trusted_ci;

pub use cidr::{canonical, ip_text, AllowedIps, AllowedIpsError, Cidr, CidrError};
pub use email::{Email, EmailError};
pub use expiry::Expiry;
pub use grace::Grace;
pub use ids::{ProjectId, TokenId, TrustId, UserId};
pub use leak::{LeakSource, LeakUrl, ReportChannel};
pub use name::{NameError, ProjectName, TokenName};
pub use narrowing::Narrowing;
pub use new_token::{FieldErrors, NewToken, Rotation};
pub use notice::NoticeKind;
pub use page::{
    Cursor, PageError, PageRequest, CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT,
};
pub use policy::{LifetimeDays, LifetimeDaysError, PolicyBreach, TokenPolicy};
pub use request_outcome::RequestOutcome;
pub use revocation::{AdminRevocation, RevokedReason};
pub use role::Role;
pub use scope::{Scope, Scopes};
pub use security::{cut_user_agent, SecurityKind, USER_AGENT_MAX_CHARS};
pub use selection::{ProjectSelection, SelectionError};
pub use token::PlainToken;
pub use token_hash::TokenHash;
pub use trusted_ci::{Audience, CiLifetime, ClaimRules, IssuerUrl, NewTrust};

/// The schema of a string that is one of `values`, for `/api/openapi.json`.
fn string_enum<const N: usize>(
    values: [&'static str; N],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .into()
}

/// `ToSql` / `FromSql` for SQLite and PostgreSQL of a type stored as text: `$to` turns a
/// value into the stored string, `$from` the stored string into a value.
macro_rules! text_column {
    ($t:ty, |$v:ident| $to:expr, |$s:ident| $from:expr) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                let $v = self;
                out.set_value(String::from($to));
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                let $v = self;
                out.write_all(AsRef::<str>::as_ref(&$to).as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $t
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let $s = <String as diesel::deserialize::FromSql<
                                                                            diesel::sql_types::Text,
                                                                            DB,
                                                                        >>::from_sql(bytes)?;
                Ok($from)
            }
        }
    };
}
pub(crate) use text_column;
