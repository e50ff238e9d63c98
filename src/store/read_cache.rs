//! A per-backend cache of tuple reads that is exact by construction.
//!
//! A read answered in one snapshot is reused only by a later call whose
//! snapshot sees exactly the same data. Two MVCC snapshots see the same
//! committed data when they agree on `xmax` and on the transactions in
//! progress (`xip` and `subxip`; on a hot standby all of them are in
//! `subxip`): a transaction id below `xmax` and not in progress had
//! completed when either snapshot was taken, so its commit or abort is
//! settled and visible alike to both; everything else is invisible to
//! both. That is PostgreSQL's own visibility rule (`XidInMVCCSnapshot`), so
//! no trigger, no invalidation message and no timing argument is involved:
//! a revocation that commits leaves the in-progress list (or moves `xmax`),
//! and the next call starts afresh.
//!
//! The key also holds
//! - the current user (reads are made with that user's privileges),
//! - and, once the caller's own transaction has written anything (it has a
//!   transaction id), that id, the snapshot's command id and the current
//!   subtransaction: own changes are visible by command id, and a rolled
//!   back savepoint always continues in a new subtransaction.
//!
//! A call that may answer from the cache still takes the table locks and
//! privilege checks a query would (once per subtransaction and user).
//!
//! Not cached: SERIALIZABLE transactions (their reads must take predicate
//! locks) and non-MVCC snapshots. What this buys: rows of one query that
//! run the same checks (row-level security), repeated checks of a
//! read-mostly application, and the workspace and group reads shared by
//! most checks; the active schema is kept with it, which saves its version
//! probe. `notion_rbac.cache_rows` bounds the size (0 turns the cache off).

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::pg_sys;
use rustc_hash::FxHashMap;

use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{SubjectRef, Value};

use super::index_scan::lock_for_reading;
use super::schema::{self, ActiveSchema};
use super::source::IndexSource;
use crate::guc;

/// Which data a snapshot sees, as far as reads are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SnapshotKey {
    /// `xmax` with its epoch: a 32-bit id repeats after 2^32 transactions,
    /// which a long-lived idle backend could otherwise outlive.
    xmax: u64,
    /// Sorted transaction ids in progress.
    xip: Vec<u32>,
    /// Sorted subtransaction ids in progress — always kept: on a hot
    /// standby every running id is here (and `xip` is empty), overflowed
    /// or not; on a primary an overflowed list can only make keys differ
    /// more often, never match wrongly.
    subxip: Vec<u32>,
    suboverflowed: bool,
    recovery: bool,
    user: pg_sys::Oid,
    /// (transaction id, command id, subtransaction id) once the caller's
    /// transaction has written something.
    own: Option<(u32, u32, u32)>,
}

impl SnapshotKey {
    /// The key of the active snapshot, or `None` if reads in it must not
    /// be shared.
    fn current() -> Option<SnapshotKey> {
        // SAFETY: reads of the active snapshot (valid for the duration of
        // the calling statement) and of backend-local transaction state.
        unsafe {
            if !pg_sys::ActiveSnapshotSet() || pg_sys::XactIsoLevel == pg_sys::XACT_SERIALIZABLE as i32 {
                return None;
            }
            let snap = &*pg_sys::GetActiveSnapshot();
            if snap.snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
                return None;
            }
            let ids = |ptr: *const u32, n: usize| -> Vec<u32> {
                let mut v = if n == 0 || ptr.is_null() { Vec::new() } else { std::slice::from_raw_parts(ptr, n).to_vec() };
                v.sort_unstable();
                v
            };
            let xid = pg_sys::GetTopTransactionIdIfAny();
            let own = (xid != pg_sys::InvalidTransactionId)
                .then(|| (u32::from(xid), snap.curcid, pg_sys::GetCurrentSubTransactionId()));
            Some(SnapshotKey {
                xmax: with_epoch(u32::from(snap.xmax)),
                xip: ids(snap.xip.cast(), snap.xcnt as usize),
                subxip: ids(snap.subxip.cast(), snap.subxcnt.max(0) as usize),
                suboverflowed: snap.suboverflowed,
                recovery: snap.takenDuringRecovery,
                user: pg_sys::GetUserId(),
                own,
            })
        }
    }
}

/// The text fields of one cached row end to end in a single allocation,
/// with the end of each field: a few times smaller than a `String` per
/// field, so the same memory holds more reads, and a field is still one
/// slice away.
pub struct Packed {
    text: Box<str>,
    ends: [u32; 4],
}

