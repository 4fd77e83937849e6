//! `mantel backup PATH` (SPEC §9). On SQLite, a consistent copy taken while the server serves:
//! `VACUUM INTO` runs inside one read transaction on a connection of its own, so in WAL mode it
//! neither waits for the writer nor holds it up, and the copy is the database as of one moment
//! — every write answered before it began is in it, none is half in it. The copy is then
//! opened and checked (`PRAGMA integrity_check`, and the same migrations as the source) before
//! it is called done; a copy that fails the check is deleted. PostgreSQL has its own tool for
//! this, `pg_dump`: the command says so, with the database's URL minus its password.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::SqliteConnection;

use super::DbUrl;

/// What a verified copy holds, for the line the command prints.
#[derive(Debug)]
pub struct Copy {
    pub path: PathBuf,
    pub bytes: u64,
    pub migrations: usize,
    pub latest_migration: String,
    pub users: i64,
    pub tokens: i64,
}

/// Copies the SQLite database at `database_url` to `dest` and verifies the copy; for
/// PostgreSQL, an error that names `pg_dump` and the command to run.
pub fn run(database_url: &str, dest: &Path) -> anyhow::Result<Copy> {
    match DbUrl::parse(database_url) {
        DbUrl::Postgres(url) => bail!(
            "mantel backup copies SQLite databases; back up PostgreSQL with pg_dump, e.g.\n  \
             pg_dump --format=custom --file {} '{}'\n(give the password in PGPASSWORD or \
             ~/.pgpass, not on the command line)",
            dest.display(),
            without_password(&url)
        ),
        DbUrl::Sqlite(source) => sqlite(&source, dest),
    }
}

fn sqlite(source: &str, dest: &Path) -> anyhow::Result<Copy> {
    // Refused before any work; `VACUUM INTO` would refuse a non-empty file too, but an empty
    // one it would overwrite.
    if dest.exists() || dest.is_symlink() {
        bail!(
            "{} already exists: a backup never overwrites a file",
            dest.display()
        );
    }
    // Never create an empty database where the path was mistyped.
    if !Path::new(source).is_file() {
        bail!("no SQLite database at {source}");
    }
    let dest_text = dest
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", dest.display()))?;
    let mut conn = SqliteConnection::establish(source)?;
    // The server may be mid-checkpoint; wait for it as its own connections do. (Not
    // `query_only`: it would stop `VACUUM INTO` writing the copy; the source is only read.)
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(dest_text)
        .execute(&mut conn)
        .with_context(|| format!("copying {source} to {}", dest.display()))?;
    let expected = migrations(&mut conn)?;
    drop(conn);
    verify(dest_text, &expected).map_err(|e| {
        // A copy that is not known good is not left to be mistaken for one.
        let _ = std::fs::remove_file(dest);
        e.context(format!(
            "the copy at {} failed its check and was deleted",
            dest.display()
        ))
    })
}

/// Opens the copy and checks it: integrity, and the migrations of the source.
fn verify(path: &str, expected: &[String]) -> anyhow::Result<Copy> {
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let mut copy = SqliteConnection::establish(path)?;
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut copy)?;
    let report: Vec<&str> = checks.iter().map(|c| c.integrity_check.as_str()).collect();
    if report != ["ok"] {
        bail!("integrity_check: {}", report.join("; "));
    }
    let found = migrations(&mut copy)?;
    if found != expected {
        bail!(
            "the copy has {} migrations, the database {}",
            found.len(),
            expected.len()
        );
    }
    let users = count(&mut copy, "SELECT COUNT(*) AS n FROM users")?;
    let tokens = count(&mut copy, "SELECT COUNT(*) AS n FROM api_tokens")?;
    Ok(Copy {
        path: PathBuf::from(path),
        bytes: std::fs::metadata(path)?.len(),
        migrations: found.len(),
        latest_migration: found.last().cloned().unwrap_or_default(),
        users,
        tokens,
    })
}

fn migrations(conn: &mut SqliteConnection) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let rows: Vec<Version> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load(conn)
            .context("no migrations table: is this a Mantel database?")?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

fn count(conn: &mut SqliteConnection, sql: &str) -> anyhow::Result<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Count> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.first().map_or(0, |c| c.n))
}

/// The URL with its password (`user:password@`, or a `password=` parameter) taken out: the
/// command is printed, and a terminal's scrollback is no place for a password.
fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = rest
        .split_once('?')
        .map_or((rest, None), |(a, q)| (a, Some(q)));
    let (authority, path) = before_query
        .split_once('/')
        .map_or((before_query, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}/{path}");
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("password="))
        .collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_printed_url_has_no_password() {
        assert_eq!(
            without_password("postgres://mantel:s3cret@db.example:5432/mantel"),
            "postgres://mantel@db.example:5432/mantel"
        );
        assert_eq!(
            without_password("postgresql://db/mantel?sslmode=require&password=s3cret"),
            "postgresql://db/mantel?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://me:p%40ss@host/db"),
            "postgres://me@host/db"
        );
    }
}
