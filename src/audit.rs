//! Writing audit entries from Rust: one call of `rbac._audit` (sql/audit.sql),
//! which appends to `rbac.audit_log` (or, read-only or on a standby, only
//! writes the JSON line to the server log). Entries carry names, ids and
//! counts — never a token, a code or a secret.

use pgrx::prelude::*;

/// One audit entry: `action`, `result` (success, denied, error), what it is
/// about, and details as JSON.
pub fn record(
    action: &str,
    result: &str,
    resource: (Option<&str>, Option<&str>),
    workspace_id: Option<&str>,
    metadata: serde_json::Value,
) {
    Spi::run_with_args(
        "SELECT rbac._audit($1, $2, $3, $4, $5, $6)",
        &[
            action.into(),
            result.into(),
            resource.0.into(),
            resource.1.into(),
            workspace_id.into(),
            pgrx::JsonB(metadata).into(),
        ],
    )
    .unwrap_or_else(|e| pgrx::error!("notion_rbac: writing an audit entry failed: {e}"));
}

/// An entry about an installation: resource and workspace are the bot's
/// workspace; the bot id is added to the details.
pub fn record_for_bot(action: &str, bot_id: &str, mut metadata: serde_json::Value) {
    let workspace = Spi::get_one_with_args::<String>(
        "SELECT (SELECT workspace_id FROM rbac.workspaces WHERE bot_id = $1)",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| pgrx::error!("notion_rbac: reading the workspace for an audit entry failed: {e}"));
    if let Some(object) = metadata.as_object_mut() {
        object.insert("bot_id".into(), bot_id.into());
    }
    record(action, "success", (Some("workspace"), workspace.as_deref()), workspace.as_deref(), metadata);
}

/// Internal (`rbac._audit`): writes an audit entry's JSON line to the
/// server log, and nothing else. A LOG message from PL/pgSQL would be
/// followed by the statement that led to it (`log_min_error_statement`
/// counts LOG as worse than ERROR for the server log) and its context, and
/// that statement may hold a secret: `rbac.oauth_configure`'s client
/// secret, an OAuth code, a token written beside a tuple. Here the message
/// hides both itself, so `rbac._audit` needs no function-level settings
/// (which PostgreSQL saves and restores on every call).
#[pg_extern(volatile, parallel_safe)]
pub fn _audit_log_line(line: &str) {
    use std::ffi::{c_char, c_int};
    // Declared here: pgrx keeps errstart and errfinish out of its bindings.
    // Nothing in this frame has a destructor, and a LOG report returns.
    unsafe extern "C-unwind" {
        fn errstart(elevel: c_int, domain: *const c_char) -> bool;
        fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
    }
    let len = c_int::try_from(line.len()).unwrap_or(c_int::MAX);
    // SAFETY: the ereport sequence of PostgreSQL's macro at a level that
    // returns; "%.*s" reads exactly `len` bytes of the borrowed text.
    unsafe {
        if errstart(pgrx::pg_sys::LOG_SERVER_ONLY as c_int, std::ptr::null()) {
            pgrx::pg_sys::errmsg_internal(c"%.*s".as_ptr(), len, line.as_ptr().cast::<c_char>());
            pgrx::pg_sys::errhidestmt(true);
            pgrx::pg_sys::errhidecontext(true);
            errfinish(c"audit.rs".as_ptr(), line!() as c_int, c"_audit_log_line".as_ptr());
        }
    }
}
