//! The hot path's caches, per worker thread, and exact: the bearer path's token rows and the
//! session path's sessions with their users, on both backends (`WorkerConnection` on SQLite,
//! `LeasedTokens` and `LeasedSessions` on PostgreSQL).
//!
//! SPEC §7 allows a cache only where a revocation is answered after every instance that could
//! hold the token has dropped it; a session ended (logout, "end this session", a password
//! change) must end as exactly. On one SQLite file "every instance" is every connection of
//! every process on this host, and SQLite already tells each connection whether any other one
//! committed since it last looked: `PRAGMA data_version`. So every request asks first (a read
//! of the WAL index in shared memory, no disk I/O). When it moved, the probe reads one more
//! number, `cache_generation`, which triggers move in the same transaction as any change to
//! what the caches hold (a token but its last use, a user, a session; migrations/sqlite
//! 2026-12-08-120001), whoever makes it; the cache is emptied when that moved. A revocation
//! is answered after its commit, so the next request on any worker of any process sees a new
//! data version, reads the new generation and reads the row again. Nothing is ever served
//! from an entry filled before the last change to tokens, owners, scopes, allowed addresses,
//! a rotation's grace, sessions and their state; a time-based end (expiry, grace, a
//! session's idle and absolute limits) is decided from the row at each request anyway.
//! Commits that change none of it — the batches of token activity and last use every second,
//! quota slices, throttles — no longer empty the caches (with 10 000 tokens round-robin, every
//! batch had every token read again: W3 of scripts/bench). An entry's last use may be older
//! than the stored one, as on PostgreSQL: it only spares noting a use already written.
//!
//! A fill cannot race an eviction: the version is read before the row, on one thread, so an
//! entry is at worst newer than the version it is filed under, and the next change empties
//! it. Only rows that exist are cached (an attacker's made-up tokens or cookies fill nothing),
//! and at most `CAPACITY` of them per worker and cache.
//!
//! On PostgreSQL, many instances on many hosts share the database, and no version number
//! tells one instance of another's commits. There the caches are valid under a lease, with an
//! epoch in place of the data version: `cache_lease` says how a change reaches every instance
//! before it is answered. The session caches have an epoch of their own, which moves with
//! every change the token caches' does and also with every change to a session, so a login,
//! a slide or a flash message does not empty the token caches.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::Hash;
use std::ptr;
use std::sync::Arc;

use libsqlite3_sys as ffi;

use crate::db::cache_lease::{CacheLease, Cached};

/// Rows one worker keeps per cache; more are read every time (W3 of scripts/bench: 10 000
/// tokens fit).
const CAPACITY: usize = 16_384;

/// What says whether the entries still hold.
enum Validity {
    /// SQLite: the file's data version.
    DataVersion(DataVersion),
    /// PostgreSQL: the instance's lease and the epoch of this kind of cache.
    Lease(Arc<CacheLease>, Cached),
}

impl Validity {
    /// The lease's epoch for this cache, as a version; `None` while it may not be used.
    fn leased(lease: &CacheLease, what: Cached) -> Option<i64> {
        lease.current(what).map(|epoch| epoch as i64)
    }
}

/// Entries `V` by key `K`; `V` is shared (an `Arc` or a tuple of them), so a hit copies
/// pointers, not rows.
pub struct ExactCache<K, V> {
    validity: Validity,
    /// The version the entries were read at or after.
    version: Cell<i64>,
    entries: RefCell<HashMap<K, V>>,
}

impl<K: Hash + Eq, V: Clone> ExactCache<K, V> {
    pub fn sqlite(path: &str) -> Result<Self, String> {
        Ok(Self::new(Validity::DataVersion(DataVersion::open(path)?)))
    }

    /// PostgreSQL: valid while the instance holds its lease and `what`'s epoch stays.
    pub fn leased(lease: Arc<CacheLease>, what: Cached) -> Self {
        Self::new(Validity::Lease(lease, what))
    }

    fn new(validity: Validity) -> Self {
        ExactCache {
            validity,
            version: Cell::new(i64::MIN),
            entries: RefCell::default(),
        }
    }

