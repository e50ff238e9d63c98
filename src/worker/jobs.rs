//! Jobs in tables: claiming, finishing with backoff, recovering after a
//! restart. Every function here runs inside one of the worker's short
//! transactions.
//!
//! Exactly-once effects: a claim commits `status = 'running'` with the
//! attempt number incremented; the outcome is recorded only by a statement
//! that still finds the job running at that attempt. A job re-queued after
//! a crash gets a new attempt number, so a late writer of an older attempt
//! changes nothing.

use std::time::Duration;

use notion_rbac_notion::http::{retry, Method};
use pgrx::prelude::*;

use super::spi_error;

/// Which table a job lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    OauthJobs,
    WorkspaceJobs,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::OauthJobs => "rbac.oauth_jobs",
            Table::WorkspaceJobs => "rbac.workspace_jobs",
        }
    }

    fn error_column(self) -> &'static str {
        match self {
            Table::OauthJobs => "error",
            Table::WorkspaceJobs => "last_error",
        }
    }
}

/// A job this worker marked running.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    pub table: Table,
    pub id: i64,
    pub attempt: i32,
}

/// Result of trying to claim a job.
pub enum Claim<T> {
    /// Nothing due.
    Nothing,
    /// A job was claimed and already finished (it could not even start,
    /// e.g. its secret does not decrypt).
    Settled,
    /// A job to run.
    Ready(T),
}

/// How a run of a job ended.
#[derive(Debug)]
pub enum Outcome {
    Succeeded(Option<serde_json::Value>),
    /// Transient: try again after `after` (or backoff), unless attempts are
    /// used up.
    Retry { error: String, after: Option<Duration> },
    Failed(String),
}

/// The kinds of workspace jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceJobKind {
    Verify,
    Revoke,
    Sync,
}

impl WorkspaceJobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceJobKind::Verify => "verify",
            WorkspaceJobKind::Revoke => "revoke",
            WorkspaceJobKind::Sync => "sync",
        }
    }
}

/// A claimed workspace job.
pub struct WorkspaceJob {
    pub claim: Claimed,
    pub kind: WorkspaceJobKind,
    pub bot_id: String,
}


/// Whether the extension is installed in this database at this library's
/// version (an older installation lacks the worker's tables and columns).
pub fn extension_ready() -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'notion_rbac' AND extversion = $1)",
        &[env!("CARGO_PKG_VERSION").into()],
    )
    .unwrap_or_else(|e| spi_error("looking up the extension", e))
    .unwrap_or(false)
}

