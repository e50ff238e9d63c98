//! What the extension declares to PostgreSQL by hand, beside pgrx's
//! bindings: the version-1 calling convention record of C entry points
//! written without `#[pg_extern]`, and PostgreSQL functions declared
//! without pgrx's guard.
//!
//! pgrx's bindings turn a PostgreSQL error (its longjmp) into a Rust panic
//! and, at the function's boundary, raise a copy that keeps only the code,
//! message, detail, hint and outer context. The functions below are called
//! where the error must instead reach PostgreSQL's own handler as it was
//! raised: from frames that hold nothing with a destructor (the hooks in
//! `utility` and `api::permitted_scan`), or under `whole_errors`' own
//! `sigsetjmp`.

use pgrx::pg_sys;

/// `PG_FUNCTION_INFO_V1` for hand-written C entry points.
pub static FINFO_V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };

unsafe extern "C-unwind" {
    #[allow(clippy::too_many_arguments)]
    pub fn standard_ProcessUtility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
    pub fn standard_ExecutorStart(query: *mut pg_sys::QueryDesc, eflags: std::ffi::c_int);
    pub fn pg_re_throw() -> !;
    pub fn SPI_execute_with_args(
        src: *const std::ffi::c_char,
        nargs: std::ffi::c_int,
        argtypes: *mut pg_sys::Oid,
        values: *mut pg_sys::Datum,
        nulls: *const std::ffi::c_char,
        read_only: bool,
        tcount: std::ffi::c_long,
    ) -> std::ffi::c_int;
}

// PostgreSQL's getters of backend-local state, called without pgrx's
// error guard. The guard (a `sigsetjmp` and a swap of the error stack
// around every call) exists for functions that may raise an ERROR; these
// only read variables (at most after an assertion) and never raise. A
// check calls about twenty of them (the kept scans' stamp, the tables'
// guard, the cache key), and a policy calls some on every row it filters.
unsafe extern "C" {
    pub fn IsTransactionState() -> bool;
    pub fn IsInParallelMode() -> bool;
    pub fn ActiveSnapshotSet() -> bool;
    pub fn GetActiveSnapshot() -> pg_sys::Snapshot;
    pub fn GetUserId() -> pg_sys::Oid;
    pub fn GetTopTransactionIdIfAny() -> pg_sys::TransactionId;
    pub fn GetCurrentSubTransactionId() -> pg_sys::SubTransactionId;
    pub fn GetCurrentStatementStartTimestamp() -> pg_sys::TimestampTz;
}
