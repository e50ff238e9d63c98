//! Which writes to the extension's tables a snapshot sees — a read-cache key
//! that unrelated commits leave alone.
//!
//! Keyed by the whole snapshot (`SnapshotKey`'s snapshot basis), the cache
//! starts afresh after any commit anywhere. Here the key is the set of
//! *writers* of `rbac.tuples`, `rbac.attributes` and `rbac.schemas` that the
//! snapshot sees as committed: two snapshots that agree on it see the same
//! rows in those tables, whatever else committed in between.
//!
//! - **Registry** (shared memory, so only with `shared_preload_libraries`):
//!   every transaction (or subtransaction) that writes those tables records
//!   its id here before its first row is written — statement triggers that
//!   fire in every replication role (`ENABLE ALWAYS`; INSERT, UPDATE,
//!   DELETE, TRUNCATE, COPY) and row triggers for logical replication
//!   apply (`ENABLE REPLICA`). An id leaves the registry once it is older
//!   than every snapshot that exists or can be taken
//!   (`GetOldestNonRemovableTransactionId`): it is then committed for all or
//!   aborted for all. Removing ids changes the registry's *generation*,
//!   which is part of the key, so a key made before never matches one made
//!   after.
//! - **Key**: (generation, the registered writers the snapshot sees
//!   committed — `XidInMVCCSnapshot` and `TransactionIdDidCommit`,
//!   PostgreSQL's own visibility rule — and this backend's *epoch*, bumped
//!   by every relcache invalidation of those tables). Readers process
//!   pending invalidations before making a key.
//! - **Bypasses fall back**: if a registering trigger is missing or
//!   disabled (`ALTER TABLE … DISABLE TRIGGER`, as pg_restore
//!   `--disable-triggers` does), writes would go unrecorded, so keys fall
//!   back to the snapshot basis until it is enabled again (a reader
//!   processes pending invalidations first, and a writer could only skip
//!   the trigger once the disabling had been sent). The epoch alone does
//!   not separate the two sides of such a period: a reader may take in the
//!   disabling and the enabling while its snapshot still predates the
//!   writes between them, and a transaction that disables, writes and
//!   enables becomes visible a moment before its invalidations are sent.
//!   So every statement that changes these tables' triggers records its
//!   transaction as a writer of everything (see `crate::utility`): the
//!   unrecorded writes committed with or after it, so every snapshot that
//!   sees them lists a writer no snapshot from before them lists. That
//!   alone does not separate two snapshots taken inside the period (one
//!   before an unrecorded write, one after it) and used once it ended —
//!   a cursor, a REPEATABLE READ transaction, an exported snapshot: both
//!   list the disabling writer and not the enabling one. So the change
//!   also raises the *floor* (below) to the next transaction id: a
//!   snapshot keys by the writes only once it sees the change settled,
//!   and the enabling waited for every unrecorded write (its lock
//!   conflicts with theirs).
//! - **Writers from before the registry**: it starts empty at server start
//!   (and is not kept during recovery), while prepared transactions survive
//!   a restart and a promoted standby has replayed commits no trigger
//!   recorded. The first key made after start or promotion sets a *floor*,
//!   the next transaction id: keys use the writes only for snapshots whose
//!   xmin is at or above it, which see every transaction below it settled.
//!   Also on the snapshot basis: hot standbys (replay runs no triggers), a
//!   full registry, and the library loaded without preloading.
//! - **Footprints**: beside each writer, the registry keeps what it
//!   touched: a hash of every entity and subject (`type:id`) of the rows it
//!   wrote, up to [`FOOTPRINT`] of them, or "everything". A statement
//!   counts as open from its BEFORE trigger until its AFTER trigger has
//!   recorded its rows from the transition tables; TRUNCATE, schema
//!   changes, larger statements, replication apply and writes recorded by
//!   the old `_note_write` count as everything. When a backend's next key
//!   differs from its cache's by writers whose footprints are all known and
//!   closed, the cache drops only what they touched (see
//!   [`ReadCache::enter`](super::read_cache::ReadCache)); otherwise it
//!   starts afresh. A disabled or dropped AFTER trigger leaves statements
//!   open, which counts as everything: no bypass makes a footprint too
//!   small. Writes of rows beyond their footprint (only `rbac.tuples` and
//!   `rbac.attributes` statements have one) still leave the compiled
//!   schema in place; whatever `_note_write` records — schema writes
//!   among them — does not.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PGRXSharedMemory, PgLwLock};

