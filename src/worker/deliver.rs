//! Delivering audit entries to a Notion database (`rbac.audit_outbox`).
//!
//! Never lost: an entry stays in the outbox until Notion has a page for it
//! (or it failed for a reason retrying cannot cure, kept for an
//! administrator). Never sent twice: the outbox row is marked `sending` and
//! committed before the page is created; a row found `sending` — the worker
//! stopped between Notion's answer and recording it, or the answer never
//! came — is first looked up in the database by its Action and its exact
//! Timestamp (microseconds), and only created if absent. Through
//! [`bot::call`]: the token's request budget, 429-aware, refresh on 401.
//! Entries of an installation whose delivery is disabled or removed wait
//! in the outbox (they go out if it is enabled or configured again), and
//! neither hold up other installations' entries nor wake the worker.

use std::time::Duration;

use notion_rbac_notion::api::target;
use notion_rbac_notion::http::{retry, Method};
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use serde_json::{json, Value};

use super::bot::{self, CallError};
use super::{spi_error, Context};


/// A claimed outbox row with what the page needs.
struct Item {
    entry_id: String,
    bot_id: String,
    attempt: i32,
    /// Found `sending`, or tried before (a failed row queued again by an
    /// administrator): the page may exist already.
    resumed: bool,
    database_id: String,
    properties: Value,
    action: String,
    timestamp: String,
}

