//! Installed workspaces, from SQL: revoke one (`rbac.deauthorize`), ask the
//! worker to prove its token still works (`rbac.verify_workspace`), and see
//! whether the worker runs (`rbac.worker_status`). The calls to Notion are
//! the worker's; these functions queue them and wake it at commit.

use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;

use crate::errors::raise;
use crate::whole_errors::{self, whole_entry};

fn spi_error(what: &str, e: pgrx::spi::SpiError) -> ! {
    pgrx::error!("notion_rbac: {what} failed: {e}")
}

fn unknown_workspace(bot_id: &str) -> ! {
    raise(
        Error::new(ErrorKind::UndefinedName, format!("no workspace with bot id {}", notion_rbac_core::error::shown(bot_id)))
            .with_hint("installed workspaces are the rows of rbac.workspaces"),
    )
}

/// Refuses an unknown (42704) or revoked (22023) workspace. Locks its row:
/// a concurrent `rbac.deauthorize` waits, so no job is queued for a
/// workspace revoked meanwhile.
pub(crate) fn require_active(bot_id: &str) {
    let status = Spi::get_one_with_args::<String>(
        "SELECT (SELECT status FROM rbac.workspaces WHERE bot_id = $1 FOR UPDATE)",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("reading the workspace", e));
    match status.as_deref() {
        None => unknown_workspace(bot_id),
        Some("active") => {}
        Some(other) => raise(
            Error::new(ErrorKind::InvalidArgument, format!("the workspace of bot {bot_id} is {other}"))
                .with_hint("a revoked workspace must be authorized again (rbac.oauth_start)"),
        ),
    }
}

/// Revokes an installation now: the workspace is marked revoked in this
/// transaction (no call uses its tokens again; queued jobs are cancelled),
/// and the worker asks Notion to revoke the token, then erases it. Returns
/// the id of that revoke job (in `rbac.worker_jobs`), or NULL when the
/// workspace was already revoked.
fn deauthorize(bot_id: &str) -> Option<i64> {
    crate::store::require_writable("deauthorize a workspace");
    let status = Spi::get_one_with_args::<String>(
        "SELECT (SELECT status FROM rbac.workspaces WHERE bot_id = $1 FOR UPDATE)",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("reading the workspace", e));
    let Some(status) = status else { unknown_workspace(bot_id) };
    if status == "revoked" {
        pgrx::notice!("the workspace of bot {bot_id} is already revoked");
        return None;
    }
    // (Operator and cast named in full: this runs as the owner with rbac on
    // the search_path, where pg_catalog has no `||` for name exactly.)
    let reason = Spi::get_one::<String>("SELECT 'deauthorized by ' OPERATOR(pg_catalog.||) SESSION_USER::pg_catalog.text")
        .unwrap_or_else(|e| spi_error("naming the session user", e))
        .unwrap_or_default();
    crate::worker::bot::deauthorize(bot_id, &reason, false);
    let job = whole_errors::execute_returning::<i64>(
        c"INSERT INTO rbac.workspace_jobs (bot_id, kind) VALUES ($1, 'revoke') RETURNING id",
        &[bot_id.into()],
    );
    crate::worker::wake::at_commit("revoking the token at Notion");
    job
}

/// Queues a call with the workspace's token (`GET /v1/users/me`): proves
/// the token works, refreshing it if Notion answers 401 — and revokes the
/// workspace if nothing can cure the 401. Returns the job id; its result
/// (the bot's name and workspace) is in `rbac.workspace_jobs`.
fn verify_workspace(bot_id: &str) -> i64 {
    crate::store::require_writable("verify a workspace");
    require_active(bot_id);
    let job = whole_errors::execute_returning::<i64>(
        c"INSERT INTO rbac.workspace_jobs (bot_id, kind) VALUES ($1, 'verify') RETURNING id",
        &[bot_id.into()],
    )
    .unwrap_or_else(|| pgrx::error!("notion_rbac: queueing the verification returned no id"));
    crate::worker::wake::at_commit("verifying the workspace");
    job
}

