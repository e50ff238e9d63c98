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

use crate::pg_ffi as ffi;

use super::xid::{full_xid, local_transaction_id};

/// Which data a snapshot sees, as far as reads are concerned.
#[derive(Debug, Clone, Eq)]
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
    /// transaction has written something (with the writes basis: something
    /// in the extension's tables).
    own: Option<(u32, u32, u32)>,
    /// This backend's epoch (see `writes`), moved by every invalidation of
    /// the extension's tables: TRUNCATE and table rewrites are not
    /// MVCC-safe, so a snapshot from before one that reads after it (a
    /// REPEATABLE READ transaction, a cursor, a standby's reader) sees the
    /// emptied table, and must not be served rows cached under the same
    /// snapshot before it. (The writes basis carries it too.)
    epoch: u64,
    /// The writes basis (see `writes`): (registry generation, this
    /// backend's epoch, the registered writers the snapshot sees). When
    /// set, `xmax`, `xip`, `subxip` and `suboverflowed` are left empty:
    /// other commits do not change the key.
    writes: Option<(u64, u64, Vec<u64>)>,
}

/// Field by field; empty lists are compared without `memcmp` (see
/// [`same_ids`]): with the writes basis they are always empty, and every
/// call compares its key with the cache's.
impl PartialEq for SnapshotKey {
    fn eq(&self, other: &Self) -> bool {
        fn same<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.len() == b.len() && (a.is_empty() || a == b)
        }
        self.xmax == other.xmax
            && self.epoch == other.epoch
            && self.user == other.user
            && self.own == other.own
            && self.suboverflowed == other.suboverflowed
            && self.recovery == other.recovery
            && same(&self.xip, &other.xip)
            && same(&self.subxip, &other.subxip)
            && match (&self.writes, &other.writes) {
                (None, None) => true,
                (Some((g1, e1, v1)), Some((g2, e2, v2))) => g1 == g2 && e1 == e2 && same(v1, v2),
                _ => false,
            }
    }
}

impl SnapshotKey {
    /// What `self` sees that `old` did not, when that is only rows of
    /// other transactions' committed writes to the extension's tables (see
    /// `writes::changes`): their footprint hashes, or that they wrote rows
    /// beyond them but no schema. `None` when a cache made under `old` must
    /// start afresh for `self`: another user, either key with the caller's
    /// own writes, or either on the whole snapshot's basis.
    pub(super) fn changes_since(&self, old: &SnapshotKey) -> Option<super::writes::Changes> {
        if self.user != old.user || self.own.is_some() || old.own.is_some() {
            return None;
        }
        super::writes::changes(old.writes.as_ref()?, self.writes.as_ref()?)
    }

    /// The key of the active snapshot, or `None` if reads in it must not
    /// be shared.
    pub(super) fn current() -> Option<SnapshotKey> {
        // SAFETY: reads of the active snapshot (valid for the duration of
        // the calling statement) and of backend-local transaction state.
        unsafe {
            if !ffi::ActiveSnapshotSet() || pg_sys::XactIsoLevel == pg_sys::XACT_SERIALIZABLE as i32 {
                return None;
            }
            let snap = &*ffi::GetActiveSnapshot();
            if snap.snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
                return None;
            }
            let ids = |ptr: *const u32, n: usize| -> Vec<u32> {
                let mut v = if n == 0 || ptr.is_null() { Vec::new() } else { std::slice::from_raw_parts(ptr, n).to_vec() };
                v.sort_unstable();
                v
            };
            let xid = ffi::GetTopTransactionIdIfAny();
            let own = (xid != pg_sys::InvalidTransactionId)
                .then(|| (u32::from(xid), snap.curcid, ffi::GetCurrentSubTransactionId()));
            // (After `basis`, which takes in pending invalidations.)
            let writes = super::writes::basis(snap);
            let epoch = super::writes::epoch();
            if let Some(writes) = writes {
                return Some(SnapshotKey {
                    xmax: 0,
                    xip: Vec::new(),
                    subxip: Vec::new(),
                    suboverflowed: false,
                    recovery: false,
                    epoch,
                    user: ffi::GetUserId(),
                    own: own.filter(|_| super::writes::wrote_in_this_transaction()),
                    writes: Some(writes),
                });
            }
            Some(SnapshotKey {
                xmax: full_xid(u32::from(snap.xmax)),
                xip: ids(snap.xip.cast(), snap.xcnt as usize),
                subxip: ids(snap.subxip.cast(), snap.subxcnt.max(0) as usize),
                suboverflowed: snap.suboverflowed,
                recovery: snap.takenDuringRecovery,
                epoch,
                user: ffi::GetUserId(),
                own,
                writes: None,
            })
        }
    }
}

