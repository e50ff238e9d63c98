//! Running permission-aware Notion requests (`rbac.notion_requests`): the
//! call goes through [`bot::call`] (per-token budget, refresh on 401,
//! deauthorization); the answer — or Notion's error code with what it
//! means for the person who asked — is kept for `rbac.notion_response`.
//! A request that may have reached Notion is not repeated unless it is
//! idempotent or Notion refused it unprocessed (429/529).

use std::time::Duration;

use notion_rbac_notion::api::target;
use notion_rbac_notion::http::retry;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;

use super::bot::{self, CallError};
use super::{spi_error, Context};


struct Claimed {
    id: i64,
    attempt: i32,
    bot_id: String,
    method: String,
    path: String,
    body: Option<serde_json::Value>,
    /// The subject may no longer do what the request does, or that can no
    /// longer be decided: refused now, not sent.
    denied: bool,
}

/// Takes the next due request, and authorizes it again: retries and
/// backoff can hold a request for hours, and a role or a share withdrawn
/// meanwhile must stop it as it would stop a new one.
fn claim() -> Option<Claimed> {
    let claimed = crate::store::write_returning(
        "UPDATE rbac.notion_requests SET status = 'running', attempts = attempts + 1 \
          WHERE id = (SELECT id FROM rbac.notion_requests WHERE status = 'queued' AND next_attempt_at <= pg_catalog.now() \
                       ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
          RETURNING id, attempts, bot_id, method, path, body, subject, action, object",
        &[],
        |row| {
            if row.is_empty() {
                return Ok(None);
            }
            let job = Claimed {
                id: row.get::<i64>(1)?.unwrap_or_default(),
                attempt: row.get::<i32>(2)?.unwrap_or_default(),
                bot_id: row.get::<String>(3)?.unwrap_or_default(),
                method: row.get::<String>(4)?.unwrap_or_default(),
                path: row.get::<String>(5)?.unwrap_or_default(),
                body: row.get::<pgrx::JsonB>(6)?.map(|j| j.0),
                denied: false,
            };
            let grant = (
                row.get::<String>(7)?.unwrap_or_default(),
                row.get::<String>(8)?.unwrap_or_default(),
                row.get::<String>(9)?.unwrap_or_default(),
            );
            Ok(Some((job, grant)))
        },
    )
    .unwrap_or_else(|e| spi_error("claiming a Notion request", e));
    let (mut job, (subject, action, object)) = claimed?;
    // The check may now raise (the model no longer has the permission the
    // action maps to, a depth limit): the request then fails here, on its
    // own, and is not sent.
    let authorized = super::in_subtransaction(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT rbac.authorize($1, $2, $3)",
            &[subject.as_str().into(), action.as_str().into(), object.as_str().into()],
        )
        .unwrap_or_else(|e| spi_error("authorizing a Notion request again", e))
        .unwrap_or(false)
    });
    let refusal = match authorized {
        Ok(true) => return Some(job),
        Ok(false) => ("denied", None, format!("{subject} may no longer {action} {object} (see rbac.recent_denials)")),
        Err(why) => ("failed", Some("authorization_failed"), format!("the request could not be authorized again: {why}")),
    };
    Spi::run_with_args(
        "UPDATE rbac.notion_requests SET status = $2, error_code = $3, finished_at = pg_catalog.now(), error = $4 WHERE id = $1",
        &[job.id.into(), refusal.0.into(), refusal.1.into(), refusal.2.into()],
    )
    .unwrap_or_else(|e| spi_error("refusing a Notion request", e));
    job.denied = true;
    Some(job)
}

/// How a request ended.
enum Ended {
    Answer(serde_json::Value),
    Refused { status: Option<i32>, code: String, message: String },
    Again { error: String, after: Option<Duration> },
}

/// Runs one queued request if there is one; false when there was none.
pub fn run_one(context: &Context) -> bool {
    let Some(job) = BackgroundWorker::transaction(claim) else { return false };
    if job.denied {
        return true;
    }
    let ended = perform(context, &job);
    let job = std::panic::AssertUnwindSafe(job);
    BackgroundWorker::transaction(move || record(&job, ended));
    true
}

fn perform(context: &Context, job: &Claimed) -> Ended {
    let client = match BackgroundWorker::transaction(super::exchange::client) {
        Ok(c) => c,
        Err(why) => return Ended::Refused { status: None, code: "configuration".into(), message: why },
    };
    let Some(method) = notion_rbac_notion::http::Method::parse(&job.method) else {
        return Ended::Refused { status: None, code: "invalid_request".into(), message: "unknown method".into() };
    };
    let body = job.body.as_ref().map(|b| b.to_string().into_bytes());
    match bot::call(context, &client, &job.bot_id, method, &job.path, body) {
        Ok(answer) => Ended::Answer(serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null)),
        Err(CallError::Api(e)) => Ended::Refused {
            status: Some(i32::from(e.status)),
            code: e.code.clone().unwrap_or_else(|| format!("http_{}", e.status)),
            message: e.message.clone().unwrap_or_default(),
        },
        Err(CallError::Revoked(why)) => Ended::Refused { status: Some(401), code: "unauthorized".into(), message: why },
        Err(CallError::Retry { error, after, throttled }) if throttled || method.is_idempotent() => {
            Ended::Again { error, after }
        }
        Err(CallError::Retry { error, .. }) => Ended::Refused {
            status: None,
            code: "no_answer".into(),
            message: format!("{error}; not repeated, since Notion may have acted on it"),
        },
        Err(CallError::Failed(why)) => Ended::Refused { status: None, code: "failed".into(), message: why },
    }
}

fn record(job: &Claimed, ended: Ended) {
    let (status, http, response, code, error, delay) = match ended {
        Ended::Answer(v) => ("succeeded", Some(200), Some(v), None, None, 0.0),
        Ended::Refused { status, code, message } => {
            let error = format!("{}: {message}", target::explain(&code));
            ("failed", status, None, Some(code), Some(error), 0.0)
        }
        Ended::Again { error, after } if job.attempt < crate::guc::max_job_attempts() => {
            let wait = after.unwrap_or_default().max(retry::backoff(job.attempt as u32, Duration::from_secs(300), retry::jitter()));
            ("queued", None, None, None, Some(error), wait.as_secs_f64())
        }
        Ended::Again { error, .. } => ("failed", None, None, Some("no_answer".to_owned()), Some(error), 0.0),
    };
    Spi::run_with_args(
        "UPDATE rbac.notion_requests SET status = $2, http_status = $3, response = $4, error_code = $5, error = $6, \
                next_attempt_at = pg_catalog.now() + make_interval(secs => $7), \
                finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE pg_catalog.now() END \
          WHERE id = $1 AND status = 'running' AND attempts = $8",
        &[
            job.id.into(),
            status.into(),
            http.into(),
            response.map(pgrx::JsonB).into(),
            code.into(),
            error.into(),
            delay.into(),
            job.attempt.into(),
        ],
    )
    .unwrap_or_else(|e| spi_error("recording a Notion response", e));
}

/// Deletes answers older than `notion_rbac.response_retention`.
pub fn expire() -> i64 {
    Spi::get_one_with_args::<i64>(
        "WITH gone AS (DELETE FROM rbac.notion_requests WHERE status IN ('succeeded', 'failed', 'denied') \
                         AND finished_at < pg_catalog.now() - make_interval(secs => $1) RETURNING 1) \
         SELECT count(*) FROM gone",
        &[crate::guc::response_retention().as_secs_f64().into()],
    )
    .unwrap_or_else(|e| spi_error("expiring Notion responses", e))
    .unwrap_or(0)
}
