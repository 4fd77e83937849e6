//! The bearer hot path's token cache, SQLite only: per worker thread, and exact.
//!
//! SPEC §7 allows a cache only where a revocation is answered after every instance that could
//! hold the token has dropped it. On one SQLite file "every instance" is every connection of
//! every process on this host, and SQLite already tells each connection whether any other one
//! committed since it last looked: `PRAGMA data_version`. So every request asks first (a read
//! of the WAL index in shared memory, no disk I/O), and any commit by anyone empties the
//! cache. A revocation is answered after its commit, so the next request on any worker of
//! any process sees a new data version and reads the row again. Nothing is ever served from
//! an entry filled before the last commit, whatever that commit changed: tokens, owners,
//! scopes, allowed addresses, a rotation's grace; a time-based end (expiry, grace) is decided
//! from the row at each request anyway.
//!
//! A fill cannot race an eviction: the version is read before the row, on one thread, so an
//! entry is at worst newer than the version it is filed under, and the next change empties
//! it. Only tokens that exist are cached (an attacker's made-up tokens fill nothing), and at
//! most `CAPACITY` of them per worker.
//!
//! PostgreSQL is not cached: docs/benchmarks.md says why.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::ptr;

use libsqlite3_sys as ffi;

use crate::db::models::tokens::TokenRow;
use crate::db::models::users::User;
use crate::domain::TokenHash;

/// Tokens one worker keeps; more are read every time (W3 of scripts/bench: 10 000 fit).
const CAPACITY: usize = 16_384;

pub type Found = (TokenRow, User);

pub struct TokenCache {
    probe: DataVersion,
    /// The data version the entries were read at or after.
    version: Cell<i64>,
    entries: RefCell<HashMap<TokenHash, Found>>,
}

impl TokenCache {
    pub fn open(path: &str) -> Result<TokenCache, String> {
        Ok(TokenCache {
            probe: DataVersion::open(path)?,
            version: Cell::new(i64::MIN),
            entries: RefCell::default(),
        })
    }

    /// The cached row for `hash`, if nothing was committed since it was read. Call first on
    /// every request: it is what notices a commit.
    pub fn get(&self, hash: &TokenHash) -> Result<Option<Found>, String> {
        let version = self.probe.read()?;
        if version != self.version.get() {
            self.entries.borrow_mut().clear();
            self.version.set(version);
            return Ok(None);
        }
        Ok(self.entries.borrow().get(hash).cloned())
    }

    /// Keeps a row read after the last `get`.
    pub fn insert(&self, hash: TokenHash, found: Found) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() < CAPACITY {
            entries.insert(hash, found);
        }
    }
}

/// A connection of its own that only ever runs `PRAGMA data_version`, prepared once. Raw,
/// because diesel prepares a PRAGMA anew on every call, which would cost more than the lookup
/// it saves. The connection never writes, so every change it reports is someone else's.
struct DataVersion {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

impl DataVersion {
    fn open(path: &str) -> Result<DataVersion, String> {
        let path = CString::new(path).map_err(|_| "a NUL byte in the database path".to_owned())?;
        let sql = c"PRAGMA data_version";
        let mut probe = DataVersion {
            db: ptr::null_mut(),
            stmt: ptr::null_mut(),
        };
        // SAFETY: plain C calls with valid, NUL-terminated strings and out-pointers; on any
        // failure `probe` is dropped, which closes what was opened.
        unsafe {
            let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
            if ffi::sqlite3_open_v2(path.as_ptr(), &mut probe.db, flags, ptr::null()) != ffi::SQLITE_OK
            {
                return Err(probe.error());
            }
            // Reading the WAL index can wait on a writer's recovery, like any reader.
            ffi::sqlite3_busy_timeout(probe.db, 5000);
            if ffi::sqlite3_prepare_v2(probe.db, sql.as_ptr(), -1, &mut probe.stmt, ptr::null_mut())
                != ffi::SQLITE_OK
            {
                return Err(probe.error());
            }
        }
        Ok(probe)
    }

    fn read(&self) -> Result<i64, String> {
        // SAFETY: `stmt` is a prepared statement of `db`, both alive until drop, and used by
        // this thread only (`DataVersion` is not `Send`).
        unsafe {
            let step = ffi::sqlite3_step(self.stmt);
            let version = (step == ffi::SQLITE_ROW).then(|| ffi::sqlite3_column_int64(self.stmt, 0));
            ffi::sqlite3_reset(self.stmt);
            version.ok_or_else(|| self.error())
        }
    }

    fn error(&self) -> String {
        if self.db.is_null() {
            return "cannot open the database".to_owned();
        }
        // SAFETY: `db` is open; sqlite3_errmsg answers a NUL-terminated string it owns.
        unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for DataVersion {
    fn drop(&mut self) {
        // SAFETY: finalize and close accept NULL; nothing uses them after drop.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
            ffi::sqlite3_close(self.db);
        }
    }
}
