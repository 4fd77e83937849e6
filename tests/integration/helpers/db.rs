//! A database of the test's own, and ways to look at it behind the app's back.

use diesel::{connection::SimpleConnection, Connection, PgConnection};

/// A database of the test's own: a temp SQLite file, or a fresh PostgreSQL schema.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        base: String,
        schema: String,
    },
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb::postgres().unwrap_or_else(TestDb::sqlite)
    }

    /// A temp SQLite file, whatever the environment says.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mantel.db").to_string_lossy().into_owned();
        TestDb::Sqlite { _dir: dir, path }
    }

    /// A fresh schema in `MANTEL_TEST_POSTGRES_URL`, if that is set.
    pub fn postgres() -> Option<TestDb> {
        let base = std::env::var("MANTEL_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&base).expect("connect to MANTEL_TEST_POSTGRES_URL");
        conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        Some(TestDb::Postgres { base, schema })
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => path.clone(),
            TestDb::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                // Named after the schema too, so a test can find its own connections.
                format!(
                    "{base}{sep}options=-csearch_path%3D{schema}%20-capplication_name%3D{schema}"
                )
            }
        }
    }

    /// Runs SQL directly on the test's database, behind the app's back (waiting, like the
    /// app's own connections, while one of its background writes holds the lock).
    pub fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite { path, .. } => diesel::SqliteConnection::establish(path)
                .unwrap()
                .batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql}"))
                .unwrap(),
            TestDb::Postgres { .. } => PgConnection::establish(&self.url())
                .unwrap()
                .batch_execute(sql)
                .unwrap(),
        }
    }

    /// `execute`, as another instance of the app makes a change: on PostgreSQL it then settles
    /// the change (`cache_lease::settle`, what the app runs before it answers one), so every
    /// instance's caches have dropped what it changed. (Without that, a listener hears a
    /// change made behind the app's back within its poll of a few milliseconds: not on the
    /// very next request.)
    pub fn execute_settled(&self, sql: &str) {
        self.execute(sql);
        if let TestDb::Postgres { .. } = self {
            let mut conn = PgConnection::establish(&self.url()).unwrap();
            mantel::db::cache_lease::settle(&mut conn, mantel::db::cache_lease::Scope::All)
                .unwrap();
        }
    }

    /// The number a `SELECT COUNT(*) AS n …` query answers, read behind the app's back.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(sql);
        let rows: Vec<Count> = match self {
            TestDb::Sqlite { path, .. } => diesel::RunQueryDsl::load(
                query,
                &mut diesel::SqliteConnection::establish(path).unwrap(),
            ),
            TestDb::Postgres { .. } => {
                diesel::RunQueryDsl::load(query, &mut PgConnection::establish(&self.url()).unwrap())
            }
        }
        .unwrap();
        rows[0].n
    }

    /// Everything the database holds for this test, as text: the bytes of the SQLite file and
    /// its WAL, or every row of every table of the PostgreSQL schema, each cast to text by
    /// PostgreSQL itself (`bytea` as hex), read through the driver.
    pub fn raw_contents(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => {
                let mut bytes = std::fs::read(path).unwrap();
                bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
                String::from_utf8_lossy(&bytes).into_owned()
            }
            TestDb::Postgres { schema, .. } => {
                #[derive(diesel::QueryableByName)]
                struct Text {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    text: String,
                }
                let mut conn = PgConnection::establish(&self.url()).unwrap();
                let tables: Vec<Text> = diesel::RunQueryDsl::load(
                    diesel::sql_query(
                        "SELECT table_name::text AS text FROM information_schema.tables \
                         WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
                    )
                    .bind::<diesel::sql_types::Text, _>(schema),
                    &mut conn,
                )
                .unwrap();
                assert!(!tables.is_empty(), "no tables in schema {schema}");
                let mut dump = String::new();
                for table in tables {
                    let rows: Vec<Text> = diesel::RunQueryDsl::load(
                        diesel::sql_query(format!(
                            r#"SELECT t::text AS text FROM "{schema}"."{}" t"#,
                            table.text
                        )),
                        &mut conn,
                    )
                    .unwrap();
                    dump.push_str(&format!("-- {}\n", table.text));
                    for row in rows {
                        dump.push_str(&row.text);
                        dump.push('\n');
                    }
                }
                dump
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { base, schema } = self {
            if let Ok(mut conn) = PgConnection::establish(base) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}
