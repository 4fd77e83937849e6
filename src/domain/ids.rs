//! Ids: UUIDs, stored as text. Each kind has its own type, so a project id can never be
//! passed where a user id belongs.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow, serde::Serialize,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                $name(uuid::Uuid::new_v4().hyphenated().to_string())
            }

            /// The id a client sent: anything that is not a UUID names nothing.
            pub fn parse(raw: &str) -> Option<Self> {
                uuid::Uuid::parse_str(raw)
                    .ok()
                    .map(|id| $name(id.hyphenated().to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Deserializes only a UUID, so a path or session value that is not one names nothing
        /// (actix answers a path that fails to parse with 404: `routes::api`).
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a UUID"))
            }
        }

        /// In `/api/openapi.json`: a UUID.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        super::text_column!($name, |v| v.0.as_str(), |s| $name(s));
    };
}

id!(
    /// An account.
    UserId
);
id!(
    /// A project.
    ProjectId
);
id!(
    /// An API token (not the secret: the row's id, shown in URLs and the list).
    TokenId
);
id!(
    /// A project's trust in a CI identity (SPEC §8.8).
    TrustId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_in_one_spelling() {
        let id = ProjectId::new();
        assert_eq!(ProjectId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(
            ProjectId::parse(&id.as_str().to_uppercase()),
            Some(id),
            "one id, one spelling"
        );
        assert_eq!(UserId::parse("not-a-uuid"), None);
        assert_eq!(TokenId::parse("../etc/passwd"), None);
    }
}
