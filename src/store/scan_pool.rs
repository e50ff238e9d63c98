//! Index scans kept open from one call to the next within a transaction.
//!
//! Opening a scan — the relations (with their lock and privilege check),
//! the scan descriptor, the tuple slot — and closing it again cost about a
//! tenth of a cold check's instructions, paid by every call: a loop of
//! checks, and every row an `rbac.protect` policy checks. Here a call's
//! scans are handed back when it ends and handed out again to the next call
//! of the same transaction, re-pointed at that call's snapshot.
//!
//! What makes that safe:
//! - **Resources.** A kept scan's relations, buffer pins and tuple
//!   descriptor are registered with a resource owner of the pool's own
//!   (a child of the transaction's), its memory lives in a context of its
//!   own (a child of the transaction's), and every call into the scan runs
//!   with both current ([`at`]). So a statement's end, which releases the
//!   statement's resource owner and resets its memory, leaves kept scans
//!   alone, and a rolled-back savepoint does too.
//! - **Nothing held while idle that others wait for.** A scan handed back
//!   drops its buffer pins (a rescan releases the leaf page and the heap
//!   page; the visibility-map page is released): VACUUM's cleanup locks,
//!   and a standby's replay, never wait for an idle scan. Its relation
//!   locks are the `AccessShareLock`s the transaction holds anyway (to its
//!   end, even past a rolled-back savepoint — never shorter).
//! - **Same privileges and definitions.** A kept scan was opened after the
//!   privilege check of its user, on relations whose index columns were
//!   verified. The pool is only used under the same (local transaction,
//!   current user, state of roles and memberships, invalidation epoch of
//!   the extension's tables): `GRANT`, `REVOKE`, `SET ROLE`, a security
//!   definer function, any change of the tables' definitions — in this
//!   session or committed by another — starts a new pool.
//! - **DDL of the same transaction.** PostgreSQL refuses `TRUNCATE`,
//!   `ALTER TABLE`, `DROP` and the like on a table with open references
//!   ("in use by active queries"): the pool is closed before every utility
//!   statement (see `utility`).
//! - **Errors.** A call that unwinds (an error, a cancel) may leave a scan
//!   half way through a PostgreSQL call: the pool is then marked poisoned
//!   and its next use, or the transaction's end, releases its resource owner
//!   whole without touching any scan. The pool is closed the same way
//!   before every commit or prepare; on abort, PostgreSQL's own release of
//!   the transaction's resources takes it.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;

use pgrx::pg_guard;
use pgrx::pg_sys;

use super::index_scan::IndexScan;

/// Where a kept scan's resources and memory live.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Home {
    owner: pg_sys::ResourceOwner,
    context: pg_sys::MemoryContext,
    /// The pool's generation: a scan of an older one is inert (its
    /// resources went with its resource owner).
    generation: u64,
}

/// (local transaction, current user, roles epoch, tables epoch): see the
/// module comment.
type Stamp = (u32, pg_sys::Oid, u64, u64);

struct Pool {
    home: Home,
    stamp: Stamp,
    idle: Vec<IndexScan>,
    /// Scans handed out and not yet back.
    lent: usize,
    /// A call unwound while it had scans of this pool.
    poisoned: bool,
}

/// The memory a pool may hold before it is closed and opened afresh.
/// Scans allocate a little in the current context on some re-keys that
/// nothing frees before the scan ends (PostgreSQL 18's skip arrays copy
/// their current element there): bounded here, whatever the version does.
const POOL_MEMORY: usize = 4 << 20;

impl Pool {
    fn outgrown(&self) -> bool {
        // SAFETY: the pool's own context, alive while the pool is.
        unsafe { pg_sys::MemoryContextMemAllocated(self.home.context, true) > POOL_MEMORY }
    }
}

/// Idle scans kept per index and key columns (a lookup's reverse walks
/// use up to eight of `tuples_by_subject`).
const IDLE_PER_KIND: usize = 8;

thread_local! {
    static POOL: RefCell<Option<Pool>> = const { RefCell::new(None) };
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// Between the transaction's pre-commit and its end: nothing is kept.
    static CLOSED: Cell<bool> = const { Cell::new(false) };
}