use super::xid::{full_xid, local_transaction_id};

/// Writers the registry holds at most; beyond that (long-running
/// transactions holding the horizon back while many others write) keys use
/// the snapshot basis until it drains.
const CAPACITY: usize = 512;

/// Entities and subjects a writer's footprint holds at most; a writer that
/// touched more counts as having touched everything.
/// (sql/writes.sql describes statements of at most 16 rows, two keys a
/// tuple.)
const FOOTPRINT: usize = 32;

/// Removed writers whose footprints the registry still holds: a cache last
/// used before more writers than this left starts afresh.
const LEFT: usize = 512;

/// What one writer touched (see the module docs).
#[derive(Copy, Clone)]
struct Footprint {
    /// Statements begun (BEFORE trigger) and not yet recorded (AFTER).
    open: u32,
    /// Touched everything, or more than `FOOTPRINT` keys.
    all: bool,
    /// May have written `rbac.schemas`: recorded by `_note_write`, which
    /// describes nothing (schema writes, TRUNCATE, replication apply, the
    /// triggers of older versions). Statements of `_note_write_begin` —
    /// `rbac.tuples` and `rbac.attributes` only — never set it, however
    /// many rows they write.
    schemas: bool,
    len: u8,
    keys: [u64; FOOTPRINT],
}

impl Footprint {
    const EMPTY: Footprint = Footprint { open: 0, all: false, schemas: false, len: 0, keys: [0; FOOTPRINT] };
    /// Anything may have been written, a schema included.
    const UNKNOWN: Footprint = Footprint { all: true, schemas: true, ..Footprint::EMPTY };

    fn add(&mut self, key: u64) {
        if self.all || self.keys[..self.len as usize].contains(&key) {
            return;
        }
        if (self.len as usize) < FOOTPRINT {
            self.keys[self.len as usize] = key;
            self.len += 1;
        } else {
            self.all = true;
        }
    }

    /// The keys, when they are all that was touched.
    fn known(&self) -> Option<&[u64]> {
        (!self.all && self.open == 0).then(|| &self.keys[..self.len as usize])
    }
}

#[derive(Copy, Clone)]
pub struct Registry {
    generation: u64,
    len: u32,
    /// Set when a writer could not be recorded (the registry was full);
    /// cleared only once every such writer is older than the horizon.
    overflowed: bool,
    /// The newest writer not recorded.
    refused: u64,
    writers: [u64; CAPACITY],
    /// `footprints[i]` belongs to `writers[i]`.
    footprints: [Footprint; CAPACITY],
    /// The writers removed last, with their footprints and the generation
    /// their removal began (see [`changes`]): entry `n` of all ever kept is
    /// at `n % LEFT`. An overflow is entered as writer 0, touching
    /// everything.
    left: [(u64, u64, Footprint); LEFT],
    /// Entries ever added to `left`.
    left_count: u64,
    /// Transactions below this full id may have written unrecorded (see
    /// the module docs): keys use the writes only for snapshots whose xmin
    /// is at or above it. 0 until the first key after start or recovery;
    /// 1 once the horizon has passed it (every snapshot is above it then,
    /// and keys need not read the next transaction id to compare).
    floor: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            generation: 1,
            len: 0,
            overflowed: false,
            refused: 0,
            writers: [0; CAPACITY],
            footprints: [Footprint::EMPTY; CAPACITY],
            left: [(0, 0, Footprint::EMPTY); LEFT],
            left_count: 0,
            floor: 0,
        }
    }
}

impl Registry {
    fn position(&self, writer: u64) -> Option<usize> {
        self.writers[..self.len as usize].iter().position(|w| *w == writer)
    }

    /// Drops the writers older than `horizon` (settled, committed or
    /// aborted, for every snapshot that exists or can be taken), keeping
    /// their footprints in `left`. Their commit status is not asked: it
    /// would be asked under this lock, and for a writer old enough it is
    /// no longer held. An aborted writer's footprint only drops more.
    fn prune(&mut self, horizon: u64) {
        let len = self.len as usize;
        let mut kept = 0;
        let leaving = self.generation + 1;
        for i in 0..len {
            let w = self.writers[i];
            if w >= horizon {
                self.writers[kept] = w;
                self.footprints[kept] = self.footprints[i];
                kept += 1;
            } else {
                let f = self.footprints[i];
                self.note_left(w, leaving, f);
            }
        }
        if kept < len {
            self.generation += 1;
        }
        if self.floor > 1 && self.floor <= horizon {
            self.floor = 1;
        }
        if self.overflowed && self.refused < horizon {
            // Every writer that went unrecorded is settled for every snapshot.
            self.overflowed = false;
            self.generation += 1;
        }
        self.len = kept as u32;
    }