impl Packed {
    /// Packs the (at most four) columns of the row the scan is on.
    pub fn read(scan: &mut super::index_scan::IndexScan, columns: &[i32], buf: &mut String) -> Packed {
        debug_assert!(columns.len() <= 4);
        buf.clear();
        let mut ends = [0u32; 4];
        for (i, c) in columns.iter().enumerate() {
            scan.push_text(*c, buf);
            ends[i] = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        }
        // Fields past the last column read as empty, never as a bad slice.
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        for end in ends.iter_mut().skip(columns.len()) {
            *end = len;
        }
        Packed { text: buf.as_str().into(), ends }
    }

    /// Field `i`.
    pub fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Fields `at`, `at + 1`, `at + 2` as a subject (type, id, relation).
    pub fn subject(&self, at: usize) -> SubjectRef {
        SubjectRef { ty: self.field(at).to_owned(), id: self.field(at + 1).to_owned(), relation: self.field(at + 2).to_owned() }
    }

    /// Whether fields `at..at + 3` are `subject`.
    pub fn is_subject(&self, at: usize, subject: &SubjectRef) -> bool {
        self.field(at) == subject.ty && self.field(at + 1) == subject.id && self.field(at + 2) == subject.relation
    }
}

/// `xid` (of a live snapshot, so within 2^31 of the next id) with the
/// epoch it belongs to.
fn with_epoch(xid: u32) -> u64 {
    // SAFETY: reads the shared next-transaction-id counter under its lock.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let (epoch, next_xid) = (next >> 32, next as u32);
    let epoch = if xid > next_xid { epoch.saturating_sub(1) } else { epoch };
    (epoch << 32) | u64::from(xid)
}

/// All tuples of one small entity: `relation, subject type, id, relation`.
pub type EntityTuples = Vec<Packed>;

/// Reads answered in one snapshot (see the module comment), by read kind.
/// Keys join their parts with NUL, which no stored text can contain.
#[derive(Default)]
pub struct ReadCache {
    key: Option<SnapshotKey>,
    schema: Option<Rc<ActiveSchema>>,
    /// (local transaction, subtransaction, user, tuple tables too) whose
    /// table locks and privilege checks are done (see [`guard_tables`]).
    guarded: Option<(u32, u32, pg_sys::Oid, bool)>,
    /// Whole small entities by `type\0id` (`None`: known to be large).
    pub entities: FxHashMap<Box<str>, Option<EntityTuples>>,
    /// `type\0id\0relation` → every subject (`type, id, relation`; large
    /// entities only).
    pub subjects: FxHashMap<Box<str>, Vec<Packed>>,
    /// `type\0id\0relation` → the subject-set subjects (large entities only).
    pub subject_sets: FxHashMap<Box<str>, Vec<Packed>>,
    /// A point probe `type\0id\0relation\0subject type\0id\0relation`.
    pub contains: FxHashMap<Box<str>, bool>,
    /// `subject type\0id\0entity type\0relation` → reverse hits (`entity
    /// id, subject relation`).
    pub reverse: FxHashMap<Box<str>, Vec<Packed>>,
    /// `type\0id\0attribute` → stored value.
    pub attributes: FxHashMap<Box<str>, Option<Value>>,
    /// Cached rows (tuples, probes, values), bounded by `limit`.
    rows: usize,
    limit: usize,
    pub stats: CacheStats,
}

/// Counters shown by `rbac.cache_stats()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Times the cache was emptied because the snapshot saw other data.
    pub invalidations: u64,
    /// Times the cache was emptied because it reached its row limit.
    pub evictions: u64,
}

impl ReadCache {
    /// Whether a read of `rows` rows may be cached: empties the maps first
    /// when it would exceed the limit (a whole-cache reset is simple, and a
    /// cache that fills up under one key is being used for a scan-like
    /// workload where recency matters little); a read larger than the whole
    /// limit is not kept at all.
    #[must_use]
    pub fn admit(&mut self, rows: usize) -> bool {
        if rows > self.limit {
            return false;
        }
        if self.rows + rows > self.limit {
            self.clear_reads();
            self.stats.evictions += 1;
        }
        self.rows += rows;
        true
    }

    pub fn hit(&mut self) {
        self.stats.hits += 1;
    }

