//! Configuration parameters.
//!
//! None of these ever holds a secret: reloadable GUC values are written to
//! the server log on change and are readable in `pg_file_settings`.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Height of the tallest proof a check may rely on: a permission whose
/// shortest proof needs more dispatches fails; a refusal needs no proof, so
/// cycles and long chains that grant nothing never hit this limit.
pub static MAX_DEPTH: GucSetting<i32> = GucSetting::<i32>::new(100);

/// Path of the token key file (never the key itself: a reloadable GUC's
/// value is written to the server log whenever it changes).
pub static KEY_FILE: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);

/// Rows the per-backend read cache may hold (0 turns it off). See
/// `store::read_cache`: the cache is exact, so this only trades memory
/// (about 120 bytes a row: the default costs some 6 MB per backend at most)
/// for speed.
pub static CACHE_ROWS: GucSetting<i32> = GucSetting::<i32>::new(50_000);

/// Ids of lookup answers each backend may keep beside its read cache (0:
/// none): the visible sets of `rbac.permitted` and the results of
/// `rbac.lookup_resources`, reused under the read cache's rule (same
/// snapshot key). About 40 bytes an id (up to some 40 MB per backend at
/// the default, only when that many are looked up).
pub static CACHE_LOOKUP_IDS: GucSetting<i32> = GucSetting::<i32>::new(1_000_000);

/// How long a check, lookup or explanation with a consistency token
/// (`"at_least"` in its context) waits on a hot standby for the token's
/// position to be replayed, in milliseconds, before failing.
pub static CONSISTENCY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(5000);

/// Whether cached reads survive commits that wrote none of the extension's
/// tables (see `store::writes`); off: every commit starts the cache afresh.
pub static CACHE_ACROSS_COMMITS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Most contextual tuples and attributes one call may pass (each is
/// parsed, held and indexed for the call).
pub static MAX_CONTEXT_ITEMS: GucSetting<i32> = GucSetting::<i32>::new(100_000);

/// Largest validation file `rbac.validate()` accepts, in kilobytes: the
/// file is parsed and its universe held in memory (roughly 80 times its
/// size), so this bounds a call's memory.
pub static MAX_VALIDATION_KB: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// Nodes and edges the exact fixpoint of one check may hold (see the
/// engine's "Settling": schemas with a cycle through an exclusion, and
/// checks the depth-first search gives up on). Bounds a check's memory.
pub static MAX_FIXPOINT_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1_000_000);

/// What one statement's calls may add to the library's heap, in kB (0: no
/// limit). See `memory_budget`.
pub static MAX_CALL_MEMORY: GucSetting<i32> = GucSetting::<i32>::new(1_048_576);

/// Unused, unexpired OAuth states one role may hold (`rbac.oauth_start`).
/// Superuser-only: the roles it limits must not raise it.
pub static MAX_PENDING_OAUTH_STATES: GucSetting<i32> = GucSetting::<i32>::new(1000);

/// The database the background worker serves (like `cron.database_name`).
/// Defined only when the library is preloaded: PostgreSQL cannot define a
/// postmaster setting later.
pub static DATABASE_NAME: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(Some(c"postgres"));

/// Longest the worker waits for one answer from Notion (connecting
/// included), in milliseconds.
pub static HTTP_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30_000);

/// Attempts of a job before a transient failure becomes its final one.
pub static MAX_JOB_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(8);

/// Whether every audit entry is also written to the server log as one
/// JSON line (read by `rbac._audit` through current_setting).
pub static AUDIT_SERVER_LOG: GucSetting<bool> = GucSetting::<bool>::new(true);

/// How long answers to `rbac.notion_request` are kept, in seconds.
pub static RESPONSE_RETENTION: GucSetting<i32> = GucSetting::<i32>::new(3600);

/// How often every active workspace is synced, in seconds (0: only on
/// demand, `rbac.sync_now`).
pub static SYNC_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(900);