    fn note_left(&mut self, writer: u64, generation: u64, footprint: Footprint) {
        self.left[(self.left_count % LEFT as u64) as usize] = (writer, generation, footprint);
        self.left_count += 1;
    }

    /// The entries of `left` still held, oldest first (their generations
    /// never decrease: each is the generation after the registry's then).
    fn left_held(&self) -> impl DoubleEndedIterator<Item = &(u64, u64, Footprint)> {
        let first = self.left_count.saturating_sub(LEFT as u64);
        (first..self.left_count).map(|n| &self.left[(n % LEFT as u64) as usize])
    }

    /// `writer`'s footprint, in the registry or among the writers removed
    /// since.
    fn footprint(&self, writer: u64) -> Option<&Footprint> {
        match self.position(writer) {
            Some(i) => Some(&self.footprints[i]),
            // Newest first: a writer asked about left recently.
            None => self.left_held().rev().find(|(w, _, _)| *w == writer).map(|(_, _, f)| f),
        }
    }
}

/// The hash a footprint records for an entity or subject: FNV-1a over
/// `type`, a byte no name contains, and `id` (short keys; spelt out so
/// that writers and readers agree by construction). A collision only
/// drops more of a cache than needed.
pub(super) fn footprint_hash(ty: &str, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ty.bytes().chain(std::iter::once(0xff)).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// SAFETY: plain data, no pointers.
unsafe impl PGRXSharedMemory for Registry {}

static REGISTRY: PgLwLock<Registry> = unsafe { PgLwLock::new(c"notion_rbac_writers") };

/// Whether the registry exists (set in the postmaster, inherited).
static AVAILABLE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Bumped by every relcache invalidation of the extension's tables.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
    /// (epoch, whether every registering trigger is enabled) last seen.
    static TRIGGERS: Cell<Option<(u64, bool)>> = const { Cell::new(None) };
    /// The (sub)transaction this backend registered last.
    static REGISTERED: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    /// (registry generation, oldest commit status held) when this backend
    /// last dropped settled writers (see `basis`).
    static PRUNE_SEEN: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
}

/// Called from `_PG_init`: the registry when preloading, and (in every
/// backend) the relcache callback that keeps the epoch.
pub fn init(preloading: bool) {
    if preloading {
        pg_shmem_init!(REGISTRY);
        AVAILABLE.store(true, Ordering::Relaxed);
    }
    // SAFETY: a plain callback registered once per backend.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || super::index_scan::is_extension_table(relid) {
        EPOCH.with(|e| e.set(e.get().wrapping_add(1)));
    }
}

/// This backend's epoch: bumped by every relcache invalidation of the
/// extension's tables (part of every snapshot key).
pub(super) fn epoch() -> u64 {
    EPOCH.with(Cell::get)
}

/// [`epoch`] for the unguarded per-row path: never panics (None only once
/// the thread is going away).
pub(super) fn epoch_checked() -> Option<u64> {
    EPOCH.try_with(Cell::get).ok()
}

/// The triggers that register writers, per table: the statement trigger
/// (must fire always) and the row trigger for replication apply.
const WATCHED: [(&std::ffi::CStr, &str, &str); 3] = [
    (c"tuples", "tuples_note_write", "tuples_note_write_replica"),
    (c"attributes", "attributes_note_write", "attributes_note_write_replica"),
    (c"schemas", "schemas_note_write", "schemas_note_write_replica"),
];

