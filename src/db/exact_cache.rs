//! The hot path's caches, per worker thread, and exact: the bearer path's token rows and the
//! session path's sessions with their users, on both backends (`WorkerConnection` on SQLite,
//! `LeasedTokens` and `LeasedSessions` on PostgreSQL).
//!
//! SPEC §7 allows a cache only where a revocation is answered after every instance that could
//! hold the token has dropped it; a session ended (logout, "end this session", a password
//! change) must end as exactly. On one SQLite file "every instance" is every connection of
//! every process on this host, and SQLite already shows each connection whether any other one
//! committed since it last looked: the header of the WAL index, in memory shared by them all,
//! which every commit rewrites. So every request reads it first (a few loads from memory, no
//! statement, no disk I/O). When it moved, the probe reads one more number,
//! `cache_generation`, which triggers move in the same transaction as any change to
//! what the caches hold (a token but its last use, a user, a session; migrations/sqlite
//! 2026-12-08-120001), whoever makes it; the cache is emptied when that moved. A revocation
//! is answered after its commit, so the next request on any worker of any process sees a new
//! header, reads the new generation and reads the row again. Nothing is ever served
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
//! epoch in place of the header: `cache_lease` says how a change reaches every instance
//! before it is answered. The session caches have an epoch of their own, which moves with
//! every change the token caches' does and also with every change to a session, so a login,
//! a slide or a flash message does not empty the token caches.

use std::cell::{Cell, RefCell};
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
    /// SQLite: the header of the file's WAL index.
    WalIndex(WalIndex),
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
    entries: RefCell<foldhash::HashMap<K, V>>,
}

impl<K: Hash + Eq, V: Clone> ExactCache<K, V> {
    pub fn sqlite(path: &str) -> Result<Self, String> {
        Ok(Self::new(Validity::WalIndex(WalIndex::open(path)?)))
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
            Validity::WalIndex(probe) => Some(probe.read()?),
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
            Validity::WalIndex(_) => true,
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

/// A connection of its own that watches the WAL index's header and, when that moved, reads
/// `cache_generation` (prepared once; raw, because diesel prepares anew on every call, which
/// would cost more than the lookup it saves). The connection never writes.
///
/// The header (the first 48 bytes of the `-shm` file, mapped into every connection of every
/// process that has the database open) is rewritten by every commit of any connection before
/// the commit returns: its change counter moves, and its frame count and cumulative checksum
/// name the snapshot. SQLite compares this same header to decide whether its own page cache
/// still holds; the format is fixed, as processes of different SQLite versions share it
/// (sqlite.org, "WAL-mode File Format"). Reading it is a few loads from memory, where
/// `PRAGMA data_version` ran a statement on every request (about 2 300 instructions; see
/// docs/benchmarks.md). A header read mid-rewrite differs from both old and new, which only
/// costs one more read of the generation.
struct WalIndex {
    db: *mut ffi::sqlite3,
    generation: *mut ffi::sqlite3_stmt,
    /// The WAL index's first region, as SQLite mapped it for `db`: valid while `db` is open
    /// in WAL mode, which it stays (the pool sets WAL before any worker opens a probe, and no
    /// connection can leave WAL while this one holds the file open).
    index: *const u64,
    /// The header and the generation read after it, once read.
    seen: Cell<Option<(Header, i64)>>,
}

/// The WAL index header (`WalIndexHdr`), as six words.
type Header = [u64; 6];

// The crate's only unsafe code (`unsafe_code` is denied everywhere else): SQLite's C API.
#[allow(unsafe_code)]
impl WalIndex {
    fn open(path: &str) -> Result<WalIndex, String> {
        let path = CString::new(path).map_err(|_| "a NUL byte in the database path".to_owned())?;
        let generation = c"SELECT n FROM cache_generation";
        let mut probe = WalIndex {
            db: ptr::null_mut(),
            generation: ptr::null_mut(),
            index: ptr::null(),
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
            // A first read opens the WAL and maps its index.
            probe.read_generation()?;
            probe.index = probe.wal_index()?;
        }
        Ok(probe)
    }

    /// The mapping of the WAL index's first region, asked of the database file's own VFS
    /// methods (`xShmMap` without extending: the region the first read mapped).
    ///
    /// # Safety
    /// `db` is open and has read the database once.
    unsafe fn wal_index(&self) -> Result<*const u64, String> {
        let not_wal = || "the database is not in WAL mode".to_owned();
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        let rc = ffi::sqlite3_file_control(
            self.db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut file as *mut *mut ffi::sqlite3_file).cast(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
            return Err(not_wal());
        }
        let methods = &*(*file).pMethods;
        let map = methods
            .xShmMap
            .filter(|_| methods.iVersion >= 2)
            .ok_or_else(not_wal)?;
        let mut region: *mut std::ffi::c_void = ptr::null_mut();
        // 32 KiB: the size of every region of the WAL index.
        if map(file, 0, 32 * 1024, 0, &mut region) != ffi::SQLITE_OK || region.is_null() {
            return Err(not_wal());
        }
        Ok(region.cast_const().cast())
    }

    fn header(&self) -> Header {
        let mut header = [0; 6];
        for (i, word) in header.iter_mut().enumerate() {
            // SAFETY: `index` points at a mapped, page-aligned region of 32 KiB (`wal_index`),
            // valid until drop; other processes write it, hence volatile reads.
            *word = unsafe { ptr::read_volatile(self.index.add(i)) };
        }
        // The generation is read after the header, never before.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        header
    }

    fn read(&self) -> Result<i64, String> {
        let header = self.header();
        if let Some((seen, generation)) = self.seen.get() {
            if seen == header {
                return Ok(generation);
            }
        }
        // Read after the header: any change committed before that header is in it.
        let generation = self.read_generation()?;
        self.seen.set(Some((header, generation)));
        Ok(generation)
    }

    /// `cache_generation`; the statement is reset at once, so no read transaction stays open.
    fn read_generation(&self) -> Result<i64, String> {
        let stmt = self.generation;
        // SAFETY: `stmt` is a prepared statement of `db`, both alive until drop, and used by
        // this thread only (`WalIndex` is not `Send`).
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
impl Drop for WalIndex {
    fn drop(&mut self) {
        // SAFETY: finalize and close accept NULL; nothing uses them after drop.
        unsafe {
            ffi::sqlite3_finalize(self.generation);
            ffi::sqlite3_close(self.db);
        }
    }
}
