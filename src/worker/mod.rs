//! The background worker: all network I/O with Notion happens here, so SQL
//! sessions never wait on HTTP and never hold a token in their memory.
//!
//! One static worker, registered when the library is preloaded, connects to
//! `notion_rbac.database_name` and idles until the extension (at this
//! library's version) exists there. Its loop:
//!
//! 1. wait on its latch — set at COMMIT by the functions that queue work
//!    ([`wake`]), by SIGHUP/SIGTERM, or by a timeout (the next retry, at
//!    most [`IDLE_WAIT`]);
//! 2. claim one due job in a short transaction (`FOR UPDATE SKIP LOCKED`,
//!    marked running, committed) and decrypt what it needs;
//! 3. talk to Notion with no transaction open (`notion_rbac_notion::http`);
//!    a sync, many requests long, runs due code exchanges between them
//!    ([`exchanges_between`]);
//! 4. record the outcome — and the job's effect — in one short transaction,
//!    guarded so that a job's effect is applied at most once.
//!
//! Crash-only: a kill -9 at any point leaves a job queued or running; when
//! the worker starts it re-queues running jobs (one worker per database is
//! the only one that runs them). An ERROR escaping the loop ends the
//! process and the postmaster starts it again after [`RESTART_DELAY`].
//!
//! Modules: [`wake`] (what SQL functions call), [`jobs`] (claiming and
//! finishing jobs), [`exchange`] (OAuth code exchange), [`bot`] (calls with
//! a workspace's token: refresh on 401, deauthorization, verify, revoke),
//! [`sync`] (Notion access into tuples; the per-token request budget),
//! [`request`] (permission-aware Notion requests), [`deliver`] (audit
//! entries to a Notion database, through an outbox).

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;

use notion_rbac_notion::http::Transport;

pub mod bot;
pub mod budget;
pub mod deliver;
pub mod exchange;
pub mod jobs;
pub mod request;
pub mod sync;
pub mod wake;
pub mod workspace_job;

/// Name and type of the worker (`pg_stat_activity.backend_type`).
pub const WORKER_TYPE: &str = "notion_rbac worker";
/// Longest the worker sleeps without being woken: a safety net for a wake
/// lost (a job queued by a prepared transaction, say).
pub const IDLE_WAIT: Duration = Duration::from_secs(10);
/// Delay before the postmaster restarts a worker that exited on an error.
pub const RESTART_DELAY: Duration = Duration::from_secs(5);
/// Connect timeout of every request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Registers the worker. Only while `shared_preload_libraries` is being
/// processed (the caller checks).
pub fn register() {
    BackgroundWorkerBuilder::new(WORKER_TYPE)
        .set_type(WORKER_TYPE)
        .set_library("notion_rbac")
        .set_function("notion_rbac_worker_main")
        .enable_spi_access()
        .set_restart_time(Some(RESTART_DELAY))
        .load();
}

/// Whether a SIGTERM asked the worker to stop (read without consuming it).
pub fn stopping() -> bool {
    // SAFETY: a flag PostgreSQL's (and pgrx's) SIGTERM handler sets.
    unsafe { std::ptr::read_volatile(&raw const pg_sys::ShutdownRequestPending) != 0 }
}

/// What every job needs besides its own data.
pub struct Context {
    pub transport: Transport,
    /// HTTP requests sent (a sync reports its share).
    pub requests: std::cell::Cell<u32>,
    /// Per bot: no request before this instant (Retry-After). One budget per
    /// token, shared by every job of it.
    pub not_before: std::cell::RefCell<std::collections::HashMap<String, std::time::Instant>>,
}

impl Context {
    /// Sends one request: bounded by `notion_rbac.http_timeout`, abandoned
    /// when the worker is asked to stop.
    pub fn send(
        &self,
        request: &notion_rbac_notion::http::Request,
    ) -> Result<notion_rbac_notion::http::Response, notion_rbac_notion::http::TransportError> {
        self.requests.set(self.requests.get().wrapping_add(1));
        self.transport.send(request, crate::guc::http_timeout(), &stopping)
    }

    /// Sends a call to Notion's token endpoint (a code exchange, a
    /// refresh): bounded by `notion_rbac.http_timeout`, but not abandoned
    /// when the worker is asked to stop. Once Notion has acted on it — the
    /// code spent, the refresh token rotated — its answer holds the only
    /// copy of the new tokens: a SIGTERM waits for it, the answer is stored,
    /// and then the worker stops (its loop checks before the next job).
    pub fn send_to_token_endpoint(
        &self,
        request: &notion_rbac_notion::http::Request,
    ) -> Result<notion_rbac_notion::http::Response, notion_rbac_notion::http::TransportError> {
        self.requests.set(self.requests.get().wrapping_add(1));
        self.transport.send(request, crate::guc::http_timeout(), &|| false)
    }
}