/// Whether every registering trigger is in place and enabled (checked
/// again after each invalidation of the tables).
fn triggers_enabled() -> bool {
    let epoch = EPOCH.with(Cell::get);
    if let Some((seen, ok)) = TRIGGERS.with(Cell::get)
        && seen == epoch
    {
        return ok;
    }
    // Each trigger as sql/writes.sql creates it: its firing, its events and
    // its function, not only its name (CREATE OR REPLACE TRIGGER keeps a
    // name and can change the rest).
    use pg_sys::{TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_DELETE, TRIGGER_TYPE_INSERT, TRIGGER_TYPE_ROW, TRIGGER_TYPE_TRUNCATE, TRIGGER_TYPE_UPDATE};
    const WRITES: u32 = TRIGGER_TYPE_BEFORE | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE;
    let always = pg_sys::TRIGGER_FIRES_ALWAYS as u8;
    let ok = WATCHED.iter().all(|(table, statement, row)| {
        super::index_scan::with_triggers(table, |t| {
            // SAFETY: the trigger descriptor's name is a C string.
            let name = unsafe { std::ffi::CStr::from_ptr(t.tgname) }.to_str().unwrap_or("");
            let (enabled, kind) = (t.tgenabled as u8, t.tgtype as u16 as u32);
            match name {
                n if n == *statement => Some(
                    enabled == always
                        && kind == WRITES | TRIGGER_TYPE_TRUNCATE
                        && is_rbac_function(t.tgfoid, c"_note_write_statement"),
                ),
                n if n == *row => Some(
                    (enabled == always || enabled == pg_sys::TRIGGER_FIRES_ON_REPLICA as u8)
                        && kind == WRITES | TRIGGER_TYPE_ROW
                        && is_rbac_function(t.tgfoid, c"_note_write_row"),
                ),
                _ => None,
            }
        })
    });
    TRIGGERS.with(|t| t.set(Some((epoch, ok))));
    ok
}

/// Whether `func` is `rbac.<name>`.
fn is_rbac_function(func: pg_sys::Oid, name: &std::ffi::CStr) -> bool {
    let Some(nsp) = super::rbac_namespace() else { return false };
    // SAFETY: syscache lookups; the name is a palloc'd copy, freed here.
    unsafe {
        if pg_sys::get_func_namespace(func) != nsp {
            return false;
        }
        let got = pg_sys::get_func_name(func);
        if got.is_null() {
            return false;
        }
        let same = std::ffi::CStr::from_ptr(got) == name;
        pg_sys::pfree(got.cast());
        same
    }
}

/// The oldest transaction id any snapshot may still consider running (all
/// databases, replication slots included): writers older than it are
/// settled for every snapshot, and PostgreSQL keeps the commit status of
/// every transaction from it on (the commit log is truncated only below
/// the oldest frozen id, which is older).
fn horizon() -> u64 {
    // SAFETY: a scan of the process array under its shared lock.
    full_xid(u32::from(unsafe { pg_sys::GetOldestNonRemovableTransactionId(std::ptr::null_mut()) }))
}

/// The oldest transaction id whose commit status the commit log still
/// holds: it moves when the log is truncated (read without
/// XactTruncationLock, a hint only; see `basis`).
fn oldest_status_held() -> u32 {
    // SAFETY: a read of one shared 32-bit field.
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    let xid = unsafe { (*pg_sys::ShmemVariableCache).oldestClogXid };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    let xid = unsafe { (*pg_sys::TransamVariables).oldestClogXid };
    u32::from(xid)
}

/// Why keys must use the whole snapshot, whatever the registry holds (see
/// the module docs); None when the writes can key them. Processes pending
/// invalidations first (as every lock acquisition does), so that a trigger
/// disabled by a commit the snapshot may see is known.
fn whole_snapshot_reason() -> Option<&'static str> {
    // First, whatever the basis: the epoch is part of every key.
    // SAFETY: processing invalidations, as every lock acquisition does.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if !AVAILABLE.load(Ordering::Relaxed) {
        return Some("the library is not in shared_preload_libraries (no registry of writers)");
    }
    if !crate::guc::cache_across_commits() {
        return Some("notion_rbac.cache_across_commits is off");
    }
    // SAFETY: a read of recovery state.
    if unsafe { pg_sys::RecoveryInProgress() } {
        return Some("a hot standby (replay records no writers)");
    }
    if !triggers_enabled() {
        return Some(
            "a trigger that records writers of rbac.tuples, rbac.attributes or rbac.schemas is disabled, missing or \
             altered, or one of those tables is a partition or child",
        );
    }
    if xact_truncation_lock().is_none() {
        return Some("this server's lock layout is not the expected one (XactTruncationLock)");
    }
    None
}

