//! Which committed data a snapshot sees, as a value that two snapshots
//! share exactly when they see the same data — the key of the read cache.
//!
//! Two MVCC snapshots see the same committed data when they agree on `xmax`
//! and on the transactions in progress (`xip` and `subxip`; on a hot
//! standby all of them are in `subxip`): a transaction id below `xmax` and
//! not in progress had completed when either snapshot was taken, so its
//! commit or abort is settled and visible alike to both; everything else is
//! invisible to both. That is PostgreSQL's own visibility rule
//! (`XidInMVCCSnapshot`), so no trigger, no invalidation message and no
//! timing argument is involved: a revocation that commits leaves the
//! in-progress list (or moves `xmax`), and the next call starts afresh.
//!
//! The key also holds
//! - the current user (reads are made with that user's privileges),
//! - and, once the caller's own transaction has written anything (it has a
//!   transaction id), that id, the snapshot's command id and the current
//!   subtransaction: own changes are visible by command id, and a rolled
//!   back savepoint always continues in a new subtransaction.
//!
//! SERIALIZABLE transactions (their reads must take predicate locks) and
//! non-MVCC snapshots have no key: their reads are never shared.

use pgrx::pg_sys;

/// Which data a snapshot sees, as far as reads are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SnapshotKey {
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
    pub(super) fn current() -> Option<SnapshotKey> {
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

/// `xid` (of a live snapshot, so within 2^31 of the next id) with the
/// epoch it belongs to.
fn with_epoch(xid: u32) -> u64 {
    // SAFETY: reads the shared next-transaction-id counter under its lock.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() }.value;
    let (epoch, next_xid) = (next >> 32, next as u32);
    let epoch = if xid > next_xid { epoch.saturating_sub(1) } else { epoch };
    (epoch << 32) | u64::from(xid)
}

/// This backend's local transaction id (new for every transaction).
/// SAFETY: reads this backend's PGPROC.
#[cfg(not(any(feature = "pg17", feature = "pg18")))]
pub(super) unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).lxid }
}

#[cfg(any(feature = "pg17", feature = "pg18"))]
pub(super) unsafe fn local_transaction_id() -> u32 {
    unsafe { (*pg_sys::MyProc).vxid.lxid }
}