/// Puts jobs left running by a previous worker process back in the queue,
/// or fails those that have used every attempt (a job that brings the
/// worker down would otherwise do so again after every restart). A Notion
/// request goes back only if repeating it is harmless (GET, DELETE): any
/// other may have reached Notion, so it fails unanswered, as it would had
/// the answer been lost in flight. Returns how many were re-queued or
/// failed.
pub fn requeue_interrupted() -> i64 {
    let max = crate::guc::max_job_attempts();
    let mut n = 0;
    for table in [Table::OauthJobs, Table::WorkspaceJobs] {
        let extra = match table {
            // A code is erased once its job ends, as `finish` does.
            Table::OauthJobs => ", code = CASE WHEN attempts < $1 THEN code END, updated_at = pg_catalog.now()",
            Table::WorkspaceJobs => "",
        };
        let sql = format!(
            "WITH r AS (UPDATE {t} SET status = CASE WHEN attempts < $1 THEN 'queued' ELSE 'failed' END, \
                 next_attempt_at = pg_catalog.now(), \
                 finished_at = CASE WHEN attempts < $1 THEN NULL ELSE pg_catalog.now() END, \
                 {e} = 'interrupted: the worker stopped while running this job' \
                       || CASE WHEN attempts < $1 THEN '' ELSE ' (gave up after ' || attempts || ' attempts)' END{extra} \
               WHERE status = 'running' RETURNING 1) \
             SELECT count(*) FROM r",
            t = table.name(),
            e = table.error_column()
        );
        n += Spi::get_one_with_args::<i64>(&sql, &[max.into()])
            .unwrap_or_else(|e| spi_error("re-queueing interrupted jobs", e))
            .unwrap_or(0);
    }
    let repeatable: Vec<&str> =
        [Method::Get, Method::Post, Method::Patch, Method::Delete].into_iter().filter(|m| m.is_idempotent()).map(Method::as_str).collect();
    n += Spi::get_one_with_args::<i64>(
        "WITH r AS (UPDATE rbac.notion_requests SET \
             status = CASE WHEN method = ANY($2) AND attempts < $1 THEN 'queued' ELSE 'failed' END, \
             next_attempt_at = pg_catalog.now(), \
             finished_at = CASE WHEN method = ANY($2) AND attempts < $1 THEN NULL ELSE pg_catalog.now() END, \
             error_code = CASE WHEN method = ANY($2) AND attempts < $1 THEN NULL ELSE 'no_answer' END, \
             error = CASE WHEN method = ANY($2) \
                          THEN 'interrupted: the worker stopped while running this request' \
                               || CASE WHEN attempts < $1 THEN '' ELSE ' (gave up after ' || attempts || ' attempts)' END \
                          ELSE 'no answer: the worker stopped while this request was running; not repeated, \
since Notion may have acted on it' END \
           WHERE status = 'running' RETURNING 1) \
         SELECT count(*) FROM r",
        &[max.into(), repeatable.into()],
    )
    .unwrap_or_else(|e| spi_error("re-queueing interrupted Notion requests", e))
    .unwrap_or(0);
    // A revoke that gave up above ends as `workspace_job::run` ends one:
    // its tokens are not used again. (Any revoked workspace with no revoke
    // left to make is held to the same.)
    Spi::run(
        "UPDATE rbac.workspaces w SET access_token = NULL, refresh_token = NULL \
          WHERE w.status = 'revoked' AND (w.access_token IS NOT NULL OR w.refresh_token IS NOT NULL) \
            AND NOT EXISTS (SELECT FROM rbac.workspace_jobs j WHERE j.bot_id = w.bot_id AND j.kind = 'revoke' \
                              AND j.status IN ('queued', 'running'))",
    )
    .unwrap_or_else(|e| spi_error("erasing the tokens of revocations that gave up", e));
    n
}

/// Time until the earliest queued job is due (None: nothing queued).
pub fn next_due() -> Option<Duration> {
    let secs = Spi::get_one::<f64>(
        "SELECT extract(epoch FROM least( \
            (SELECT min(next_attempt_at) FROM rbac.oauth_jobs WHERE status = 'queued'), \
            (SELECT min(next_attempt_at) FROM rbac.workspace_jobs WHERE status = 'queued'), \
            (SELECT min(next_attempt_at) FROM rbac.notion_requests WHERE status = 'queued'), \
            (SELECT min(o.next_attempt_at) FROM rbac.audit_outbox o WHERE o.status IN ('queued', 'sending') \
                AND EXISTS (SELECT FROM rbac.audit_delivery d WHERE d.bot_id = o.bot_id AND d.enabled))) \
          - pg_catalog.clock_timestamp())::float8",
    )
    .unwrap_or_else(|e| spi_error("reading the job queue", e))?;
    Some(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)))
}

/// Queues a sync for every active workspace whose last sync ended more
/// than `notion_rbac.sync_interval` ago (and that has none queued or
/// running). Returns how many.
pub fn schedule_syncs() -> i64 {
    let interval = crate::guc::sync_interval();
    if interval.is_zero() {
        return 0;
    }
    Spi::get_one_with_args::<i64>(
        "WITH due AS ( \
           INSERT INTO rbac.workspace_jobs (bot_id, kind, requested_by) \
           SELECT w.bot_id, 'sync', 'notion_rbac worker' FROM rbac.workspaces w \
            WHERE w.status = 'active' \
              AND NOT EXISTS (SELECT FROM rbac.workspace_jobs j WHERE j.bot_id = w.bot_id AND j.kind = 'sync' \
                                AND j.status IN ('queued', 'running')) \
              AND coalesce((SELECT max(j.finished_at) FROM rbac.workspace_jobs j WHERE j.bot_id = w.bot_id \
                              AND j.kind = 'sync' AND j.status IN ('succeeded', 'failed')), '-infinity') \
                  <= pg_catalog.now() - make_interval(secs => $1) \
           RETURNING 1) \
         SELECT count(*) FROM due",
        &[interval.as_secs_f64().into()],
    )
    .unwrap_or_else(|e| spi_error("scheduling syncs", e))
    .unwrap_or(0)
}