/// Clears the registry's overflow once every writer it could not record
/// is settled for every snapshot; true when it is clear. Otherwise only a
/// writer's registration (its pruning) would clear it, and a registry that
/// overflowed in a burst of writes and then sees none — a read-only phase
/// — would keep every key on the whole snapshot until the next write.
/// With `xmin` (a key being made), nothing is asked until that snapshot
/// sees every unrecorded writer settled, and a horizon found held back is
/// asked again only after [`OVERFLOW_RETRY`]: a long read-only transaction
/// or a replication slot can hold it for hours, and the horizon is a scan
/// of the process array. (PostgreSQL's cached visibility horizons are no
/// substitute: they are recomputed only once a new snapshot's xmin moves,
/// which a read-only phase need not do.)
fn clear_settled_overflow(xmin: Option<u64>) -> bool {
    let refused = {
        let reg = REGISTRY.share();
        if !reg.overflowed {
            return true;
        }
        reg.refused
    };
    if let Some(xmin) = xmin {
        if refused >= xmin || OVERFLOW_TRIED.with(Cell::get).is_some_and(|t| t.elapsed() < OVERFLOW_RETRY) {
            return false;
        }
    }
    let horizon = horizon();
    if refused >= horizon {
        OVERFLOW_TRIED.with(|t| t.set(Some(std::time::Instant::now())));
        return false;
    }
    let mut reg = REGISTRY.exclusive();
    reg.prune(horizon);
    !reg.overflowed
}

/// How long a backend waits before asking the horizon again for an
/// overflow it found still held back (see [`clear_settled_overflow`]).
const OVERFLOW_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

thread_local! {
    /// When this backend last found the overflow held back by the horizon.
    static OVERFLOW_TRIED: Cell<Option<std::time::Instant>> = const { Cell::new(None) };
}

/// What a key made now would be based on, for `rbac.cache_basis()`: why
/// it would use the whole snapshot (None: the writes), and the registry's
/// writers held, generation and writers that have left it (None without
/// the registry).
pub fn basis_report() -> (Option<&'static str>, Option<(u32, u64, u64)>) {
    let reason = whole_snapshot_reason();
    if !AVAILABLE.load(Ordering::Relaxed) {
        return (reason, None);
    }
    clear_settled_overflow(None);
    let reg = REGISTRY.share();
    let overflowed = reg.overflowed.then_some("more writers than the registry holds (512) wait for a long transaction to end");
    // SAFETY: reads of the active snapshot, valid during the statement.
    let below_floor = reg.floor > 1
        && unsafe { crate::pg_ffi::ActiveSnapshotSet() && full_xid(u32::from((*crate::pg_ffi::GetActiveSnapshot()).xmin)) < reg.floor };
    let below_floor = below_floor.then_some(
        "this snapshot predates the registry's start or promotion, or a change of the recording triggers, and \
         transactions from before it are still open to it",
    );
    (reason.or(overflowed).or(below_floor), Some((reg.len, reg.generation, reg.left_count)))
}