/// Called from `_PG_init`: close the pool at every transaction's end, and
/// a poisoned one when the savepoint its error rolled back is gone.
pub fn init() {
    // SAFETY: plain callbacks registered once per backend.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// A call that failed inside a subtransaction (a PL/pgSQL exception
/// block, a savepoint) poisoned the pool: its owner is released now rather
/// than at the next call, which may be long in coming (and a scan stopped
/// half way may hold a buffer pin VACUUM would wait for).
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB
        && POOL.with(|p| p.borrow().as_ref().is_some_and(|pool| pool.poisoned && pool.lent == 0))
    {
        close();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PARALLEL_PRE_COMMIT | XACT_EVENT_PRE_PREPARE => {
            CLOSED.set(true);
            close();
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            CLOSED.set(false);
            // The transaction's resource owner, a parent of the pool's, and
            // its memory, a parent of the pool's, are released next.
            forget();
        }
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => CLOSED.set(false),
        _ => {}
    }
}

/// Before a utility statement: close the pool, so that no kept reference
/// makes PostgreSQL refuse DDL on the extension's tables as "in use". (Not
/// while a call has scans out: no utility statement runs inside one; should
/// one ever, the DDL is refused, as it would be with a cursor open.)
pub(crate) fn before_utility() {
    let busy = POOL.with(|p| p.borrow_mut().as_mut().is_some_and(|pool| {
        pool.poisoned |= pool.lent > 0;
        pool.lent > 0
    }));
    if !busy {
        close();
    }
}

/// The current stamp, when scans may be kept now: inside a transaction
/// that is not committing, not in parallel mode, reading in an MVCC
/// snapshot.
fn stamp_now() -> Option<Stamp> {
    if CLOSED.get() {
        return None;
    }
    // SAFETY: backend-local transaction state.
    unsafe {
        use crate::pg_ffi as ffi;
        if !ffi::IsTransactionState()
            || ffi::IsInParallelMode()
            || pg_sys::TopTransactionResourceOwner.is_null()
            || !ffi::ActiveSnapshotSet()
        {
            return None;
        }
        let snap = ffi::GetActiveSnapshot();
        if (*snap).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC {
            return None;
        }
        Some((super::xid::local_transaction_id(), ffi::GetUserId(), super::reads::roles_epoch(), super::writes::epoch()))
    }
}

/// The pool for `stamp`: the current one, or a new one when there is none
/// or it no longer applies (and no scan of it is out).
fn with_pool<R>(stamp: Stamp, f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    let stale = POOL.with(|p| p.borrow().as_ref().map(|pool| pool.poisoned || pool.stamp != stamp || pool.outgrown()));
    match stale {
        Some(true) => {
            if POOL.with(|p| p.borrow().as_ref().is_some_and(|pool| pool.lent > 0)) {
                // A nested call as another user (none is known): unkept.
                return None;
            }
            close();
            open(stamp);
        }
        None => open(stamp),
        Some(false) => {}
    }
    POOL.with(|p| p.borrow_mut().as_mut().map(f))
}