/// An SPI failure in the worker: an ERROR (the worker exits and is
/// restarted; the job it held is re-queued).
pub fn spi_error(what: &str, e: pgrx::spi::SpiError) -> ! {
    pgrx::error!("notion_rbac worker: {what} failed: {e}")
}

/// Runs `f` in a transaction of its own (the worker's unit of work).
pub fn in_transaction<R>(f: impl FnOnce() -> R) -> R {
    let f = std::panic::AssertUnwindSafe(f);
    BackgroundWorker::transaction(move || {
        let f = f;
        (f.0)()
    })
}

/// Runs `f` in a subtransaction of the current transaction. An ERROR it
/// raises undoes only what `f` did and comes back as its message and
/// SQLSTATE, so one job that cannot be done (a request whose check the
/// current model can no longer answer) ends alone, instead of ending the
/// worker, rolling back its claim and being claimed again after the
/// restart, for ever. A cancel is not caught: it ends the unit of work as
/// before.
pub fn in_subtransaction<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    // SAFETY: called inside a transaction (a unit of work); the memory
    // context and resource owner are put back after the subtransaction
    // ends either way, as PL/pgSQL's exception blocks do.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        let f = std::panic::AssertUnwindSafe(f);
        let run = move || {
            let f = f;
            Ok((f.0)())
        };
        let outcome = pgrx::PgTryBuilder::new(run)
            .catch_others(|caught| match caught {
                CaughtError::PostgresError(e) | CaughtError::ErrorReport(e)
                    if e.sql_error_code() != PgSqlErrorCode::ERRCODE_QUERY_CANCELED =>
                {
                    Err(format!("{} (SQLSTATE {})", e.message(), sqlstate_text(e.sql_error_code())))
                }
                other => other.rethrow(),
            })
            .execute();
        match outcome {
            Ok(_) => pg_sys::ReleaseCurrentSubTransaction(),
            Err(_) => pg_sys::RollbackAndReleaseCurrentSubTransaction(),
        }
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;
        outcome
    }
}

/// A SQLSTATE's five characters (PostgreSQL packs them six bits each).
fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let packed = code as i32;
    (0..5).map(|i| char::from(b'0' + ((packed >> (6 * i)) & 0x3f) as u8)).collect()
}

/// Shows what the worker is doing in `pg_stat_activity.query` / `state`.
fn report(activity: Option<&str>) {
    let text = std::ffi::CString::new(activity.unwrap_or("")).unwrap_or_default();
    let state = if activity.is_some() { pg_sys::BackendState::STATE_RUNNING } else { pg_sys::BackendState::STATE_IDLE };
    // SAFETY: copies the text into this backend's status entry.
    unsafe { pg_sys::pgstat_report_activity(state, text.as_ptr()) };
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn notion_rbac_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = crate::guc::database_name();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // Every name the worker's SQL uses is qualified or in pg_catalog; no
    // schema anyone can create objects in is searched.
    BackgroundWorker::transaction(|| {
        Spi::run("SET search_path = pg_catalog, pg_temp; SET application_name = 'notion_rbac worker'")
            .unwrap_or_else(|e| pgrx::error!("{WORKER_TYPE}: setting up the session failed: {e}"))
    });
    let transport = match Transport::new(&format!("notion_rbac/{}", env!("CARGO_PKG_VERSION")), CONNECT_TIMEOUT) {
        Ok(t) => t,
        Err(e) => pgrx::error!("{WORKER_TYPE}: {e}"),
    };
    let context = Context { transport, requests: Default::default(), not_before: Default::default() };
    // Every unit of work is written for READ COMMITTED (the audit chainer
    // works only there, and claims must see what committed since), whatever
    // the database's or the server's default.
    BackgroundWorker::transaction(|| {
        Spi::run("SET default_transaction_isolation = 'read committed'")
            .unwrap_or_else(|e| pgrx::error!("{WORKER_TYPE}: setting the isolation level failed: {e}"))
    });
    report(None);
    pgrx::log!("{WORKER_TYPE} started for database \"{database}\"");
    let mut ready = false;
    while !stopping() {
        // SAFETY: flags set by the signal handlers; reloading the
        // configuration is what the SIGHUP handler leaves to us.
        if unsafe { pg_sys::ConfigReloadPending } != 0 {
            unsafe {
                pg_sys::ConfigReloadPending = 0;
                pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
            }
        }
        let installed = BackgroundWorker::transaction(jobs::extension_ready);
        if !installed {
            if ready {
                pgrx::log!("{WORKER_TYPE}: the extension is gone or at another version; idling");
            }
            ready = false;
            if !BackgroundWorker::wait_latch(Some(IDLE_WAIT)) {
                break;
            }
            continue;
        }
        if !ready {
            let requeued = BackgroundWorker::transaction(jobs::requeue_interrupted);
            if requeued > 0 {
                pgrx::log!("{WORKER_TYPE}: re-queued {requeued} job(s) interrupted by a restart");
            }
            ready = true;
        }
        // The audit chain: entries appended since the last turn, in one go.
        // Not waiting on someone who holds the chain (an open transaction
        // that ran rbac.verify_audit_log): the next turn chains them.
        BackgroundWorker::transaction(|| {
            Spi::run("SET LOCAL lock_timeout = '100ms'")
                .unwrap_or_else(|e| pgrx::error!("{WORKER_TYPE}: setting the lock timeout failed: {e}"));
            let chained = in_subtransaction(|| {
                Spi::get_one::<i64>("SELECT rbac._audit_chain_pending()")
                    .unwrap_or_else(|e| pgrx::error!("{WORKER_TYPE}: chaining audit entries failed: {e}"))
            });
            if let Err(why) = chained {
                if !why.contains("55P03") {
                    pgrx::error!("{WORKER_TYPE}: chaining audit entries failed: {why}");
                }
            }
        });
        BackgroundWorker::transaction(request::expire);
        let scheduled = BackgroundWorker::transaction(jobs::schedule_syncs);
        if scheduled > 0 {
            pgrx::log!("{WORKER_TYPE}: queued {scheduled} periodic sync(s)");
        }
        if work_once(&context) {
            continue;
        }
        report(None);
        let wait = BackgroundWorker::transaction(jobs::next_due).unwrap_or(IDLE_WAIT).min(IDLE_WAIT);
        if !BackgroundWorker::wait_latch(Some(wait.max(Duration::from_millis(10)))) {
            break;
        }
    }
    pgrx::log!("{WORKER_TYPE} stopping");
    // Exit code 1: the postmaster restarts the worker (after
    // RESTART_DELAY) unless the server is shutting down. An administrator's
    // pg_terminate_backend() thus restarts it rather than removing it.
    unsafe { pg_sys::proc_exit(1) };
}