/// The writes basis of a key for `snap`: (generation, epoch, the registered
/// writers `snap` sees committed), or None where keys must use the whole
/// snapshot (see the module docs).
pub(super) fn basis(snap: &pg_sys::SnapshotData) -> Option<(u64, u64, Vec<u64>)> {
    if whole_snapshot_reason().is_some() {
        return None;
    }
    let epoch = EPOCH.with(Cell::get);
    let mut reg = REGISTRY.share();
    if reg.floor == 0 {
        // The first key since start or promotion (recovery ended: checked
        // above): every transaction below the next id is older than the
        // registry's record.
        drop(reg);
        let mut exclusive = REGISTRY.exclusive();
        if exclusive.floor == 0 {
            // SAFETY: reads the shared next-transaction-id counter.
            exclusive.floor = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
        }
        drop(exclusive);
        reg = REGISTRY.share();
    }
    if reg.floor > 1 && full_xid(u32::from(snap.xmin)) < reg.floor {
        return None;
    }
    // Writers leave the registry when another writer registers. With none
    // for a long time, the commit log could come to be truncated past the
    // oldest, and asking its status would fail: a reader that meets
    // writers settled for its snapshot drops those settled for every
    // snapshot first — once per registry generation and truncation point
    // — so that every writer whose status is asked below is at or above a
    // horizon the commit log has not been truncated past.
    let oldest = oldest_status_held();
    // (TransactionIdPrecedes for normal ids, which writers and xmin are.)
    let xmin = u32::from(snap.xmin);
    let settled = reg.writers[..reg.len as usize].iter().any(|w| ((*w as u32).wrapping_sub(xmin) as i32) < 0);
    if settled && PRUNE_SEEN.with(Cell::get) != (reg.generation, oldest) {
        drop(reg);
        let horizon = horizon();
        let mut exclusive = REGISTRY.exclusive();
        exclusive.prune(horizon);
        PRUNE_SEEN.with(|p| p.set((exclusive.generation, oldest)));
        drop(exclusive);
        reg = REGISTRY.share();
    }
    if reg.overflowed {
        drop(reg);
        if !clear_settled_overflow(Some(full_xid(xmin))) {
            return None;
        }
        reg = REGISTRY.share();
    }
    let writers = &reg.writers[..reg.len as usize];
    let mut visible = Vec::new();
    if !writers.is_empty() {
        // The pruning above makes old writers rare, not impossible: a
        // VACUUM may truncate the commit log between reading its oldest id
        // and asking. Asked as pg_xact_status asks: under
        // XactTruncationLock, which the truncation takes exclusively to
        // move the oldest id before removing anything, and for ids at or
        // above that oldest id only. A writer below it (settled for
        // everyone long ago, its outcome no longer kept) makes this key
        // use the whole snapshot.
        let truncation = xact_truncation_lock()?;
        // SAFETY: a main LWLock taken in shared mode and released below
        // (an error in between releases it with every other LWLock).
        unsafe { pg_sys::LWLockAcquire(truncation, pg_sys::LWLockMode::LW_SHARED) };
        let oldest = oldest_status_held();
        let mut status_gone = false;
        for &w in writers {
            if ((w as u32).wrapping_sub(oldest) as i32) < 0 {
                status_gone = true;
                break;
            }
            let xid = pg_sys::TransactionId::from(w as u32);
            // SAFETY: visibility of a transaction id in the caller's
            // snapshot, and its commit status, which the commit log holds.
            let seen = unsafe {
                !pg_sys::XidInMVCCSnapshot(xid, std::ptr::from_ref(snap).cast_mut()) && pg_sys::TransactionIdDidCommit(xid)
            };
            if seen {
                visible.push(w);
            }
        }
        // SAFETY: taken above.
        unsafe { pg_sys::LWLockRelease(truncation) };
        if status_gone {
            return None;
        }
    }
    visible.sort_unstable();
    Some((reg.generation, epoch, visible))
}

/// PostgreSQL's `XactTruncationLock`: entry 44 of the main LWLock array in
/// every supported version (13 to 18; lwlocknames.h), verified by its name
/// once per backend. None if the entry is another lock (a server laid out
/// otherwise): keys then use the whole snapshot.
fn xact_truncation_lock() -> Option<*mut pg_sys::LWLock> {
    const XACT_TRUNCATION_LOCK: u16 = 44;
    thread_local! {
        static VERIFIED: Cell<Option<bool>> = const { Cell::new(None) };
    }
    let verified = VERIFIED.with(|v| {
        if let Some(known) = v.get() {
            return known;
        }
        // SAFETY: the name of an individual main lock, a static string.
        let name = unsafe { pg_sys::GetLWLockIdentifier(pg_sys::PG_WAIT_LWLOCK, XACT_TRUNCATION_LOCK) };
        // SAFETY: a NUL-terminated static string when not null.
        let known = !name.is_null() && unsafe { std::ffi::CStr::from_ptr(name) } == c"XactTruncation";
        v.set(Some(known));
        known
    });
    // SAFETY: the main array is set up in shared memory before any backend
    // runs queries and has more entries than this.
    verified.then(|| unsafe { std::ptr::addr_of_mut!((*pg_sys::MainLWLockArray.add(usize::from(XACT_TRUNCATION_LOCK))).lock) })
}

/// Records the current (sub)transaction as a writer of the extension's
/// tables, with a footprint of everything: for writes whose rows are not
/// described (TRUNCATE, schema changes, replication apply, and the
/// triggers of versions before footprints). The triggers call it before
/// the first row is written.
#[pg_extern(volatile, parallel_unsafe, name = "_note_write")]
fn note_write() {
    register(|f| {
        f.all = true;
        f.schemas = true;
    });
}