/// Claims the next due workspace job.
pub fn claim_workspace_job() -> Option<WorkspaceJob> {
    let row = crate::store::write_returning(
        "UPDATE rbac.workspace_jobs SET status = 'running', attempts = attempts + 1, started_at = pg_catalog.now() \
          WHERE id = (SELECT id FROM rbac.workspace_jobs \
                       WHERE status = 'queued' AND next_attempt_at <= pg_catalog.now() \
                       ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
          RETURNING id, attempts, kind, bot_id",
        &[],
        |row| {
            if row.is_empty() {
                return Ok(None);
            }
            Ok(Some((row.get::<i64>(1)?, row.get::<i32>(2)?, row.get::<String>(3)?, row.get::<String>(4)?)))
        },
    )
    .unwrap_or_else(|e| spi_error("claiming a workspace job", e))?;
    let (Some(id), Some(attempt), Some(kind), Some(bot_id)) = row else { return None };
    let kind = match kind.as_str() {
        "verify" => WorkspaceJobKind::Verify,
        "sync" => WorkspaceJobKind::Sync,
        _ => WorkspaceJobKind::Revoke,
    };
    Some(WorkspaceJob { claim: Claimed { table: Table::WorkspaceJobs, id, attempt }, kind, bot_id })
}

/// Records how a run ended. Returns the job's new status, or None when the
/// job is no longer this attempt's (re-queued or cancelled meanwhile).
pub fn finish(claim: &Claimed, outcome: Outcome) -> Option<&'static str> {
    let (status, error, result, delay): (&str, Option<String>, Option<serde_json::Value>, f64) = match outcome {
        Outcome::Succeeded(result) => ("succeeded", None, result, 0.0),
        Outcome::Failed(error) => ("failed", Some(error), None, 0.0),
        Outcome::Retry { error, after } if claim.attempt < crate::guc::max_job_attempts() => {
            let backoff = retry::backoff(claim.attempt as u32, Duration::from_secs(300), retry::jitter());
            ("queued", Some(error), None, after.unwrap_or_default().max(backoff).as_secs_f64())
        }
        Outcome::Retry { error, .. } => {
            ("failed", Some(format!("{error} (gave up after {} attempts)", claim.attempt)), None, 0.0)
        }
    };
    let table = claim.table;
    let extra = match table {
        // A spent or dead code is erased; a queued one is kept for the retry.
        Table::OauthJobs => ", code = CASE WHEN $2 = 'queued' THEN code END, updated_at = pg_catalog.now()",
        Table::WorkspaceJobs => ", result = $6",
    };
    let sql = format!(
        "UPDATE {t} SET status = $2, {e} = $3, \
           next_attempt_at = pg_catalog.now() + make_interval(secs => $4), \
           finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE pg_catalog.now() END{extra} \
         WHERE id = $1 AND status = 'running' AND attempts = $5 RETURNING status",
        t = table.name(),
        e = table.error_column()
    );
    let mut args = vec![claim.id.into(), status.into(), error.into(), delay.into(), claim.attempt.into()];
    if table == Table::WorkspaceJobs {
        args.push(result.map(pgrx::JsonB).into());
    }
    let updated = crate::store::write_returning(&sql, &args, |row| if row.is_empty() { Ok(None) } else { row.get::<String>(1) })
        .unwrap_or_else(|e| spi_error("recording a job's outcome", e));
    updated.map(|_| match status {
        "succeeded" => "succeeded",
        "queued" => "queued",
        _ => "failed",
    })
}