/// The active snapshot of the current statement as raw values, compared
/// without allocating: for memos that live one statement (the per-row
/// function of `rbac.protect`'s policies compares it on every row, where
/// building a [`SnapshotKey`] would cost an allocation and a sort).
///
/// Equal values see the same data by the same rule as [`SnapshotKey`]
/// (`xmax`, the in-progress lists, the caller's own writes by command id and
/// subtransaction, the user, this backend's table epoch: a TRUNCATE of the
/// extension's tables by a function the statement calls is not MVCC-safe,
/// and later rows must not be answered from what an earlier row read). The
/// xid epoch is left out: a value never outlives its statement (the
/// statement's start time and the local transaction id are part of it), and
/// no statement sees 2^32 transactions go by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementSnapshot {
    statement_start: i64,
    lxid: u32,
    user: pg_sys::Oid,
    xid: u32,
    subxact: u32,
    curcid: u32,
    xmin: u32,
    xmax: u32,
    recovery: bool,
    suboverflowed: bool,
    xip: Vec<u32>,
    subxip: Vec<u32>,
    tables: u64,
}

impl StatementSnapshot {
    /// The active snapshot, or `None` if there is none (or it is not MVCC).
    pub(crate) fn active() -> Option<StatementSnapshot> {
        let mut s = StatementSnapshot {
            statement_start: 0,
            lxid: 0,
            user: pg_sys::InvalidOid,
            xid: 0,
            subxact: 0,
            curcid: 0,
            xmin: 0,
            xmax: 0,
            recovery: false,
            suboverflowed: false,
            xip: Vec::new(),
            subxip: Vec::new(),
            tables: 0,
        };
        s.refresh().then_some(s)
    }

    /// Whether the active snapshot is still the one recorded (no
    /// allocation).
    pub(crate) fn is_active(&self) -> bool {
        // SAFETY: as in `refresh`.
        unsafe {
            let Some(snap) = active_mvcc() else { return false };
            let (xid, subxact) = own_ids();
            self.statement_start == ffi::GetCurrentStatementStartTimestamp()
                && self.lxid == local_transaction_id()
                && self.user == ffi::GetUserId()
                && (self.xid, self.subxact) == (xid, subxact)
                && self.curcid == snap.curcid
                && self.xmin == u32::from(snap.xmin)
                && self.xmax == u32::from(snap.xmax)
                && self.recovery == snap.takenDuringRecovery
                && self.suboverflowed == snap.suboverflowed
                && same_ids(&self.xip, raw_ids(snap.xip.cast(), snap.xcnt as usize))
                && same_ids(&self.subxip, raw_ids(snap.subxip.cast(), snap.subxcnt.max(0) as usize))
                && super::writes::epoch_checked() == Some(self.tables)
        }
    }

    fn refresh(&mut self) -> bool {
        // SAFETY: reads of the active snapshot (valid for the duration of
        // the calling statement) and of backend-local transaction state.
        unsafe {
            let Some(snap) = active_mvcc() else { return false };
            let (xid, subxact) = own_ids();
            self.statement_start = ffi::GetCurrentStatementStartTimestamp();
            self.lxid = local_transaction_id();
            self.user = ffi::GetUserId();
            (self.xid, self.subxact) = (xid, subxact);
            self.curcid = snap.curcid;
            self.xmin = u32::from(snap.xmin);
            self.xmax = u32::from(snap.xmax);
            self.recovery = snap.takenDuringRecovery;
            self.suboverflowed = snap.suboverflowed;
            self.xip = raw_ids(snap.xip.cast(), snap.xcnt as usize).to_vec();
            self.subxip = raw_ids(snap.subxip.cast(), snap.subxcnt.max(0) as usize).to_vec();
            self.tables = super::writes::epoch();
            true
        }
    }
}

/// The active snapshot if it is an MVCC one.
/// SAFETY: the reference is valid for the calling statement only.
unsafe fn active_mvcc() -> Option<&'static pg_sys::SnapshotData> {
    unsafe {
        if !ffi::ActiveSnapshotSet() {
            return None;
        }
        let snap = &*ffi::GetActiveSnapshot();
        (snap.snapshot_type == pg_sys::SnapshotType::SNAPSHOT_MVCC).then_some(snap)
    }
}

/// The caller's transaction id and subtransaction, once it has written.
/// SAFETY: backend-local transaction state.
unsafe fn own_ids() -> (u32, u32) {
    unsafe {
        let xid = u32::from(ffi::GetTopTransactionIdIfAny());
        if xid == 0 { (0, 0) } else { (xid, ffi::GetCurrentSubTransactionId()) }
    }
}

/// Element by element, not `==`: slice equality calls `memcmp` even for
/// empty slices, whose pointer is a dangling 0x4; glibc's AVX-512 `memcmp`
/// then issues a masked load from that unmapped address, which the CPU
/// suppresses in microcode at a cost of hundreds of cycles — measured as
/// 70% of a policy's per-row time on a table scan.
fn same_ids(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// SAFETY: `ptr` points to `n` ids (or `n` is 0).
unsafe fn raw_ids<'a>(ptr: *const u32, n: usize) -> &'a [u32] {
    if n == 0 || ptr.is_null() { &[] } else { unsafe { std::slice::from_raw_parts(ptr, n) } }
}