/// Records the current (sub)transaction as a writer of everything, a
/// schema included, before a statement that changes the triggers of a
/// table whose writers are recorded (see the module docs and
/// `crate::utility`).
pub(crate) fn note_trigger_change() {
    note_write();
    if !AVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    // A snapshot from before this change settles can still meet the
    // registry as it is after it: one taken between a DISABLE and the
    // ENABLE that follows, used once the ENABLE committed (a cursor, a
    // REPEATABLE READ transaction, an exported snapshot), lists the same
    // writers as one taken before the unrecorded writes between them. So
    // the floor rises to the next transaction id: only snapshots that see
    // this transaction settled (and with it every unrecorded write, which
    // its lock made finish first) key by the writes; older ones use the
    // whole snapshot until the horizon passes it.
    // SAFETY: reads the shared next-transaction-id counter; `note_write`
    // gave this transaction its id, which is below it.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let mut reg = REGISTRY.exclusive();
    reg.floor = reg.floor.max(next);
}

/// Whether `relid` is `rbac.tuples`, `rbac.attributes` or `rbac.schemas`
/// (by the catalog: also in a backend that has not opened them).
pub(crate) fn is_recorded_table(relid: pg_sys::Oid) -> bool {
    if relid == pg_sys::InvalidOid {
        return false;
    }
    let Some(nsp) = super::rbac_namespace() else { return false };
    // SAFETY: catalog lookups; the name is a palloc'd copy, freed here.
    unsafe {
        if pg_sys::get_rel_namespace(relid) != nsp {
            return false;
        }
        let name = pg_sys::get_rel_name(relid);
        if name.is_null() {
            return false;
        }
        let recorded = WATCHED.iter().any(|(table, _, _)| std::ffi::CStr::from_ptr(name) == *table);
        pg_sys::pfree(name.cast());
        recorded
    }
}

/// Records the current (sub)transaction as a writer and opens a statement
/// whose rows `_note_rows` records after it (see the module docs).
#[pg_extern(volatile, parallel_unsafe, name = "_note_write_begin")]
fn note_write_begin() {
    register(|f| f.open = f.open.saturating_add(1));
}

/// Closes a statement opened by `_note_write_begin`, recording the
/// entities and subjects (`type:id`) its rows touched; `complete` is false
/// when the statement wrote more rows than were described.
#[pg_extern(volatile, parallel_unsafe, name = "_note_rows")]
fn note_rows(keys: Vec<Option<String>>, complete: bool) {
    if !AVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    let hashes: Vec<u64> = keys
        .iter()
        .flatten()
        .map(|k| match k.split_once(':') {
            Some((ty, id)) => footprint_hash(ty, id),
            None => footprint_hash(k, ""),
        })
        .collect();
    // SAFETY: the statement wrote, so the subtransaction has its id.
    let full = full_xid(u32::from(unsafe { pg_sys::GetCurrentTransactionId() }));
    let mut reg = REGISTRY.exclusive();
    // Not found: the registry was full when the statement began, and keys
    // use the snapshot basis until this writer is settled for everyone.
    if let Some(i) = reg.position(full) {
        let f = &mut reg.footprints[i];
        f.open = f.open.saturating_sub(1);
        if !complete {
            f.all = true;
        }
        for h in hashes {
            f.add(h);
        }
    }
}

/// Records the current (sub)transaction as a writer (if it is not yet)
/// and applies `mark` to its footprint; drops writers every snapshot now
/// agrees on.
fn register(mark: impl FnOnce(&mut Footprint)) {
    if !AVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: assigns (or returns) the current subtransaction's id, as the
    // write about to happen would.
    let (xid, lxid) = unsafe { (u32::from(pg_sys::GetCurrentTransactionId()), local_transaction_id()) };
    let full = full_xid(xid);
    if REGISTERED.with(Cell::get) == (lxid, xid) {
        let mut reg = REGISTRY.exclusive();
        if let Some(i) = reg.position(full) {
            mark(&mut reg.footprints[i]);
            return;
        }
    }
    let horizon = horizon();
    let mut reg = REGISTRY.exclusive();
    reg.prune(horizon);
    let kept = reg.len as usize;
    let slot = match reg.position(full) {
        Some(i) => Some(i),
        None if kept < CAPACITY => {
            reg.writers[kept] = full;
            reg.footprints[kept] = Footprint::EMPTY;
            reg.len += 1;
            Some(kept)
        }
        None => {
            if !reg.overflowed {
                // Writers go unrecorded from here: a cache made before
                // cannot tell what they touched.
                let generation = reg.generation + 1;
                reg.note_left(0, generation, Footprint::UNKNOWN);
            }
            reg.overflowed = true;
            reg.refused = reg.refused.max(full);
            reg.generation += 1;
            None
        }
    };
    if let Some(i) = slot {
        mark(&mut reg.footprints[i]);
    }
    drop(reg);
    if slot.is_some() {
        REGISTERED.with(|r| r.set((lxid, xid)));
    }
}

