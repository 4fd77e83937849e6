//! Typed values of the product, each parsed once where it enters and carried typed to its
//! column. A leaf: nothing here imports another module of the crate. Each type maps to a
//! portable SQL type on both backends here; `db::types` adds the mapping for the
//! `MultiConnection` backend.

pub mod cidr;
mod content;
mod email;
mod expiry;
pub mod file_name;
mod grace;
mod ids;
mod instance_policy;
pub mod leak;
pub mod name;
mod narrowing;
mod new_token;
mod notice;
mod page;
mod policy;
mod public_url;
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
pub use content::{Hostname, MessageText};
pub use email::{Email, EmailError};
pub use expiry::Expiry;
pub use grace::Grace;
pub use ids::{ProjectId, TokenId, TrustId, UserId};
pub use instance_policy::{InstancePolicy, ScopeCount};
pub use leak::{LeakSource, LeakUrl, ReportChannel};
pub use name::{NameError, PasskeyName, ProjectName, TokenName};
pub use narrowing::Narrowing;
pub use new_token::{FieldErrors, NewToken, Rotation};
pub use notice::NoticeKind;
pub use page::{
    Cursor, PageError, PageRequest, CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT,
};
pub use policy::{LifetimeDays, LifetimeDaysError, PolicyBreach, TokenPolicy};
pub use public_url::PublicUrl;
pub use request_outcome::RequestOutcome;
pub use revocation::{AdminRevocation, RevokedReason};
pub use role::Role;
pub use scope::{Scope, Scopes};
pub use security::{cut_user_agent, SecurityKind, USER_AGENT_MAX_CHARS};
pub use selection::{ProjectSelection, SelectionError};
pub use token::PlainToken;
pub use token_hash::TokenHash;
pub use trusted_ci::{Audience, CiLifetime, ClaimRules, IssuerUrl, NewTrust};

/// A string enum, each variant with the one string it is sent, stored and parsed as. From this
/// one declaration: `ALL` (in declaration order), `as_str`, `parse` (exactly those strings),
/// `Display`, `serde::Serialize`, and the OpenAPI schema (those strings as its `enum`, the doc
/// comment as its description). With `stored`, also the text column on both backends, where a
/// stored string that names no variant is an error when read, never a default: retiring a value
/// takes a migration.
macro_rules! string_enum {
    (stored $(#[$($meta:tt)*])* pub enum $name:ident { $($body:tt)* }) => {
        $crate::domain::string_enum! {
            $(#[$($meta)*])*
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(sql_type = diesel::sql_types::Text)]
            pub enum $name { $($body)* }
        }

        $crate::domain::text_column!($name, |v| v.as_str(), |s| $name::parse(&s)
            .ok_or_else(|| format!(concat!("unknown ", stringify!($name), " {:?}"), s))?);
    };
    (
        $(#[$($meta:tt)*])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }
    ) => {
        $(#[$($meta)*])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let doc = $crate::domain::doc_lines!($([$($meta)*])*);
                let doc = doc.lines().map(str::trim).collect::<Vec<_>>().join("\n");
                let doc = doc.trim();
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description((!doc.is_empty()).then_some(doc))
                    .enum_values(Some($name::ALL.map($name::as_str)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use string_enum;

/// The doc comment among attributes, one line each (`string_enum!`'s description).
macro_rules! doc_lines {
    () => { "" };
    ([doc = $line:literal] $($rest:tt)*) => {
        concat!($line, "\n", $crate::domain::doc_lines!($($rest)*))
    };
    ([$($other:tt)*] $($rest:tt)*) => { $crate::domain::doc_lines!($($rest)*) };
}
pub(crate) use doc_lines;

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

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::result::Error::DeserializationError;
    use diesel::sql_types::Text;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    use super::{RequestOutcome, Role, Scope, Scopes};

    /// A stored string that names no value is an error when read, never a default.
    #[test]
    fn an_unknown_stored_string_is_a_read_error() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let stored = |s: &str| diesel::select(sql::<Text>(&format!("'{s}'")));
        assert_eq!(
            stored("replaced")
                .get_result::<RequestOutcome>(&mut conn)
                .ok(),
            Some(RequestOutcome::Replaced)
        );
        assert_eq!(
            stored("editor").get_result::<Role>(&mut conn).ok(),
            Some(Role::Editor)
        );
        assert_eq!(
            stored("files,publish").get_result::<Scopes>(&mut conn).ok(),
            Some(Scopes::new(vec![Scope::Publish, Scope::Files]))
        );
        for read in [
            stored("retired")
                .get_result::<RequestOutcome>(&mut conn)
                .map(drop),
            stored("admin").get_result::<Role>(&mut conn).map(drop),
            stored("publish,retired")
                .get_result::<Scopes>(&mut conn)
                .map(drop),
        ] {
            assert!(matches!(read, Err(DeserializationError(_))), "{read:?}");
        }
    }
}