fn claim() -> Option<Item> {
    Spi::connect_mut(|c| {
        let t = c.update(
            "WITH next AS (SELECT o.entry_id, o.bot_id, o.status AS was, o.attempts AS tried FROM rbac.audit_outbox o \
                            WHERE o.status IN ('queued', 'sending') AND o.next_attempt_at <= pg_catalog.now() \
                              AND EXISTS (SELECT FROM rbac.audit_delivery d WHERE d.bot_id = o.bot_id AND d.enabled) \
                            ORDER BY o.next_attempt_at LIMIT 1 FOR UPDATE OF o SKIP LOCKED), \
                  upd AS (UPDATE rbac.audit_outbox o SET status = 'sending', attempts = o.attempts + 1 \
                            FROM next WHERE o.entry_id = next.entry_id AND o.bot_id = next.bot_id \
                            RETURNING o.entry_id, o.bot_id, o.attempts, next.was, next.tried) \
             SELECT upd.entry_id::text, upd.bot_id, upd.attempts, upd.was = 'sending' OR upd.tried > 0, d.database_id, l.action, \
                    coalesce(l.subject, l.db_role::text), l.result, \
                    coalesce(l.resource_type || ':' || l.resource_id, l.resource_type, ''), \
                    to_char(l.logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
               FROM upd JOIN rbac.audit_delivery d ON d.bot_id = upd.bot_id \
                        JOIN rbac.audit_log l ON l.id = upd.entry_id",
            None,
            &[],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let r = t.first();
        let text = |i: usize| -> pgrx::spi::SpiResult<String> { Ok(r.get::<String>(i)?.unwrap_or_default()) };
        let action = text(6)?;
        let timestamp = text(10)?;
        let rich = |s: &str| json!([{ "type": "text", "text": { "content": s.chars().take(2000).collect::<String>() } }]);
        let properties = json!({
            "Action": { "title": rich(&action) },
            "User": { "rich_text": rich(&text(7)?) },
            "Result": { "select": { "name": text(8)? } },
            "Resource": { "rich_text": rich(&text(9)?) },
            "Timestamp": { "date": { "start": timestamp } },
        });
        Ok::<_, pgrx::spi::SpiError>(Some(Item {
            entry_id: text(1)?,
            bot_id: text(2)?,
            attempt: r.get::<i32>(3)?.unwrap_or_default(),
            resumed: r.get::<bool>(4)?.unwrap_or(false),
            database_id: text(5)?,
            properties,
            action,
            timestamp,
        }))
    })
    .unwrap_or_else(|e| spi_error("claiming an audit delivery", e))
}

enum Ended {
    Sent(String),
    /// Try again later; the row stays `sending` (the page may exist).
    Again { error: String, after: Option<Duration> },
    Failed(String),
}

/// Sends one due entry if there is one; false when there was none.
pub fn run_one(context: &Context) -> bool {
    let Some(item) = BackgroundWorker::transaction(claim) else { return false };
    let ended = perform(context, &item);
    let item = std::panic::AssertUnwindSafe(item);
    BackgroundWorker::transaction(move || record(&item, ended));
    true
}

fn perform(context: &Context, item: &Item) -> Ended {
    let client = match BackgroundWorker::transaction(super::exchange::client) {
        Ok(c) => c,
        Err(why) => return Ended::Failed(why),
    };
    let call = |method, path: &str, body: Option<Value>| {
        bot::call(context, &client, &item.bot_id, method, path, body.map(|b| b.to_string().into_bytes()))
    };
    if item.resumed {
        match find_existing(&call, item) {
            Ok(Some(page)) => return Ended::Sent(page),
            Ok(None) => {}
            Err(e) => return ended(e),
        }
    }
    let body = json!({ "parent": { "database_id": item.database_id }, "properties": item.properties });
    match call(Method::Post, "/v1/pages", Some(body)) {
        Ok(answer) => {
            let page = serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            Ended::Sent(page)
        }
        Err(e) => ended(e),
    }
}

/// One call with the installation's token.
type Call<'a> = dyn Fn(Method, &str, Option<Value>) -> Result<Vec<u8>, CallError> + 'a;

/// The page of this entry, if an earlier attempt created it.
fn find_existing(
    call: &Call<'_>,
    item: &Item,
) -> Result<Option<String>, CallError> {
    let database = call(Method::Get, &format!("/v1/databases/{}", item.database_id), None)?;
    let source = serde_json::from_slice::<Value>(&database)
        .ok()
        .and_then(|v| v.pointer("/data_sources/0/id").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| CallError::Failed("the audit database has no data source".into()))?;
    let query = json!({
        "filter": { "and": [
            { "property": "Action", "title": { "equals": item.action } },
            { "property": "Timestamp", "date": { "equals": item.timestamp } },
        ] },
        "page_size": 1,
    });
    let found = call(Method::Post, &format!("/v1/data_sources/{source}/query"), Some(query))?;
    Ok(serde_json::from_slice::<Value>(&found)
        .ok()
        .and_then(|v| v.pointer("/results/0/id").and_then(Value::as_str).map(str::to_owned)))
}

fn ended(e: CallError) -> Ended {
    match e {
        CallError::Retry { error, after, .. } => Ended::Again { error, after },
        CallError::Api(e) => {
            let code = e.code.clone().unwrap_or_default();
            Ended::Failed(format!("{}: {e}", target::explain(&code)))
        }
        CallError::Revoked(why) => Ended::Failed(format!("the workspace is revoked: {why}")),
        CallError::Failed(why) => Ended::Failed(why),
    }
}

fn record(item: &Item, ended: Ended) {
    let (status, page, error, delay) = match ended {
        Ended::Sent(page) => ("sent", Some(page), None, 0.0),
        Ended::Again { error, after } if item.attempt < crate::guc::max_job_attempts() => {
            let wait = after
                .unwrap_or_default()
                .max(retry::backoff(item.attempt as u32, Duration::from_secs(300), retry::jitter()));
            ("sending", None, Some(error), wait.as_secs_f64())
        }
        Ended::Again { error, .. } => ("failed", None, Some(format!("{error} (gave up)")), 0.0),
        Ended::Failed(why) => ("failed", None, Some(why), 0.0),
    };
    Spi::run_with_args(
        "UPDATE rbac.audit_outbox SET status = $3, notion_page_id = $4, last_error = $5, \
                next_attempt_at = pg_catalog.now() + make_interval(secs => $6), \
                sent_at = CASE WHEN $3 = 'sent' THEN pg_catalog.now() END \
          WHERE entry_id = $1::uuid AND bot_id = $2 AND attempts = $7",
        &[
            item.entry_id.as_str().into(),
            item.bot_id.as_str().into(),
            status.into(),
            page.into(),
            error.into(),
            delay.into(),
            item.attempt.into(),
        ],
    )
    .unwrap_or_else(|e| spi_error("recording an audit delivery", e));
}
