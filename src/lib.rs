//! `notion_rbac`: relationship-based authorization for Notion integrations,
//! inside PostgreSQL.
//!
//! This crate is the thin pgrx layer over two pure-Rust crates: the
//! language, engine and validation-file runner (`notion_rbac_core`, in
//! `core/`) and the secrets and Notion half — token envelopes, keys, OAuth
//! (`notion_rbac_notion`, in `notion/`). Here they become SQL functions, a
//! column type and tables; core errors become SQL errors.
//!
//! Module map:
//! - [`api`]      — the `#[pg_extern]` SQL surface, one file per topic
//!   (`check`, `lookup`, `schema`, `tuples`, `validate`, `oauth`, `meta`)
//!   and the request-context argument (`context`).
//! - [`store`]    — storage: the active schema, tuples and attributes read
//!   by direct index scans in the caller's snapshot, through the exact
//!   per-backend read cache; read-only SPI helpers.
//! - [`token`]    — the `rbac.encrypted_token` type and its key file.
//! - [`worker`]   — the background worker: OAuth code exchange, calls with
//!   a workspace's token (refresh on 401, deauthorization), revocation.
//! - [`guc`]      — configuration parameters (`notion_rbac.*`).
//! - [`audit`]    — audit entries written from Rust (the log and its chain
//!   are SQL: `sql/audit.sql`).
//! - [`errors`]   — core errors → `ereport` with SQLSTATE, detail and hint.
//! - `sql_type`   — glue for Rust values the extension converts itself.
//! - `../sql/`    — hand-written SQL: `bootstrap.sql` (tables, triggers,
//!   roles), `oauth.sql` (tables holding tokens), `worker.sql` (the
//!   worker's job tables), `finalize.sql` (grants
//!   and every comment), upgrade scripts `notion_rbac--A--B.sql`.

use pgrx::prelude::*;

pgrx::pg_module_magic!(name, version);

pub mod api;
pub mod audit;
pub mod errors;
pub mod guc;
mod memory_budget;
mod pg_ffi;
mod sql_type;
pub mod store;
pub mod token;
mod utility;
pub(crate) mod whole_errors;
pub mod worker;

// Tables, roles and other hand-written objects. `bootstrap` runs before any
// generated function so that functions may refer to the tables.
pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
// Tables that hold encrypted tokens: after the type exists.
pgrx::extension_sql_file!("../sql/oauth.sql", name = "oauth", requires = ["bootstrap", token::encrypted_token]);
// The background worker's job tables (they reference rbac.workspaces).
pgrx::extension_sql_file!("../sql/worker.sql", name = "worker", requires = ["oauth"]);
// The login-role mapping of rbac.current_subject(): its CHECK needs the
// subject parser.
pgrx::extension_sql_file!("../sql/identity.sql", name = "identity", requires = ["bootstrap", api::identity::is_subject]);
// Application roles and the audit log (role assignments check subjects).
pgrx::extension_sql_file!("../sql/audit.sql", name = "audit", requires = ["identity", "worker", audit::_audit_log_line]);
// rbac.protect / unprotect and the view of protected tables (their
// policies call rbac.permitted).
pgrx::extension_sql_file!("../sql/protect.sql", name = "protect", requires = ["identity", "permitted_functions"]);
// The triggers that record writers of the extension's tables (their
// functions call rbac._note_write).
pgrx::extension_sql_file!("../sql/writes.sql", name = "writes", requires = ["bootstrap", store::writes::note_write, store::writes::note_write_begin, store::writes::note_rows]);
// Privileges: runs last, after every function exists.
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