/// After this many application requests and audit deliveries in a row, a
/// due workspace job (a sync, a revocation) goes first: a steady stream of
/// requests must not hold back the sync that removes access Notion
/// withdrew, nor the revocation of a token.
const FOREGROUND_STREAK: u32 = 16;

thread_local! {
    /// Requests and deliveries run since a workspace job last had its turn.
    static STREAK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn run_workspace_job(context: &Context) -> bool {
    STREAK.with(|s| s.set(0));
    match BackgroundWorker::transaction(jobs::claim_workspace_job) {
        Some(job) => {
            report(Some(&format!("{} of workspace {} (job {})", job.kind.as_str(), job.bot_id, job.claim.id)));
            workspace_job::run(context, job);
            true
        }
        None => false,
    }
}

/// Claims and runs one due OAuth code exchange; false when none was due.
/// `show`: report it in `pg_stat_activity` (not when it runs inside
/// another job, whose activity stays shown).
fn run_exchange(context: &Context, show: bool) -> bool {
    match BackgroundWorker::transaction(exchange::claim) {
        jobs::Claim::Ready(job) => {
            if show {
                report(Some(&format!("OAuth code exchange (job {})", job.claim.id)));
            }
            let answer = exchange::perform(context, &job);
            let job = std::panic::AssertUnwindSafe(job);
            BackgroundWorker::transaction(move || exchange::record(&job, answer));
            true
        }
        jobs::Claim::Settled => true,
        jobs::Claim::Nothing => false,
    }
}

/// Code exchanges run at most this many at a time inside another job.
const EXCHANGES_BETWEEN: usize = 4;

/// Runs the OAuth code exchanges that are due, between two requests of a
/// long job (a sync makes hundreds, and may pause up to a minute on a 429):
/// a user who authorizes meanwhile waits seconds rather than until the sync
/// ends, and a code (valid about ten minutes) does not expire in the queue.
/// Only outside a transaction; nothing when the worker is stopping.
pub fn exchanges_between(context: &Context) {
    // SAFETY: reads backend state.
    if stopping() || unsafe { pg_sys::IsTransactionState() } {
        return;
    }
    for _ in 0..EXCHANGES_BETWEEN {
        if !run_exchange(context, false) {
            return;
        }
    }
}

/// Runs one due job if there is one; false when there was nothing to do.
fn work_once(context: &Context) -> bool {
    if run_exchange(context, true) {
        return true;
    }
    if STREAK.with(|s| s.get()) >= FOREGROUND_STREAK && run_workspace_job(context) {
        return true;
    }
    // Applications wait on these: before the background jobs.
    if request::run_one(context) || deliver::run_one(context) {
        STREAK.with(|s| s.set(s.get() + 1));
        return true;
    }
    run_workspace_job(context)
}
