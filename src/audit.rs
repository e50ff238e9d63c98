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