    /// Call first on every request: empties the cache if anything changed since its entries
    /// were read, then answers the cached row, or the version a row read now is to be filed
    /// under (`fill`) — none while the cache may not be used at all (a PostgreSQL instance
    /// without its lease).
    pub fn lookup<Q>(&self, key: &Q) -> Result<Lookup<V>, String>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let version = match &self.validity {
            Validity::DataVersion(probe) => Some(probe.read()?),
            Validity::Lease(lease, what) => Validity::leased(lease, *what),
        };
        if version != Some(self.version.get()) {
            self.entries.borrow_mut().clear();
            self.version.set(version.unwrap_or(i64::MIN));
            return Ok(Lookup::Miss(version));
        }
        Ok(match self.entries.borrow().get(key) {
            Some(found) => Lookup::Hit(found.clone()),
            None => Lookup::Miss(version),
        })
    }

    /// Keeps a row read after `lookup` missed with `version`, unless something changed since:
    /// a row read before a change and kept after the eviction would outlive it.
    pub fn fill(&self, key: K, found: &Option<V>, version: Option<i64>) {
        let (Some(found), Some(version)) = (found, version) else {
            return;
        };
        let unchanged = match &self.validity {
            // Same thread, no await between the lookup and the read: a change committed
            // between the generation's read and the row's leaves the entry newer than its
            // generation, and the next lookup sees the generation move.
            Validity::DataVersion(_) => true,
            Validity::Lease(lease, what) => Validity::leased(lease, *what) == Some(version),
        };
        let mut entries = self.entries.borrow_mut();
        if unchanged && self.version.get() == version && entries.len() < CAPACITY {
            entries.insert(key, found.clone());
        }
    }
}

/// What the cache has for a key.
pub enum Lookup<V> {
    Hit(V),
    /// Read it, and `fill` with this version.
    Miss(Option<i64>),
}

/// A connection of its own that only ever runs `PRAGMA data_version` and, when that moved,
/// reads `cache_generation`, both prepared once. Raw, because diesel prepares a PRAGMA anew on
/// every call, which would cost more than the lookup it saves. The connection never writes,
/// so every change it reports is someone else's. `read` answers the generation.
struct DataVersion {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    generation: *mut ffi::sqlite3_stmt,
    /// The data version and the generation read with it, once read.
    seen: Cell<Option<(i64, i64)>>,
}

// The crate's only unsafe code (`unsafe_code` is denied everywhere else): SQLite's C API.
#[allow(unsafe_code)]
impl DataVersion {
    fn open(path: &str) -> Result<DataVersion, String> {
        let path = CString::new(path).map_err(|_| "a NUL byte in the database path".to_owned())?;
        let sql = c"PRAGMA data_version";
        let generation = c"SELECT n FROM cache_generation";
        let mut probe = DataVersion {
            db: ptr::null_mut(),
            stmt: ptr::null_mut(),
            generation: ptr::null_mut(),
            seen: Cell::new(None),
        };
        // SAFETY: plain C calls with valid, NUL-terminated strings and out-pointers; on any
        // failure `probe` is dropped, which closes what was opened.
        unsafe {
            let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
            if ffi::sqlite3_open_v2(path.as_ptr(), &mut probe.db, flags, ptr::null())
                != ffi::SQLITE_OK
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
            if ffi::sqlite3_prepare_v2(
                probe.db,
                generation.as_ptr(),
                -1,
                &mut probe.generation,
                ptr::null_mut(),
            ) != ffi::SQLITE_OK
            {
                return Err(probe.error());
            }
        }
        Ok(probe)
    }

    fn read(&self) -> Result<i64, String> {
        let version = self.step(self.stmt)?;
        if let Some((seen, generation)) = self.seen.get() {
            if seen == version {
                return Ok(generation);
            }
        }
        // Read after the data version: any change committed before that version is in it.
        let generation = self.step(self.generation)?;
        self.seen.set(Some((version, generation)));
        Ok(generation)
    }

    /// The one integer `stmt` answers; reset at once, so no read transaction stays open.
    fn step(&self, stmt: *mut ffi::sqlite3_stmt) -> Result<i64, String> {
        // SAFETY: `stmt` is a prepared statement of `db`, both alive until drop, and used by
        // this thread only (`DataVersion` is not `Send`).
        unsafe {
            let step = ffi::sqlite3_step(stmt);
            let value = (step == ffi::SQLITE_ROW).then(|| ffi::sqlite3_column_int64(stmt, 0));
            ffi::sqlite3_reset(stmt);
            value.ok_or_else(|| self.error())
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

#[allow(unsafe_code)]
impl Drop for DataVersion {
    fn drop(&mut self) {
        // SAFETY: finalize and close accept NULL; nothing uses them after drop.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
            ffi::sqlite3_finalize(self.generation);
            ffi::sqlite3_close(self.db);
        }
    }
}