    pub fn miss(&mut self) {
        self.stats.misses += 1;
    }

    fn clear_reads(&mut self) {
        self.entities.clear();
        self.subjects.clear();
        self.subject_sets.clear();
        self.contains.clear();
        self.reverse.clear();
        self.attributes.clear();
        self.rows = 0;
    }

    /// Makes the cache valid for `key`: empties it if it was filled under
    /// another snapshot's view.
    fn enter(&mut self, key: SnapshotKey, limit: usize) {
        self.limit = limit;
        if self.key.as_ref() != Some(&key) {
            if self.key.is_some() {
                self.stats.invalidations += 1;
            }
            self.clear_reads();
            self.schema = None;
            self.guarded = None;
            self.key = Some(key);
        } else if self.rows > limit {
            self.clear_reads();
            self.stats.evictions += 1;
        }
    }

    /// A cache for one call only (caching off or not allowed): it still
    /// spares a call repeated reads, within a bound.
    fn one_call() -> ReadCache {
        ReadCache { limit: ONE_CALL_ROWS, ..ReadCache::default() }
    }
}

/// Bound on the rows a call keeps when it does not use the shared cache.
const ONE_CALL_ROWS: usize = 200_000;

thread_local! {
    static CACHE: RefCell<ReadCache> = RefCell::new(ReadCache::default());
}

/// Runs `f` with the active schema and a tuple source reading in the
/// caller's snapshot, through the backend's read cache when the snapshot
/// allows it (see the module comment).
pub fn read<R>(f: impl FnOnce(&Schema, &mut IndexSource) -> R) -> R {
    let limit = guc::cache_rows();
    let key = SnapshotKey::current();
    CACHE.with(|cell| {
        // A nested call (none is known) would find the cache borrowed: it
        // then reads without it rather than fail.
        let mut shared = key.as_ref().and_then(|_| cell.try_borrow_mut().ok());
        // The compiled schema is kept under the same rule even when tuple
        // reads are not cached: it saves the version probe of every call.
        let active = match (shared.as_deref_mut(), key) {
            (Some(c), Some(key)) => {
                c.enter(key, limit);
                c.schema.get_or_insert_with(schema::require_active).clone()
            }
            _ => schema::require_active(),
        };
        if let Some(shared) = shared.as_deref_mut() {
            guard_tables(shared, limit > 0);
        }
        let mut private;
        let cache: &mut ReadCache = match shared.as_deref_mut() {
            Some(c) if limit > 0 => c,
            _ => {
                private = ReadCache::one_call();
                &mut private
            }
        };
        let mut source = IndexSource::new(&active.schema, cache);
        f(&active.schema, &mut source)
    })
}

/// Answers may come from the cache alone: take the locks and make the
/// privilege checks a read of the tables would (the schema is always kept;
/// tuples and attributes when `tuples` is set) — once per subtransaction
/// and user: locks last to the end of the (sub)transaction that took them,
/// and a privilege change is a commit (or, in the caller's transaction, a
/// command), which changes the snapshot key and so empties `guarded`.
fn guard_tables(cache: &mut ReadCache, tuples: bool) {
    // SAFETY: backend-local transaction state.
    let stamp = unsafe {
        (
            local_transaction_id(),
            pg_sys::GetCurrentSubTransactionId(),
            pg_sys::GetUserId(),
            tuples,
        )
    };
    if cache.guarded == Some(stamp) || cache.guarded.is_some_and(|g| g.3 && (g.0, g.1, g.2) == (stamp.0, stamp.1, stamp.2)) {
        return;
    }
    lock_for_reading(c"schemas");
    if tuples {
        lock_for_reading(c"tuples");
        lock_for_reading(c"attributes");
    }
    cache.guarded = Some(stamp);
}

/// This backend's local transaction id (new for every transaction).
/// SAFETY: reads this backend's PGPROC.
#[cfg(not(any(feature = "pg17", feature = "pg18")))]
unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).lxid }
}

#[cfg(any(feature = "pg17", feature = "pg18"))]
unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).vxid.lxid }
}

/// The cache's state for `rbac.cache_stats()`: (rows, limit, counters).
pub fn stats() -> (usize, usize, CacheStats) {
    CACHE.with(|c| match c.try_borrow() {
        Ok(c) => (c.rows, guc::cache_rows(), c.stats),
        Err(_) => (0, guc::cache_rows(), CacheStats::default()),
    })
}
