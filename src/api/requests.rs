//! Permission-aware Notion requests: `rbac.notion_request` authorizes the
//! subject for the object the request names (`rbac.authorize`: role and
//! graph) and queues the call for the background worker, which alone holds
//! the token; `rbac.notion_response` (sql/worker.sql) returns the answer.

use notion_rbac_core::{Error, ErrorKind};
use notion_rbac_notion::api::target;
use notion_rbac_notion::http::Method;
use pgrx::prelude::*;

use crate::errors::{raise, OrRaise};

fn spi_error(what: &str, e: pgrx::spi::SpiError) -> ! {
    pgrx::error!("notion_rbac: {what} failed: {e}")
}

/// Queues `method path [body]` to Notion on behalf of `subject`, through
/// the installation `bot_id`, if `rbac.authorize` allows the subject the
/// action on the object the path names (table in the README). Returns the
/// request's id for `rbac.notion_response`; a denied request is recorded
/// as `denied` (and audited) and never sent.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn notion_request(
    subject: Option<&str>,
    bot_id: Option<&str>,
    method: Option<&str>,
    path: Option<&str>,
    body: default!(Option<pgrx::JsonB>, "NULL"),
) -> i64 {
    // Not STRICT (the body may be NULL): the others are refused by name.
    use crate::errors::required;
    let (subject, bot_id, method, path) =
        (required(subject, "subject"), required(bot_id, "bot_id"), required(method, "method"), required(path, "path"));
    crate::store::require_writable("make a Notion request");
    let Some(m) = Method::parse(method) else {
        raise(Error::new(ErrorKind::InvalidArgument, "method must be GET, POST, PATCH or DELETE"));
    };
    if path.len() > 2048 {
        raise(Error::new(ErrorKind::InvalidArgument, "the path is longer than 2048 bytes"));
    }
    crate::api::workspaces::require_active(bot_id);
    let body = body.map(|b| b.0);
    let target = target::target(m, path, body.as_ref()).or_raise();
    let object = target.object();
    let allowed = Spi::get_one_with_args::<bool>(
        "SELECT rbac.authorize($1, $2, $3)",
        &[subject.into(), target.action.into(), object.as_str().into()],
    )
    .unwrap_or_else(|e| spi_error("authorizing the request", e))
    .unwrap_or(false);
    let status = if allowed { "queued" } else { "denied" };
    let error = (!allowed).then(|| format!("{subject} may not {} {object} (see rbac.recent_denials)", target.action));
    let id = crate::store::write_returning(
        "INSERT INTO rbac.notion_requests (bot_id, subject, method, path, body, object, action, status, error, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8 = 'denied' THEN pg_catalog.now() END) RETURNING id",
        &[
            bot_id.into(),
            subject.into(),
            m.as_str().into(),
            path.into(),
            body.map(pgrx::JsonB).into(),
            object.as_str().into(),
            target.action.into(),
            status.into(),
            error.into(),
        ],
        |row| row.get_one::<i64>(),
    )
    .unwrap_or_else(|e| spi_error("queueing the request", e))
    .unwrap_or_else(|| pgrx::error!("notion_rbac: queueing the request returned no id"));
    if allowed {
        crate::audit::record(
            "notion_request",
            "success",
            (Some(target.entity_type), Some(&target.id)),
            None,
            serde_json::json!({ "request": id, "method": m.as_str(), "path": path.split('?').next(), "bot_id": bot_id,
                                "subject": subject }),
        );
        crate::worker::wake::at_commit("the Notion request");
    }
    id
}
