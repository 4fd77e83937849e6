//! Seeds a database for `scripts/bench` through the product's own code: migrations, accounts,
//! the token format and its hash, and `tokens::create` for the tokens the workloads use.
//!
//! `bench_seed --database-url URL --tokens N --out DIR` makes sure the database holds at
//! least N tokens (it only adds, so the bench can grow one database from 1 000 to 1 000 000)
//! and writes into DIR:
//! - `password`: the password of `bench@example.com`, for the W1 session login;
//! - `w2.token`, `w5.token`, `w5.id`: live tokens made by `tokens::create` (W2 and W6, W5);
//! - `w3.tokens`: the first 10 000 filler tokens, one per line, for the round-robin workload.
//!
//! `bench_seed --print-unknown` prints a well-formed token that was never stored.
//!
//! These are throwaway secrets of a throwaway database; DIR is the bench's temp folder.

use std::io::Write;
use std::path::PathBuf;

use diesel::prelude::*;
use mantel::auth::password::{self, Password};
use mantel::clock::Clock;
use mantel::db::models::tokens::{self, TokenRow, MAX_LIVE_TOKENS};
use mantel::db::models::users::User;
use mantel::db::schema::{api_tokens, users};
use mantel::db::{self, write_transaction, DbConnection};
use mantel::domain::token::PlainToken;
use mantel::domain::{Email, Expiry, NewToken, Scope, Scopes, TokenId, TokenName, UserId};

const PASSWORD: &str = "bench password, not a secret";
const ROUND_ROBIN: u64 = 10_000;
/// Rows per INSERT: 11 columns each stays under SQLite's 32 766 bound parameters.
const ROWS_PER_INSERT: usize = 2_000;
const INSERTS_PER_TRANSACTION: usize = 10;

fn main() -> anyhow::Result<()> {
    let mut url = None;
    let mut target = 10_000usize;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--database-url" => url = Some(value()?),
            "--tokens" => target = value()?.parse()?,
            "--out" => out = Some(PathBuf::from(value()?)),
            // A well-formed token that no database holds, for the W4 abuse workload.
            "--print-unknown" => {
                println!("{}", PlainToken::generate().expose());
                return Ok(());
            }
            _ => anyhow::bail!("usage: bench_seed --database-url URL --tokens N --out DIR"),
        }
    }
    let (url, out) = url
        .zip(out)
        .ok_or_else(|| anyhow::anyhow!("--database-url and --out are required"))?;

    let pool = db::connect(&url, 1, Default::default())?;
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    let now = Clock::default().now();
    // One argon2 hash for every account: seeding a million tokens must not cost 10 000 hashes.
    let password_hash = password::hash(&Password::new(PASSWORD.to_owned()))?;

    let owner = match User::find_by_email(&mut conn, "bench@example.com")? {
        Some(user) => user,
        None => {
            let email = Email::parse("bench@example.com")?;
            let user = User::create(&mut conn, email, password_hash.clone(), now)?;
            let scopes = ["messages".to_owned(), "publish".to_owned()];
            let new = |name: &str| {
                NewToken::validate(name, &scopes, Some("never"), None, &[])
                    .map_err(|fields| anyhow::anyhow!("{fields:?}"))
            };
            let (_, w2) = tokens::create(&mut conn, &user.id, &new("bench W2")?, now)?;
            let (w5_row, w5) = tokens::create(&mut conn, &user.id, &new("bench W5")?, now)?;
            std::fs::write(out.join("w2.token"), w2.expose())?;
            std::fs::write(out.join("w5.token"), w5.expose())?;
            std::fs::write(out.join("w5.id"), w5_row.id.as_str())?;
            std::fs::write(out.join("password"), PASSWORD)?;
            user
        }
    };

    // Filler token number i belongs to filler account i / MAX_LIVE_TOKENS, so a later run
    // carries on where the last one stopped.
    let filler: i64 = api_tokens::table
        .filter(api_tokens::user_id.ne(&owner.id))
        .count()
        .get_result(&mut **conn)?;
    let stored = filler as usize + 2;
    let mut next = filler as u64;
    let end = next + target.saturating_sub(stored) as u64;
    // The first ROUND_ROBIN filler tokens are the W3 set, whichever run made them.
    let mut round_robin = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out.join("w3.tokens"))?,
    );
    eprintln!("bench_seed: {stored} tokens stored, adding {}", end - next);
    while next < end {
        // Real tokens (the product's generator, hash and display prefix), inserted many to a
        // transaction: one `tokens::create` per token would commit, and fsync, a million times.
        let batch_end = end.min(next + (ROWS_PER_INSERT * INSERTS_PER_TRANSACTION) as u64);
        write_transaction(&mut conn, |conn| -> anyhow::Result<()> {
            while next < batch_end {
                let chunk_end = batch_end.min(next + ROWS_PER_INSERT as u64);
                let mut accounts = Vec::new();
                let mut rows = Vec::new();
                for i in next..chunk_end {
                    let account = i / MAX_LIVE_TOKENS as u64;
                    if i % MAX_LIVE_TOKENS as u64 == 0 {
                        accounts.push(User {
                            id: filler_id(account),
                            email: Email::parse(&format!("bench-{account}@example.com"))?,
                            password_hash: password_hash.clone(),
                            created_at: now,
                            admin: false,
                            suspended_at: None,
                            second_factor: false,
                        });
                    }
                    let plain = PlainToken::generate();
                    if i < ROUND_ROBIN {
                        writeln!(round_robin, "{}", plain.expose())?;
                    }
                    rows.push(TokenRow {
                        id: TokenId::new(),
                        user_id: filler_id(account),
                        name: TokenName::parse(&format!("bench {i}"))?,
                        token_hash: plain.hash(),
                        prefix: plain.display_prefix().to_owned(),
                        scopes: Scopes::new(vec![Scope::Publish]),
                        created_at: now,
                        expires_at: Expiry::Never.expires_at(now),
                        revoked_at: None,
                        last_used_at: None,
                        last_used_ip: None,
                        revoked_reason: None,
                        replaced_by: None,
                        rotated_from: None,
                        expiry: Some(Expiry::Never),
                        narrowing: Default::default(),
                    });
                }
                // Multi-row INSERTs need the concrete backend: MultiConnection cannot batch them.
                match conn {
                    DbConnection::Sqlite(c) => {
                        diesel::insert_into(users::table)
                            .values(&accounts)
                            .execute(c)?;
                        diesel::insert_into(api_tokens::table)
                            .values(&rows)
                            .execute(c)?;
                    }
                    DbConnection::Postgres(c) => {
                        diesel::insert_into(users::table)
                            .values(&accounts)
                            .execute(c)?;
                        diesel::insert_into(api_tokens::table)
                            .values(&rows)
                            .execute(c)?;
                    }
                }
                next = chunk_end;
            }
            Ok(())
        })?;
        eprint!(".");
    }
    eprintln!();
    round_robin.flush()?;
    // Leave SQLite as a running server would have it: the seeding burst checkpointed and the
    // WAL emptied, instead of hundreds of MB of WAL that every read looks its pages up in.
    if let DbConnection::Sqlite(c) = &mut **conn {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c)?;
    }
    Ok(())
}

fn filler_id(account: u64) -> UserId {
    UserId::parse(&format!("00000000-0000-4000-8000-{account:012}")).expect("a UUID")
}
