//! The entry point of every check and lookup: the active schema and a tuple
//! source reading in the caller's snapshot, through the backend's read
//! cache when the snapshot allows it (see [`super::read_cache`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use notion_rbac_core::model::Schema;
use pgrx::pg_sys;
use pgrx::pg_guard;

use super::index_scan::lock_for_reading;
use super::read_cache::{ReadCache, CACHE};
use super::schema::{self, ActiveSchema};
use super::snapshot_key::SnapshotKey;
use super::xid::local_transaction_id;
use super::source::IndexSource;
use crate::guc;

/// Runs `f` with the active schema and a tuple source reading in the
/// caller's snapshot, through the backend's read cache when the snapshot
/// allows it (see the module comment).
pub fn read<R>(f: impl FnOnce(&Schema, &mut IndexSource) -> R) -> R {
    read_active(|active, source| f(&active.schema, source))
}

/// [`read`], handing over the active schema itself: for callers that keep
/// results keyed by it across calls (they hold the `Rc`, so the schema
/// stays alive, and compare it with `Rc::ptr_eq`).
pub fn read_active<R>(f: impl FnOnce(&Rc<ActiveSchema>, &mut IndexSource) -> R) -> R {
    // A consistency token the statement's snapshot does not cover: read in
    // a new snapshot (see `consistency`); popped again below (an error
    // ends the transaction, which unwinds the stack).
    if super::consistency::take_fresh() {
        // SAFETY: PushActiveSnapshot copies the static latest snapshot.
        unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
        let out = read_in_active(f);
        // SAFETY: pops the snapshot pushed above.
        unsafe { pg_sys::PopActiveSnapshot() };
        return out;
    }
    read_in_active(f)
}

fn read_in_active<R>(f: impl FnOnce(&Rc<ActiveSchema>, &mut IndexSource) -> R) -> R {
    let limit = guc::cache_rows();
    CACHE.with(|cell| {
        // A nested call (none is known) would find the cache borrowed: it
        // then reads without it rather than fail.
        let mut shared = cell.try_borrow_mut().ok();
        // The tables' locks before the key: a lock this call waits for is
        // one a TRUNCATE (or a schema change) holds, and taking it takes in
        // what committed meanwhile (the invalidations that move this
        // backend's epoch). A TRUNCATE is not MVCC-safe: a snapshot taken
        // before it committed reads the emptied table once it has, so a key
        // made before the wait would match the cache's and answer from the
        // rows it removed. (Locks already held in this transaction cost no
        // wait.)
        let checked_now = shared.as_deref_mut().map(|c| guard_tables(c, limit > 0).then_some(c.guarded)).flatten();
        let key = SnapshotKey::current();
        if key.is_none() {
            shared = None;
        }
        // The compiled schema is kept under the same rule even when tuple
        // reads are not cached: it saves the version probe of every call.
        let active = match (shared.as_deref_mut(), key) {
            (Some(c), Some(key)) => {
                c.enter(key, limit);
                match checked_now {
                    // A new key empties the stamp; the locks and checks
                    // this call just made hold for it (nothing can change
                    // in between), so they need not be made twice.
                    Some(stamp) if c.guarded.is_none() => c.guarded = stamp,
                    // The stamp was an earlier call's: a new key (a commit,
                    // a command) may follow a change of privileges.
                    _ => {
                        guard_tables(c, limit > 0);
                    }
                }
                c.schema.get_or_insert_with(schema::require_active).clone()
            }
            _ => schema::require_active(),
        };
        match shared.as_deref_mut() {
            Some(c) if limit > 0 => f(&active, &mut IndexSource::new(&active.schema, c)),
            // Reads not cached past the call: through a cache of this call
            // alone, the backend's reused one (see `reset_one_call`) unless
            // a nested call holds it.
            _ => ONE_CALL.with(|cell| match cell.try_borrow_mut() {
                Ok(c) => {
                    // Emptied when the call ends, by a guard, so also when
                    // it fails (an error unwinds through here): nothing is
                    // held between calls but the maps' room.
                    struct EmptiedAfter<'c>(std::cell::RefMut<'c, ReadCache>);
                    impl Drop for EmptiedAfter<'_> {
                        fn drop(&mut self) {
                            self.0.reset_one_call();
                        }
                    }
                    let mut c = EmptiedAfter(c);
                    f(&active, &mut IndexSource::new(&active.schema, &mut c.0))
                }
                Err(_) => f(&active, &mut IndexSource::new(&active.schema, &mut ReadCache::one_call())),
            }),
        }
    })
}

thread_local! {
    /// The cache of calls whose reads are not kept past them, reused from
    /// call to call.
    static ONE_CALL: RefCell<ReadCache> = RefCell::new(ReadCache::one_call());
}

thread_local! {
    /// Bumped by every change to roles or role memberships this backend
    /// learns of: a role's privileges on the tables can change without
    /// any change to the tables (REVOKE rbac_reader FROM …).
    static ROLES_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// The count of role and membership changes this backend has seen.
pub(super) fn roles_epoch() -> u64 {
    ROLES_EPOCH.with(Cell::get)
}

/// Called from `_PG_init` (every backend): watch roles and memberships,
/// and close the kept scans at every transaction's end.
pub fn init() {
    super::scan_pool::init();
    // SAFETY: plain callbacks registered once per backend.
    unsafe {
        for cache in [pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM, pg_sys::SysCacheIdentifier::AUTHOID] {
            pg_sys::CacheRegisterSyscacheCallback(cache as i32, Some(on_roles_changed), pg_sys::Datum::from(0));
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_roles_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    ROLES_EPOCH.with(|e| e.set(e.get().wrapping_add(1)));
}

/// Answers may come from the cache alone: take the locks and make the
/// privilege checks a read of the tables would (the schema is always kept;
/// tuples and attributes when `tuples` is set) — once per subtransaction,
/// user and state of roles: locks last to the end of the (sub)transaction
/// that took them; a change of the tables' privileges is a commit (or, in
/// the caller's transaction, a command), which changes the snapshot key and
/// so empties `guarded`; and a change of roles or memberships moves
/// [`ROLES_EPOCH`].
/// True when it took the locks and made the checks now (false: the stamp
/// says they were made already).
fn guard_tables(cache: &mut ReadCache, tuples: bool) -> bool {
    // SAFETY: backend-local transaction state; taking in committed
    // catalog changes (as every lock acquisition does), so that a
    // membership revoked since is seen here.
    let stamp = unsafe {
        pg_sys::AcceptInvalidationMessages();
        (
            local_transaction_id(),
            crate::pg_ffi::GetCurrentSubTransactionId(),
            crate::pg_ffi::GetUserId(),
            ROLES_EPOCH.with(Cell::get),
            tuples,
        )
    };
    if cache.guarded == Some(stamp) || cache.guarded.is_some_and(|g| g.4 && (g.0, g.1, g.2, g.3) == (stamp.0, stamp.1, stamp.2, stamp.3)) {
        return false;
    }
    lock_for_reading(c"schemas");
    if tuples {
        lock_for_reading(c"tuples");
        lock_for_reading(c"attributes");
    }
    cache.guarded = Some(stamp);
    true
}
