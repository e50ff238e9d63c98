//! What SQL functions that queue work for the worker call: a clear error
//! when no worker would ever do it, and a wake-up at COMMIT.
//!
//! Waking at commit (as pg_net does) means the worker never looks before
//! the job is visible, and a transaction that queues many jobs wakes it
//! once. Background workers cannot LISTEN, so the wake is a latch: the
//! worker's process is found in `pg_stat_activity` when the job is queued,
//! and its latch is set by a transaction callback that does nothing else.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::pg_sys;
use pgrx::prelude::*;

use super::WORKER_TYPE;

/// Set in the postmaster when the library is preloaded (inherited by every
/// backend it forks): only then does the worker exist.
static PRELOADED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The worker's PGPROC to wake when this transaction commits.
    static PENDING: Cell<*mut pg_sys::PGPROC> = const { Cell::new(std::ptr::null_mut()) };
}

/// Records that the library is being preloaded and registers the wake-up
/// callback. Called from `_PG_init`.
pub fn init(preloading: bool) {
    if preloading {
        PRELOADED.store(true, Ordering::Relaxed);
    }
    // SAFETY: a plain function pointer, registered once per backend.
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut()) };
}

/// Whether the worker runs in this cluster.
pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Warns that queued work (`what`) waits for a worker that is not there:
/// the library is not preloaded, or the worker serves another database.
/// The work stays queued (a callback's state is spent either way) and is
/// done once the worker runs here.
pub fn warn_without_worker(what: &str) {
    if !preloaded() {
        warn(
            format!("{what} waits: the notion_rbac background worker is not running"),
            "add notion_rbac to shared_preload_libraries and restart PostgreSQL; the worker does all calls to Notion".into(),
        );
        return;
    }
    let served = crate::guc::database_name();
    let here = Spi::get_one::<String>("SELECT pg_catalog.current_database()::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    if served != here {
        warn(
            format!("{what} waits: the notion_rbac background worker serves database \"{served}\", not \"{here}\""),
            format!("set notion_rbac.database_name = '{here}' in postgresql.conf and restart, or use database \"{served}\""),
        );
    }
}

fn warn(message: String, hint: String) {
    use pgrx::pg_sys::panic::ErrorReport;
    ErrorReport::new(PgSqlErrorCode::ERRCODE_WARNING, message, "").set_hint(hint).report(PgLogLevel::WARNING);
}

/// Wakes the worker when the current transaction commits (after warning
/// if there is no worker to wake).
pub fn at_commit(what: &str) {
    warn_without_worker(what);
    // One lookup per transaction: a transaction queueing many jobs (or
    // audit entries to deliver) wakes the worker once.
    if !PENDING.with(|p| p.get()).is_null() {
        return;
    }
    let Some(pid) = worker_pid() else { return };
    // SAFETY: looks the pid up in the proc array; a stale entry only means a
    // spurious wake of whichever process holds it now.
    let proc = unsafe { pg_sys::BackendPidGetProc(pid) };
    PENDING.with(|p| p.set(proc));
}

/// The worker's pid, if it is running.
pub fn worker_pid() -> Option<i32> {
    Spi::get_one_with_args::<i32>(
        "SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = $1 LIMIT 1",
        &[WORKER_TYPE.into()],
    )
    .ok()
    .flatten()
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT => {
            let proc = PENDING.with(|p| p.replace(std::ptr::null_mut()));
            if !proc.is_null() {
                // SAFETY: PGPROC entries live in shared memory for the life
                // of the server; setting a latch is what it is for.
                unsafe { pg_sys::SetLatch(&raw mut (*proc).procLatch) };
            }
        }
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT | XACT_EVENT_PREPARE => {
            PENDING.with(|p| p.set(std::ptr::null_mut()));
        }
        _ => {}
    }
}