/// Called once per backend when the library is loaded (at server start when
/// preloaded through `shared_preload_libraries`, otherwise on first use).
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    keep_backtraces_out_of_errors();
    // GUCs are defined unconditionally: if a setting were only a placeholder
    // (library not loaded yet) any user could read its raw value.
    guc::define();
    // Long evaluations (a check over a deep graph, a lookup, a validation
    // file held in memory) poll this at every step: cancel, statement
    // timeout and terminate take effect promptly, and a recursion the stack
    // cannot hold is PostgreSQL's own clean error.
    notion_rbac_core::interrupt::set_hook(poll_interrupts);
    // The request subject ends with its transaction and reverts with it.
    api::identity::register_callbacks();
    api::permitted::register_callbacks();
    // How many rows each plan passes through rbac.permitted (a strategy
    // hint for it; see api/permitted_scan.rs).
    api::permitted_scan::register_hook();
    // DISCARD ALL / RESET ALL clear the request subject; changes to the
    // triggers that record writers count as writes (see utility.rs).
    utility::register_hook();
    // SAFETY: reading a flag PostgreSQL sets while it loads preloaded libraries.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    worker::wake::init(preloading);
    // The registry of writers that lets cached reads survive unrelated
    // commits (shared memory: preloading only), and its relcache callback.
    store::writes::init(preloading);
    store::reads::init();
    if preloading {
        // The worker can only be registered from the postmaster.
        worker::register();
    }
}

/// pgrx appends a Rust backtrace to the DETAIL of every PostgreSQL error
/// that crosses its boundary (a statement cancelled or timed out during a
/// check, an error in an SPI statement) wherever backtraces are enabled,
/// and `RUST_BACKTRACE=1` in a server's environment (set to debug a crash)
/// enables them: clients would then read the library's internals, build
/// paths included, in their errors. Rust reads `RUST_LIB_BACKTRACE` before
/// `RUST_BACKTRACE` for captured backtraces, so it is set to 0 here unless
/// the administrator gave it a value. (A capture reads the environment
/// once per process; the library loads before any. The setting is
/// inherited by the processes the server starts.)
fn keep_backtraces_out_of_errors() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_some_and(|v| !v.is_empty()) {
        return;
    }
    // Changing the environment races with any other thread reading it, and
    // a library loaded before this one could have started one: only in a
    // process that has a single thread (PostgreSQL's own processes do).
    let single_threaded = std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1);
    if single_threaded {
        // SAFETY: no other thread exists to read the environment meanwhile.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    } else {
        pgrx::log!("notion_rbac: RUST_LIB_BACKTRACE left as it is (another thread runs in this process); set it to 0 in the server's environment to keep Rust backtraces out of error details");
    }
}