/// Queues a sync of the workspace's Notion access into tuples now (or
/// makes a queued one due now) and returns its job id; `rbac.sync_status`
/// shows how it went.
fn sync_now(bot_id: &str) -> i64 {
    crate::store::require_writable("sync a workspace");
    require_active(bot_id);
    let job = whole_errors::execute_returning::<i64>(
        c"WITH queued AS (UPDATE rbac.workspace_jobs SET next_attempt_at = pg_catalog.now() \
                          WHERE id = (SELECT min(id) FROM rbac.workspace_jobs \
                                       WHERE bot_id = $1 AND kind = 'sync' AND status = 'queued') RETURNING id), \
              fresh AS (INSERT INTO rbac.workspace_jobs (bot_id, kind) SELECT $1, 'sync' \
                         WHERE NOT EXISTS (SELECT FROM queued) RETURNING id) \
         SELECT id FROM queued UNION ALL SELECT id FROM fresh",
        &[bot_id.into()],
    )
    .unwrap_or_else(|| pgrx::error!("notion_rbac: queueing the sync returned no id"));
    crate::worker::wake::at_commit("the sync");
    job
}

// The C entry points of deauthorize, verify_workspace and sync_now: made
// by hand so that an error their job statements raise (a trigger on
// rbac.workspace_jobs, a constraint) reaches the caller whole (see
// `whole_errors`). Their SQL is what `#[pg_extern]` generated for them,
// symbols included.
whole_entry!(pg_finfo_deauthorize_wrapper, deauthorize_wrapper, String, |bot_id: String| deauthorize(&bot_id));
whole_entry!(pg_finfo_verify_workspace_wrapper, verify_workspace_wrapper, String, |bot_id: String| verify_workspace(&bot_id));
whole_entry!(pg_finfo_sync_now_wrapper, sync_now_wrapper, String, |bot_id: String| sync_now(&bot_id));

pgrx::extension_sql!(
    r#"
CREATE FUNCTION rbac."deauthorize"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'deauthorize_wrapper';

CREATE FUNCTION rbac."verify_workspace"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'verify_workspace_wrapper';

CREATE FUNCTION rbac."sync_now"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'sync_now_wrapper';
"#,
    name = "workspace_functions",
    requires = ["bootstrap"]
);

/// The model the sync writes into: Permify's Notion model with `parent`
/// for pages and databases. Load it with
/// `SELECT rbac.write_schema(rbac.notion_model())`, or extend it first.
#[pg_extern(immutable, parallel_safe)]
fn notion_model() -> &'static str {
    notion_rbac_notion::sync::NOTION_MODEL
}

#[allow(clippy::type_complexity)]
/// Whether the background worker runs, which database it serves, its
/// process id, and how many jobs are queued, running and failed.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn worker_status() -> TableIterator<
    'static,
    (
        name!(preloaded, bool),
        name!(database, Option<String>),
        name!(pid, Option<i32>),
        name!(queued, i64),
        name!(running, i64),
        name!(failed, i64),
    ),
> {
    let preloaded = crate::worker::wake::preloaded();
    let database = preloaded.then(crate::guc::database_name);
    let pid = if preloaded { crate::worker::wake::worker_pid() } else { None };
    let (queued, running, failed) = Spi::get_three::<i64, i64, i64>(
        "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), \
                count(*) FILTER (WHERE status = 'failed') FROM rbac.worker_jobs",
    )
    .unwrap_or_else(|e| spi_error("counting jobs", e));
    TableIterator::once((
        preloaded,
        database,
        pid,
        queued.unwrap_or(0),
        running.unwrap_or(0),
        failed.unwrap_or(0),
    ))
}

/// Wakes the background worker when the calling transaction commits (for
/// triggers that queue its work). Internal: granted to no one.
#[pg_extern(volatile, parallel_unsafe)]
fn _wake_worker() {
    if crate::worker::wake::preloaded() {
        crate::worker::wake::at_commit("delivering audit entries");
    }
}