pub fn define() {
    // Startup-only when preloaded, as it should be. PostgreSQL refuses to
    // define a postmaster-context setting after startup (it would end the
    // session), so when the library is loaded later the path may only come
    // from the configuration file (SIGHUP context); either way only
    // superusers can see it.
    // SAFETY: reading a flag PostgreSQL sets while it loads preloaded libraries.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    GucRegistry::define_string_guc(
        c"notion_rbac.key_file",
        c"Path of the file holding the token encryption keys (mode 0600, owned by the server's OS user).",
        c"One key per line as id:base64 (32 bytes); the last line is the newest key and encrypts, every key \
          decrypts. Only the path is a setting: key bytes never pass through configuration parameters.",
        &KEY_FILE,
        if preloading { GucContext::Postmaster } else { GucContext::Sighup },
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL | GucFlags::DISALLOW_IN_AUTO_FILE,
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_depth",
        c"Maximum depth of a permission check (relation, permission and walk hops of its shortest proof).",
        c"A check whose shortest proof needs a longer chain of relation, permission and walk hops fails \
          with SQLSTATE 54001. A refusal needs no proof: cycles and chains that grant nothing never reach this limit.",
        &MAX_DEPTH,
        3,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.consistency_timeout",
        c"How long a call with a consistency token waits on a hot standby for the token to be replayed.",
        c"A check, lookup or explanation whose context holds \"at_least\": rbac.consistency_token() waits \
          until this standby has replayed that position; after this long it fails with SQLSTATE 55000.",
        &CONSISTENCY_TIMEOUT,
        0,
        3_600_000,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_bool_guc(
        c"notion_rbac.cache_across_commits",
        c"Whether cached reads survive commits that wrote none of the extension's tables.",
        c"With the library preloaded, the read cache is keyed by the writes to rbac.tuples, rbac.attributes and \
          rbac.schemas a snapshot sees; off, by the whole snapshot (any commit starts it afresh). Answers are \
          exact either way.",
        &CACHE_ACROSS_COMMITS,
        GucContext::Suset,
        GucFlags::default(),
    );
    // The memory bounds below are superuser settings: a role that could
    // raise them could make one call hold gigabytes (a 1 GB validation file
    // takes about 60 GB). Administrators delegate them with
    // `GRANT SET ON PARAMETER ... TO role`, or set them per role or database.
    GucRegistry::define_int_guc(
        c"notion_rbac.cache_lookup_ids",
        c"Ids of lookup answers each backend may keep between statements (0 keeps none).",
        c"The visible sets rbac.permitted computes and the results of rbac.lookup_resources are reused by later \
          statements whose snapshot sees exactly the same data (the read cache's rule), so a protected table \
          queried again costs hash probes; the kept answers are dropped when they would exceed this many ids.",
        &CACHE_LOOKUP_IDS,
        0,
        10_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.cache_rows",
        c"Rows of tuple reads each backend may keep between checks (0 turns the cache off).",
        c"Cached reads are reused only by checks whose snapshot sees exactly the same data, so the \
          cache never answers from stale data; it is emptied when it would grow beyond this size.",
        &CACHE_ROWS,
        0,
        10_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_context_items",
        c"Most contextual tuples and attributes one check or lookup may pass.",
        c"A larger context fails with SQLSTATE 54000; relationships that many belong in rbac.tuples.",
        &MAX_CONTEXT_ITEMS,
        0,
        10_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_validation_kb",
        c"Largest validation file rbac.validate() accepts.",
        c"rbac.validate() holds the file's whole universe in memory; a larger file fails with SQLSTATE 54000.",
        &MAX_VALIDATION_KB,
        1,
        1_048_576,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_fixpoint_size",
        c"Most nodes and edges one check may hold while settling a cycle through an exclusion or a deep chain.",
        c"Such checks are evaluated exactly over everything the checked node reaches; beyond this size they \
          fail with SQLSTATE 54000 instead of using more memory (about 100 bytes each).",
        &MAX_FIXPOINT_SIZE,
        1_000,
        100_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_call_memory",
        c"Most memory one statement's calls to the library may take (0: no limit).",
        c"Counted over the library's own heap from the statement's first evaluation step; beyond it the \
          statement fails with SQLSTATE 54000 and frees what it built. Work that grows with the product of \
          its inputs (a rule mapping a context list over itself) meets it first.",
        &MAX_CALL_MEMORY,
        0,
        i32::MAX / 1024,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_pending_oauth_states",
        c"Most pending (unused, unexpired) OAuth authorizations one role may have started.",
        c"rbac.oauth_start fails with SQLSTATE 54000 beyond it; states expire after 10 minutes.",
        &MAX_PENDING_OAUTH_STATES,
        1,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    if preloading {
        GucRegistry::define_string_guc(
            c"notion_rbac.database_name",
            c"Database the notion_rbac background worker connects to (the one where CREATE EXTENSION notion_rbac ran).",
            c"The worker idles until the extension exists there. Functions that queue work for the worker refuse \
              to run in another database.",
            &DATABASE_NAME,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"notion_rbac.http_timeout",
        c"Longest the background worker waits for one answer from Notion, connecting included.",
        c"A request without an answer in time counts as a transient failure: the job is retried with backoff.",
        &HTTP_TIMEOUT,
        100,
        600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.max_job_attempts",
        c"Attempts of a background-worker job before a transient failure (timeout, 429, 5xx) fails it for good.",
        c"Between attempts the job waits 2, 4, 8 ... seconds (at most 5 minutes), or Notion's Retry-After if longer.",
        &MAX_JOB_ATTEMPTS,
        1,
        100,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"notion_rbac.audit_server_log",
        c"Also write every audit entry to the server log as one JSON line.",
        c"On a hot standby or in a read-only transaction entries go to the server log only, whatever this says.",
        &AUDIT_SERVER_LOG,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.response_retention",
        c"How long the answers to rbac.notion_request are kept for rbac.notion_response.",
        c"The background worker deletes older answers (and denied requests).",
        &RESPONSE_RETENTION,
        1,
        30 * 86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"notion_rbac.sync_interval",
        c"How often the background worker syncs every active workspace's Notion access into tuples (0: only rbac.sync_now).",
        c"A sync is queued when the last one ended longer ago than this; rbac.sync_status shows when the next is due.",
        &SYNC_INTERVAL,
        0,
        7 * 86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    // No one can invent settings under our prefix (`SET notion_rbac.x`),
    // which other code might later read as if the extension had defined them.
    // SAFETY: called once per backend after the extension's settings exist.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"notion_rbac".as_ptr()) };
}

/// The current `notion_rbac.cache_rows`.
pub fn cache_rows() -> usize {
    CACHE_ROWS.get().max(0) as usize
}

/// The current `notion_rbac.cache_lookup_ids`.
pub fn cache_lookup_ids() -> usize {
    CACHE_LOOKUP_IDS.get().max(0) as usize
}

/// The current `notion_rbac.cache_across_commits`.
pub fn cache_across_commits() -> bool {
    CACHE_ACROSS_COMMITS.get()
}

/// The current `notion_rbac.consistency_timeout`.
pub fn consistency_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(CONSISTENCY_TIMEOUT.get().max(0) as u64)
}

/// The current `notion_rbac.max_depth` as the engine's unit.
pub fn max_depth() -> u32 {
    MAX_DEPTH.get().max(3) as u32
}

/// The current `notion_rbac.max_fixpoint_size`.
pub fn max_fixpoint_size() -> usize {
    MAX_FIXPOINT_SIZE.get().max(1_000) as usize
}

/// The current `notion_rbac.max_call_memory` in bytes, None when 0.
pub fn max_call_memory() -> Option<usize> {
    let kb = MAX_CALL_MEMORY.get();
    (kb > 0).then(|| kb as usize * 1024)
}

/// The current `notion_rbac.max_pending_oauth_states`.
pub fn max_pending_oauth_states() -> i64 {
    i64::from(MAX_PENDING_OAUTH_STATES.get().max(1))
}

/// The configured key file path, if any.
pub fn key_file() -> Option<String> {
    KEY_FILE.get().and_then(|c| c.into_string().ok()).filter(|s| !s.is_empty())
}

/// The current `notion_rbac.max_context_items`.
pub fn max_context_items() -> usize {
    MAX_CONTEXT_ITEMS.get().max(0) as usize
}

/// The current `notion_rbac.max_validation_kb` in bytes.
pub fn max_validation_bytes() -> usize {
    MAX_VALIDATION_KB.get().max(1) as usize * 1024
}

/// The database the worker serves (`notion_rbac.database_name`).
pub fn database_name() -> String {
    DATABASE_NAME.get().and_then(|c| c.into_string().ok()).filter(|s| !s.is_empty()).unwrap_or_else(|| "postgres".into())
}

/// The current `notion_rbac.http_timeout`.
pub fn http_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(HTTP_TIMEOUT.get().max(100) as u64)
}

/// The current `notion_rbac.max_job_attempts`.
pub fn max_job_attempts() -> i32 {
    MAX_JOB_ATTEMPTS.get().max(1)
}

/// The current `notion_rbac.sync_interval` (zero: periodic syncs off).
pub fn sync_interval() -> std::time::Duration {
    std::time::Duration::from_secs(SYNC_INTERVAL.get().max(0) as u64)
}

/// The current `notion_rbac.response_retention`.
pub fn response_retention() -> std::time::Duration {
    std::time::Duration::from_secs(RESPONSE_RETENTION.get().max(1) as u64)
}