fn poll_interrupts() {
    // A read of InterruptPending; ProcessInterrupts only when one is.
    pgrx::check_for_interrupts!();
    // check_stack_depth is a guarded FFI call, too costly for every step
    // of a 5 µs check: every 32nd step is enough, since 32 evaluation steps
    // use far less stack than the slop PostgreSQL keeps beyond
    // max_stack_depth.
    thread_local! {
        static STEPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let step = STEPS.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n
    });
    if step % 32 == 0 {
        // SAFETY: compares the stack pointer with max_stack_depth; raises
        // an ERROR (a Rust panic through pgrx's guard) when exceeded.
        unsafe { pgrx::pg_sys::check_stack_depth() };
        memory_budget::check();
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn q_bool(sql: &str) -> Option<bool> {
        Spi::get_one::<bool>(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn docs_model() {
        Spi::run(
            "SELECT rbac.write_schema('entity user {} \
             entity team { relation member @user @team#member } \
             entity doc { relation parent @doc relation viewer @user @team#member relation banned @user \
               permission view = (viewer or parent.view) not banned }')",
        )
        .unwrap();
    }

    /// The library, the installed SQL and the control file agree on the
    /// version: a release whose install script, control file or upgrade
    /// path was not moved along with Cargo.toml fails here.
    #[pg_test]
    fn version_matches_cargo() {
        let library = Spi::get_one::<String>("SELECT rbac.version()").unwrap().unwrap();
        let installed =
            Spi::get_one::<String>("SELECT extversion FROM pg_extension WHERE extname = 'notion_rbac'").unwrap().unwrap();
        let default = Spi::get_one::<String>("SELECT default_version FROM pg_available_extensions WHERE name = 'notion_rbac'")
            .unwrap()
            .unwrap();
        assert_eq!(installed, library, "installed SQL vs library");
        assert_eq!(default, library, "control file default_version vs library");
    }

    /// Whether a large visible set is read by an index-only scan by its
    /// array, rather than every row passed through the policy.
    #[pg_test]
    fn permitted_array_pays_when_the_scan_reads_less() {
        use crate::api::permitted_plan::array_pays;
        // bench/rls.sql: 100,000 of 1M pages, a vacuumed table: the array.
        assert!(array_pays(100_000, 2_745.0, 1_000_000.0, 1.0));
        // Three quarters of the table: every row through the policy.
        assert!(!array_pays(15_000, 57.0, 20_000.0, 1.0));
        // The same 10% on a table the visibility map does not cover (just
        // loaded): each id would be fetched from the table as well.
        assert!(!array_pays(100_000, 2_745.0, 1_000_000.0, 0.0));
        assert!(array_pays(50_000, 2_745.0, 1_000_000.0, 0.0));
        // Empty statistics: never, and no NaN.
        assert!(!array_pays(10, 0.0, 0.0, f64::NAN));
        assert!(!array_pays(0, 0.0, 0.0, 1.0));
    }

    /// rbac.permitted's first lookup attempt in a statement: at the price
    /// of the last finished lookup, else past the last budget that was not
    /// enough (doubling), never before a millisecond of checks.
    #[pg_test]
    fn permitted_first_attempt_follows_the_hints() {
        use crate::api::permitted::CostHint;
        use std::time::Duration;
        let ms = Duration::from_millis;
        assert_eq!(CostHint::default().first_attempt(), ms(1));
        let gave_up = CostHint { took: None, not_within: ms(10), size: None };
        assert_eq!(gave_up.first_attempt(), ms(20));
        let finished = CostHint { took: Some(ms(373)), not_within: ms(10), size: Some(100_000) };
        assert_eq!(finished.first_attempt(), ms(373));
        let fast = CostHint { took: Some(Duration::from_micros(40)), not_within: Duration::ZERO, size: Some(3) };
        assert_eq!(fast.first_attempt(), ms(1));
    }

    /// A read's rows, packed into two allocations, give back every field
    /// of every row, in order; an empty read has no rows.
    #[pg_test]
    fn packed_rows_give_back_their_fields() {
        use crate::store::packed::RowsBuilder;
        let mut b = RowsBuilder::default();
        b.push_fields(&["user", "u1", ""]);
        b.push_fields(&["group", "g1", "member"]);
        let rows = b.finish(3);
        assert_eq!(rows.len(), 2);
        let all: Vec<Vec<&str>> = rows.iter().map(|row| (0..3).map(|i| row.field(i)).collect()).collect();
        assert_eq!(all, vec![vec!["user", "u1", ""], vec!["group", "g1", "member"]]);
        let second = rows.iter().nth(1).unwrap();
        let s = second.subject(0);
        assert_eq!((s.ty.as_str(), s.id.as_str(), s.relation.as_str()), ("group", "g1", "member"));
        assert!(second.is_subject(0, &s) && !rows.iter().next().unwrap().is_subject(0, &s));
        let empty = b.finish(4);
        assert_eq!((empty.len(), empty.is_empty(), empty.iter().count()), (0, true, 0));
    }

    /// A check sees its own transaction's uncommitted writes and deletes
    /// (the #[pg_test] runs inside one transaction that is rolled back).
    #[pg_test]
    fn check_sees_own_transaction() {
        docs_model();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(false));
        Spi::run("SELECT rbac.write_tuples(ARRAY['doc:1#viewer@team:t#member', 'team:t#member@user:a'])").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(true));
        Spi::run("INSERT INTO rbac.tuples VALUES ('doc', '1', 'banned', 'user', 'a', '')").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(false));
        Spi::run("SELECT rbac.delete_tuples(ARRAY['doc:1#banned@user:a'])").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(true));
    }

    /// A check's index scans are kept for the next call of the transaction
    /// and handed out again (not opened anew), and closed before a utility
    /// statement (see store::scan_pool).
    #[pg_test]
    fn scans_are_kept_between_calls() {
        use crate::store::scan_pool::idle_scans;
        docs_model();
        Spi::run("SELECT rbac.write_tuples(ARRAY['doc:2#parent@doc:1', 'doc:1#viewer@user:a'])").unwrap();
        Spi::run("SELECT set_config('notion_rbac.cache_rows', '0', true)").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:2')"), Some(true));
        let kept = idle_scans();
        assert!(kept > 0, "no scan kept");
        for _ in 0..10 {
            assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:2')"), Some(true));
            assert_eq!(q_bool("SELECT rbac.check('user:b', 'view', 'doc:2')"), Some(false));
        }
        assert_eq!(idle_scans(), kept, "scans opened anew instead of handed out again");
        Spi::run("SET LOCAL notion_rbac.max_depth = 50").unwrap();
        assert_eq!(idle_scans(), 0, "a utility statement left scans open");
        // (The compiled schema is kept: its scan is not opened again.)
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:2')"), Some(true));
        assert!(idle_scans() > 0, "no scan kept after the utility statement");
    }

    /// Checks are read-only: they work in a read-only transaction.
    #[pg_test]
    fn check_in_read_only_transaction() {
        docs_model();
        Spi::run("SELECT rbac.write_tuples(ARRAY['doc:2#parent@doc:1', 'doc:1#viewer@user:a'])").unwrap();
        Spi::run("SET LOCAL transaction_read_only = on").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:2')"), Some(true));
        let ids = Spi::get_one::<Vec<String>>(
            "SELECT array_agg(x ORDER BY x) FROM rbac.lookup_resources('user:a', 'view', 'doc') x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(ids, vec!["1".to_string(), "2".to_string()]);
    }

    /// Cycles in the data give the least fixpoint: no error, no loop, and a
    /// cycle grants nothing by itself.
    #[pg_test]
    fn cycles_are_least_fixpoint() {
        docs_model();
        Spi::run(
            "SELECT rbac.write_tuples(ARRAY['doc:1#parent@doc:2', 'doc:2#parent@doc:1', \
             'team:x#member@team:y#member', 'team:y#member@team:x#member', 'doc:3#viewer@team:x#member'])",
        )
        .unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(false));
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:3')"), Some(false));
        Spi::run("SELECT rbac.write_tuples(ARRAY['team:y#member@user:a', 'doc:2#viewer@user:b'])").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:3')"), Some(true));
        assert_eq!(q_bool("SELECT rbac.check('user:b', 'view', 'doc:1')"), Some(true));
    }

    /// Without notion_rbac.key_file (the #[pg_test] cluster has none),
    /// encrypting fails with SQLSTATE F0000 and a message that says how to
    /// configure a key; nothing is stored.
    #[pg_test]
    fn encrypting_without_a_key_file_says_how() {
        Spi::run(
            "DO $$ DECLARE h text; BEGIN PERFORM rbac.encrypt_token('x', 'a', 'b', 'c'); RAISE EXCEPTION 'no error'; \
             EXCEPTION WHEN config_file_error THEN GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT; \
             PERFORM set_config('test.hint', h, true); END $$",
        )
        .unwrap();
        let hint = Spi::get_one::<String>("SELECT current_setting('test.hint', true)").unwrap().unwrap_or_default();
        assert!(hint.contains("notion_rbac.key_file"), "hint should say how to configure: {hint}");
    }

    /// An acyclic chain deeper than notion_rbac.max_depth is a clear error
    /// (SQLSTATE 54001); the same chain within the limit answers.
    #[pg_test]
    fn depth_limit_is_an_error() {
        docs_model();
        Spi::run(
            "SELECT rbac.write_tuples(array_agg(format('doc:%s#parent@doc:%s', i, i + 1))) FROM generate_series(1, 40) i",
        )
        .unwrap();
        Spi::run("SELECT rbac.write_tuples(ARRAY['doc:41#viewer@user:a'])").unwrap();
        assert_eq!(q_bool("SELECT rbac.check('user:a', 'view', 'doc:1')"), Some(true));
        Spi::run("SET LOCAL notion_rbac.max_depth = 20").unwrap();
        // Raises 'no error' (failing the test) unless the check fails with 54001.
        Spi::run(
            "DO $$ BEGIN PERFORM rbac.check('user:a', 'view', 'doc:1'); RAISE EXCEPTION 'no error'; \
             EXCEPTION WHEN statement_too_complex THEN NULL; END $$",
        )
        .unwrap();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // Test with the library preloaded, as production installs run it
        // (the background worker needs it). The SQL regression layer covers
        // the non-preloaded case too.
        vec!["shared_preload_libraries = 'notion_rbac'"]
    }
}