/// What the writers between two writes bases changed (see [`changes`]).
pub(super) enum Changes {
    /// Only rows of these entities and subjects (footprint hashes; empty
    /// when writers only left the registry).
    Touched(Vec<u64>),
    /// Rows of `rbac.tuples` or `rbac.attributes` beyond what footprints
    /// describe (a statement of more than 16 rows, one still open), but
    /// not `rbac.schemas`: every read goes, the active schema stays.
    RowsOnly,
}

/// What separates a cache made under the writes basis `old` from the
/// writes basis `new`, when it is known: the footprint hashes of the
/// writers `new`'s snapshot may see and `old`'s did not, or that they
/// wrote rows beyond their footprints but no schema. `None` when the cache
/// must start afresh, schema included: another epoch, a writer `old` saw
/// that `new` does not (an older snapshot), a writer in between that may
/// have written `rbac.schemas` (or whose writes are not described at all),
/// or more writers left in between than the registry recalls.
///
/// The writers in between are those `new` lists and `old` does not, and
/// those that left the registry since `old` was made (a writer leaves once
/// every snapshot sees it settled, so `new` sees it without listing it),
/// except those `old` listed (an aborted one among them only drops more).
pub(super) fn changes(old: &(u64, u64, Vec<u64>), new: &(u64, u64, Vec<u64>)) -> Option<Changes> {
    if old.1 != new.1 || !AVAILABLE.load(Ordering::Relaxed) {
        return None;
    }
    let reg = REGISTRY.share();
    if reg.overflowed {
        return None;
    }
    // None once a writer's rows are beyond its footprint.
    let mut touched = Some(Vec::new());
    let mut add = |f: &Footprint| -> Option<()> {
        if f.schemas {
            return None;
        }
        match (f.known(), touched.as_mut()) {
            (Some(keys), Some(t)) => t.extend_from_slice(keys),
            (None, _) => touched = None,
            (Some(_), None) => {}
        }
        Some(())
    };
    // Both lists are sorted.
    let (mut i, mut j) = (0, 0);
    while i < old.2.len() || j < new.2.len() {
        match (old.2.get(i), new.2.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                // Seen committed by `old`'s snapshot and not listed for
                // `new`'s: fine only if it left the registry, which it
                // does once it is settled for every snapshot that exists
                // (this one included).
                if reg.position(*a).is_some() {
                    return None;
                }
                i += 1;
            }
            (_, Some(b)) => {
                add(reg.footprint(*b)?)?;
                j += 1;
            }
            (_, None) => unreachable!("the loop runs while either list has ids"),
        }
    }
    if new.0 != old.0 {
        // Writers that left since `old` was made: every one must still be
        // held (the oldest held left no later than `old`'s generation).
        if reg.left_count > LEFT as u64 && reg.left_held().next().is_some_and(|(_, g, _)| *g > old.0) {
            return None;
        }
        // Those that left since are the newest entries: the ring is read
        // from its end, not whole (512 footprints, most of them older).
        for (w, _, f) in reg.left_held().rev().take_while(|(_, g, _)| *g > old.0) {
            if old.2.binary_search(w).is_ok() {
                continue;
            }
            add(f)?;
        }
    }
    Some(touched.map_or(Changes::RowsOnly, Changes::Touched))
}

/// Whether this backend's current transaction has recorded itself as a
/// writer of the extension's tables (its own writes then count by command).
pub(super) fn wrote_in_this_transaction() -> bool {
    // SAFETY: reads this backend's PGPROC.
    let lxid = unsafe { local_transaction_id() };
    REGISTERED.with(|r| r.get().0 == lxid && r.get().1 != 0)
}
