//! What the database keeps of a token: the BLAKE3 of the whole token string, 32 raw bytes
//! (BLOB / BYTEA, UNIQUE), looked up by equality.

use std::fmt;

use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Binary;

#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Binary)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token's bytes. Only `PlainToken::hash` calls it, with a well-formed token.
    pub fn of(token: &[u8]) -> Self {
        TokenHash(*blake3::hash(token).as_bytes())
    }
}

/// Prints nothing: a hash is not a secret, but nothing about a token belongs in a log.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

impl ToSql<Binary, diesel::sqlite::Sqlite> for TokenHash {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
        <[u8] as ToSql<Binary, diesel::sqlite::Sqlite>>::to_sql(&self.0[..], out)
    }
}

impl ToSql<Binary, diesel::pg::Pg> for TokenHash {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
        <[u8] as ToSql<Binary, diesel::pg::Pg>>::to_sql(&self.0[..], out)
    }
}

impl<DB> FromSql<Binary, DB> for TokenHash
where
    DB: diesel::backend::Backend,
    Vec<u8>: FromSql<Binary, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let bytes = <Vec<u8> as FromSql<Binary, DB>>::from_sql(bytes)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a stored token hash is not 32 bytes")?;
        Ok(TokenHash(bytes))
    }
}