fn open(stamp: Stamp) {
    // SAFETY: inside a transaction (checked by `stamp_now`): children of
    // the transaction's resource owner and memory context, released with
    // them at the latest.
    let home = unsafe {
        let owner = pg_sys::ResourceOwnerCreate(pg_sys::TopTransactionResourceOwner, c"notion_rbac scans".as_ptr());
        let context = pg_sys::AllocSetContextCreateInternal(
            pg_sys::TopTransactionContext,
            c"notion_rbac scans".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        Home { owner, context, generation: GENERATION.get() }
    };
    POOL.with(|p| *p.borrow_mut() = Some(Pool { home, stamp, idle: Vec::new(), lent: 0, poisoned: false }));
}

/// Releases the pool's resource owner whole — buffer pins, relation
/// references and tuple descriptors without a leak warning (a poisoned
/// pool's scans cannot be closed one by one), its locks passed on to the
/// transaction — and frees its memory. Its scans become inert.
fn close() {
    let Some(pool) = POOL.with(|p| p.borrow_mut().take()) else { return };
    GENERATION.set(GENERATION.get().wrapping_add(1));
    // SAFETY: the pool's own owner and context, created by `open`, not
    // current (every use restores what it found); nothing of theirs is
    // used after this (the generation moved).
    unsafe {
        use pg_sys::ResourceReleasePhase::*;
        let owner = pool.home.owner;
        pg_sys::ResourceOwnerRelease(owner, RESOURCE_RELEASE_BEFORE_LOCKS, false, false);
        pg_sys::ResourceOwnerRelease(owner, RESOURCE_RELEASE_LOCKS, true, false);
        pg_sys::ResourceOwnerRelease(owner, RESOURCE_RELEASE_AFTER_LOCKS, false, false);
        pg_sys::ResourceOwnerDelete(owner);
        pg_sys::MemoryContextDelete(pool.home.context);
    }
    drop(pool);
}

/// Drops the pool without calling PostgreSQL (transaction abort releases
/// its owner and memory with the transaction's).
fn forget() {
    let pool = POOL.with(|p| p.borrow_mut().take());
    GENERATION.set(GENERATION.get().wrapping_add(1));
    drop(pool);
}

/// A kept scan of `index` opened with `key_columns`, re-pointed at the
/// active snapshot; `None` when there is none to hand out.
pub(super) fn take(index: &'static CStr, key_columns: &[i32]) -> Option<IndexScan> {
    let stamp = stamp_now()?;
    with_pool(stamp, |pool| {
        let i = pool.idle.iter().rposition(|s| s.is_kind(index, key_columns))?;
        let mut scan = pool.idle.swap_remove(i);
        pool.lent += 1;
        scan.reuse_in_active_snapshot();
        Some(scan)
    })
    .flatten()
}

/// Where a new scan should be opened to be kept, or `None` when it cannot
/// be kept.
pub(super) fn home() -> Option<Home> {
    let stamp = stamp_now()?;
    with_pool(stamp, |pool| pool.home)
}

/// A scan of `home` was just opened (and is out until handed back).
pub(super) fn handed_out(home: Home) {
    if home.generation == GENERATION.get() {
        POOL.with(|p| {
            if let Some(pool) = p.borrow_mut().as_mut() {
                pool.lent += 1;
            }
        });
    }
}

/// A scan of `home` is no longer used by its call (from its destructor):
/// kept for the next call, closed if enough of its kind are kept, or left
/// to the pool's release when its call unwound (or the pool is poisoned,
/// or gone). `scan` is left closed.
pub(super) fn hand_back(home: Home, scan: &mut IndexScan) {
    if home.generation != GENERATION.get() {
        scan.abandon();
        return;
    }
    let unwinding = std::thread::panicking();
    // Decided with the pool borrowed; PostgreSQL is called without (an
    // error there unwinds through this scan's own destructor).
    let keep = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.as_mut()?;
        let keep = !(unwinding || pool.poisoned) && pool.idle.iter().filter(|s| s.same_kind(scan)).count() < IDLE_PER_KIND;
        if !keep {
            pool.lent = pool.lent.saturating_sub(1);
        }
        if unwinding {
            // Its state may be half way through a PostgreSQL call: only the
            // release of the whole owner is safe now.
            pool.poisoned = true;
        }
        Some((keep, pool.poisoned))
    });
    match keep {
        None => scan.abandon(),
        Some((false, true)) => {
            // Poisoned while this call went on (a utility statement inside
            // it, another call's error): this scan is whole, and must not
            // hold pins until the pool is released.
            if !unwinding {
                scan.release_pins();
            }
            scan.abandon();
        }
        Some((false, false)) => scan.close_now(),
        Some((true, _)) => {
            let mut kept = scan.move_out();
            kept.release_pins();
            POOL.with(|p| {
                if let Some(pool) = p.borrow_mut().as_mut() {
                    pool.lent = pool.lent.saturating_sub(1);
                    pool.idle.push(kept);
                }
            });
        }
    }
}

/// Runs `f` with `home`'s resource owner and memory context current (or
/// as it is, without one), restoring them afterwards, also when `f`
/// unwinds.
pub(super) fn at<R>(home: Option<Home>, f: impl FnOnce() -> R) -> R {
    let Some(home) = home else { return f() };
    struct Restore(pg_sys::ResourceOwner, pg_sys::MemoryContext, Home);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: what `at` found current.
            unsafe {
                pg_sys::CurrentResourceOwner = self.0;
                pg_sys::CurrentMemoryContext = self.1;
            }
            if std::thread::panicking() {
                // An error half way through a PostgreSQL call (opening a
                // scan too: what it had taken is the owner's now).
                poison(self.2);
            }
        }
    }
    // SAFETY: the pool's owner and context are alive while its generation
    // is current (callers hold a scan of it).
    let _restore = unsafe {
        let restore = Restore(pg_sys::CurrentResourceOwner, pg_sys::CurrentMemoryContext, home);
        pg_sys::CurrentResourceOwner = home.owner;
        pg_sys::CurrentMemoryContext = home.context;
        restore
    };
    f()
}

/// Marks `home`'s pool (if it is still the current one) poisoned.
fn poison(home: Home) {
    if home.generation == GENERATION.get() {
        POOL.with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && let Some(pool) = p.as_mut()
            {
                pool.poisoned = true;
            }
        });
    }
}

/// How many scans are kept idle now (for tests).
#[cfg(any(test, feature = "pg_test"))]
pub(crate) fn idle_scans() -> usize {
    POOL.with(|p| p.borrow().as_ref().map_or(0, |pool| pool.idle.len()))
}
