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
//!   back to the snapshot basis until it is enabled again; the disabling and
//!   the enabling are relcache invalidations, which bump the epoch, so no
//!   key made on one side of such a period matches one made on the other.
//!   A transaction that wrote while triggers were disabled committed after
//!   the disabling was sent to every backend (its own backend had to see
//!   it), so a reader whose snapshot sees such a write has the disabling in
//!   its invalidation queue. Also on the snapshot basis: hot standbys
//!   (replay runs no triggers), a full registry, and the library loaded
//!   without preloading.

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
}

impl Default for Registry {
    fn default() -> Self {
        Registry { generation: 1, len: 0, overflowed: false, refused: 0, writers: [0; CAPACITY] }
    }
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
    let ok = WATCHED.iter().all(|(table, statement, row)| {
        super::index_scan::with_triggers(table, |name, enabled| match name {
            n if n == *statement => Some(enabled == pg_sys::TRIGGER_FIRES_ALWAYS as u8),
            n if n == *row => Some(enabled == pg_sys::TRIGGER_FIRES_ALWAYS as u8 || enabled == pg_sys::TRIGGER_FIRES_ON_REPLICA as u8),
            _ => None,
        })
    });
    TRIGGERS.with(|t| t.set(Some((epoch, ok))));
    ok
}

/// The writes basis of a key for `snap`: (generation, epoch, the registered
/// writers `snap` sees committed), or None where keys must use the whole
/// snapshot (see the module docs).
pub(super) fn basis(snap: &pg_sys::SnapshotData) -> Option<(u64, u64, Vec<u64>)> {
    if !AVAILABLE.load(Ordering::Relaxed) || !crate::guc::cache_across_commits() {
        return None;
    }
    // SAFETY: reads of recovery state; processing invalidations is what
    // every lock acquisition does.
    unsafe {
        if pg_sys::RecoveryInProgress() {
            return None;
        }
        pg_sys::AcceptInvalidationMessages();
    }
    if !triggers_enabled() {
        return None;
    }
    let epoch = EPOCH.with(Cell::get);
    let reg = REGISTRY.share();
    if reg.overflowed {
        return None;
    }
    let mut visible = Vec::new();
    for &w in &reg.writers[..reg.len as usize] {
        let xid = pg_sys::TransactionId::from(w as u32);
        // SAFETY: visibility of a recent transaction id in the caller's
        // snapshot, and its commit status.
        let seen = unsafe {
            !pg_sys::XidInMVCCSnapshot(xid, std::ptr::from_ref(snap).cast_mut()) && pg_sys::TransactionIdDidCommit(xid)
        };
        if seen {
            visible.push(w);
        }
    }
    visible.sort_unstable();
    Some((reg.generation, epoch, visible))
}

/// Records the current (sub)transaction as a writer of the extension's
/// tables (the triggers call it before the first row is written), and
/// drops writers every snapshot now agrees on.
#[pg_extern(volatile, parallel_unsafe, name = "_note_write")]
fn note_write() {
    if !AVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: assigns (or returns) the current subtransaction's id, as the
    // write about to happen would.
    let (xid, lxid) = unsafe { (u32::from(pg_sys::GetCurrentTransactionId()), local_transaction_id()) };
    if REGISTERED.with(Cell::get) == (lxid, xid) {
        return;
    }
    // SAFETY: the oldest transaction id any snapshot may still consider
    // running (all databases, replication slots included).
    let horizon = full_xid(u32::from(unsafe { pg_sys::GetOldestNonRemovableTransactionId(std::ptr::null_mut()) }));
    let full = full_xid(xid);
    let mut reg = REGISTRY.exclusive();
    let len = reg.len as usize;
    let mut kept = 0;
    for i in 0..len {
        let w = reg.writers[i];
        if w >= horizon {
            reg.writers[kept] = w;
            kept += 1;
        }
    }
    if kept < len {
        reg.generation += 1;
    }
    if reg.overflowed && reg.refused < horizon {
        // Every writer that went unrecorded is settled for every snapshot.
        reg.overflowed = false;
        reg.generation += 1;
    }
    reg.len = kept as u32;
    let recorded = if reg.writers[..kept].contains(&full) {
        true
    } else if kept < CAPACITY {
        reg.writers[kept] = full;
        reg.len += 1;
        true
    } else {
        reg.overflowed = true;
        reg.refused = reg.refused.max(full);
        reg.generation += 1;
        false
    };
    drop(reg);
    if recorded {
        REGISTERED.with(|r| r.set((lxid, xid)));
    }
}

/// Whether this backend's current transaction has recorded itself as a
/// writer of the extension's tables (its own writes then count by command).
pub(super) fn wrote_in_this_transaction() -> bool {
    // SAFETY: reads this backend's PGPROC.
    let lxid = unsafe { local_transaction_id() };
    REGISTERED.with(|r| r.get().0 == lxid && r.get().1 != 0)
}

/// Registry contents for `rbac.cache_stats`-style inspection:
/// (available, generation, writers held, overflowed).
pub fn registry_state() -> (bool, u64, u32, bool) {
    if !AVAILABLE.load(Ordering::Relaxed) {
        return (false, 0, 0, false);
    }
    let reg = REGISTRY.share();
    (true, reg.generation, reg.len, reg.overflowed)
}
