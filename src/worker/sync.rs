//! The sync job: a workspace's Notion access mirrored into tuples.
//!
//! Listing (users, search, the blocks objects sit in) happens with no
//! transaction open, through [`bot::call`] (refresh on 401, deauthorization)
//! with the per-token request budget (`budget`); planning is the pure
//! `notion_rbac_notion::sync`. The result is reconciled in one
//! transaction: tuples the sync owns (`rbac.notion_synced`) that are no
//! longer seen are deleted (unless another installation owns them too),
//! new ones are inserted, unchanged ones are not touched, and tuples
//! written by hand are never touched. A sync that fails before that
//! transaction commits leaves the previous tuples as they were.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use notion_rbac_notion::api::ErrorClass;
use notion_rbac_notion::http::{retry, Method};
use notion_rbac_notion::sync::{self as plan, Fetched, Part, SyncTuple};
use pgrx::prelude::*;

use super::bot::{self, CallError};
use super::exchange::Client;
use super::jobs::Outcome;
use super::{in_transaction, spi_error, Context};

/// Transient failures of one request retried within a sync before the
/// sync gives up (and its job is retried later).
const RETRIES_PER_REQUEST: u32 = 4;


/// What a sync reports.
#[derive(Default)]
struct Counters {
    rate_limited: u32,
}

/// Runs a sync of `bot_id`.
pub fn run(context: &Context, client: &Client, bot_id: &str) -> Outcome {
    let setup = in_transaction(|| prepare(bot_id).map(|w| (w, known(bot_id))));
    let (workspace_id, known) = match setup {
        Ok(w) => w,
        Err(why) => return Outcome::Failed(why),
    };
    let requests_before = context.requests.get();
    let mut counters = Counters::default();
    let listing = {
        let mut fetch = |method: Method, path: &str, body: Option<Vec<u8>>| -> Result<Vec<u8>, Fetched<CallError>> {
            fetch_one(context, client, bot_id, method, path, body, &mut counters)
        };
        plan::collect(&mut fetch, &known, &|why| CallError::Failed(why))
    };
    let requests = context.requests.get() - requests_before;
    let listing = match listing {
        Ok(l) => l,
        Err(e) => {
            let mut outcome = e.into_outcome();
            if let Outcome::Retry { error, .. } | Outcome::Failed(error) = &mut outcome {
                error.insert_str(0, "sync: ");
            }
            return outcome;
        }
    };
    let planned = plan::plan(&listing, &workspace_id);
    let bot = bot_id.to_owned();
    let incomplete = listing.incomplete.clone();
    let counts = in_transaction(move || reconcile(&bot, &planned, &incomplete));
    let Some((added, removed, unchanged)) = counts else {
        return Outcome::Failed("the workspace was revoked while it was being synced".into());
    };
    pgrx::log!(
        "notion_rbac worker: synced workspace {workspace_id} (bot {bot_id}): {} objects, {added} tuples added, \
         {removed} removed, {unchanged} unchanged, {requests} requests",
        listing.objects_seen()
    );
    Outcome::Succeeded(Some(serde_json::json!({
        "objects_seen": listing.objects_seen(),
        "users_seen": listing.users.as_ref().map(Vec::len),
        "requests": requests,
        // Objects search left out that Notion still showed by id.
        "looked_up": listing.looked_up,
        "rate_limited": counters.rate_limited,
        "added": added,
        "removed": removed,
        "unchanged": unchanged,
        "missing_capabilities": listing.missing_capabilities,
        // Listings Notion cut short: nothing of these parts was removed.
        "incomplete": listing.incomplete.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    })))
}

/// One request of a listing: paced per bot, throttles and transient
/// failures retried in place (a sync is many requests; starting over would
/// cost them all again).
#[allow(clippy::too_many_arguments)]
fn fetch_one(
    context: &Context,
    client: &Client,
    bot_id: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    counters: &mut Counters,
) -> Result<Vec<u8>, Fetched<CallError>> {
    let mut failures = 0;
    loop {
        super::exchanges_between(context);
        super::budget::pace(context, bot_id).map_err(|held| Fetched::Fail(held.into()))?;
        match bot::call(context, client, bot_id, method, path, body.clone()) {
            Ok(answer) => return Ok(answer),
            Err(CallError::Api(e)) => {
                return Err(match e.class {
                    ErrorClass::Restricted => Fetched::Restricted,
                    ErrorClass::NotFound => Fetched::NotFound,
                    ErrorClass::Invalid if e.message.as_deref().is_some_and(|m| m.contains("start_cursor")) => {
                        Fetched::InvalidCursor
                    }
                    _ => Fetched::Fail(CallError::Api(e)),
                });
            }
            Err(CallError::Retry { error, after, throttled }) => {
                failures += 1;
                if throttled {
                    counters.rate_limited += 1;
                }
                if failures > RETRIES_PER_REQUEST {
                    return Err(Fetched::Fail(CallError::Retry { error, after, throttled }));
                }
                // Within a sync: 0.5, 1, 2, 4 s (a job-level retry backs off longer).
                let wait = after.unwrap_or_else(|| retry::backoff(failures, Duration::from_secs(30), retry::jitter()) / 4);
                if throttled {
                    // Every request of this token waits, not just this one.
                    context.not_before.borrow_mut().insert(bot_id.to_owned(), Instant::now() + wait);
                } else if wait > super::budget::LONGEST_WAIT {
                    // (A 5xx with a long Retry-After.) Holding the worker
                    // that long would hold every other job, code exchanges
                    // with their ten-minute codes among them: the sync runs
                    // again after the wait instead.
                    return Err(Fetched::Fail(CallError::Retry { error, after: Some(wait), throttled: false }));
                } else if !super::budget::pause(context, wait) {
                    return Err(Fetched::Fail(CallError::Retry { error, after: None, throttled: false }));
                }
            }
            Err(other) => return Err(Fetched::Fail(other)),
        }
    }
}


/// The pages and databases the last sync of `bot_id` saw (each has its
/// `workspace` tuple).
fn known(bot_id: &str) -> plan::Known {
    let mut known = plan::Known::default();
    Spi::connect(|client| {
        let rows = client.select(
            "SELECT entity_type, entity_id FROM rbac.notion_synced \
              WHERE bot_id = $1 AND part = 'objects' AND relation = 'workspace' AND entity_type IN ('page', 'database')",
            None,
            &[bot_id.into()],
        )?;
        for row in rows {
            let (Some(ty), Some(id)) = (row.get::<String>(1)?, row.get::<String>(2)?) else { continue };
            if ty == "page" {
                known.pages.insert(id);
            } else {
                known.databases.insert(id);
            }
        }
        Ok::<_, pgrx::spi::SpiError>(())
    })
    .unwrap_or_else(|e| spi_error("reading what the last sync saw", e));
    known
}

/// The workspace id of an active installation, once the active model
/// allows every relation the sync writes.
fn prepare(bot_id: &str) -> Result<String, String> {
    let workspace = Spi::get_one_with_args::<String>(
        "SELECT (SELECT workspace_id FROM rbac.workspaces WHERE bot_id = $1 AND status = 'active')",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("reading the workspace", e))
    .ok_or_else(|| "the workspace is not active".to_owned())?;
    let (entities, relations, subjects): (Vec<&str>, Vec<&str>, Vec<&str>) = (
        plan::RELATIONS.iter().map(|r| r.0).collect(),
        plan::RELATIONS.iter().map(|r| r.1).collect(),
        plan::RELATIONS.iter().map(|r| r.2).collect(),
    );
    let missing = Spi::get_one_with_args::<Vec<String>>(
        "SELECT array_agg(r.e || '#' || r.r || '@' || r.s ORDER BY r.e, r.r, r.s) \
           FROM unnest($1::text[], $2::text[], $3::text[]) AS r(e, r, s) \
          WHERE NOT EXISTS (SELECT FROM rbac.schema_relations x \
                             WHERE x.entity_type = r.e AND x.relation = r.r AND x.subject_type = r.s AND x.subject_relation = '')",
        &[entities.into(), relations.into(), subjects.into()],
    )
    .unwrap_or_else(|e| spi_error("checking the active model", e));
    match missing {
        Some(missing) if !missing.is_empty() => Err(format!(
            "the active model does not allow {}: write one that does, e.g. SELECT rbac.write_schema(rbac.notion_model())",
            missing.join(", ")
        )),
        _ => Ok(workspace),
    }
}

/// Columns of a set of tuples, for unnest().
fn columns(parts: &HashMap<Part, BTreeSet<SyncTuple>>) -> [Vec<String>; 6] {
    let mut out: [Vec<String>; 6] = Default::default();
    for (part, set) in parts {
        for t in set {
            out[0].push(part.as_str().to_owned());
            out[1].push(t.entity_type.to_owned());
            out[2].push(t.entity_id.clone());
            out[3].push(t.relation.to_owned());
            out[4].push(t.subject_type.to_owned());
            out[5].push(t.subject_id.clone());
        }
    }
    out
}

/// The diff, in the caller's transaction: (added, removed, unchanged), or
/// None if the workspace is no longer active. Parts listed `incomplete`
/// are only added to.
fn reconcile(bot_id: &str, planned: &HashMap<Part, BTreeSet<SyncTuple>>, incomplete: &[Part]) -> Option<(i64, i64, i64)> {
    // The row lock orders this against a concurrent rbac.deauthorize.
    let active = Spi::get_one_with_args::<bool>(
        "SELECT coalesce((SELECT status = 'active' FROM rbac.workspaces WHERE bot_id = $1 FOR UPDATE), false)",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("locking the workspace", e))
    .unwrap_or(false);
    if !active {
        return None;
    }
    super::bot::order_removals();
    let parts: Vec<String> = planned.keys().map(|p| p.as_str().to_owned()).collect();
    let [part, et, eid, rel, st, sid] = columns(planned);
    // Only a part listed whole tells what is no longer there.
    let parts_listed: Vec<String> =
        planned.keys().filter(|p| !incomplete.contains(p)).map(|p| p.as_str().to_owned()).collect();
    let desired = "desired AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                   AS d(part, entity_type, entity_id, relation, subject_type, subject_id))";
    let same = |a: &str, b: &str| {
        format!(
            "{a}.entity_type = {b}.entity_type AND {a}.entity_id = {b}.entity_id AND {a}.relation = {b}.relation \
             AND {a}.subject_type = {b}.subject_type AND {a}.subject_id = {b}.subject_id"
        )
    };
    let args = |extra: Option<Vec<String>>| {
        let mut a: Vec<pgrx::datum::DatumWithOid> = vec![
            bot_id.into(),
            part.clone().into(),
            et.clone().into(),
            eid.clone().into(),
            rel.clone().into(),
            st.clone().into(),
            sid.clone().into(),
        ];
        if let Some(x) = extra {
            a.push(x.into());
        }
        a
    };
    let count = |sql: String, args: Vec<pgrx::datum::DatumWithOid>| -> i64 {
        Spi::connect_mut(|c| {
            let t = c.update(&sql, None, &args)?;
            let t = t.first();
            t.get::<i64>(1)
        })
        .unwrap_or_else(|e| spi_error("reconciling synced tuples", e))
        .unwrap_or(0)
    };
    // Owned by this installation in a part that was listed, and not seen:
    // no longer its; the tuple goes unless another installation owns it.
    let removed = count(
        format!(
            "WITH {desired}, gone AS ( \
               DELETE FROM rbac.notion_synced s WHERE s.bot_id = $1 AND s.part = ANY($8::text[]) \
                  AND NOT EXISTS (SELECT FROM desired d WHERE {ds}) RETURNING s.*), \
             del AS ( \
               DELETE FROM rbac.tuples t USING gone g WHERE {tg} AND t.subject_relation = '' \
                  AND NOT EXISTS (SELECT FROM rbac.notion_synced o WHERE o.bot_id <> $1 AND {og}) RETURNING 1) \
             SELECT count(*) FROM del",
            ds = same("d", "s"),
            tg = same("t", "g"),
            og = same("o", "g"),
        ),
        args(Some(parts_listed)),
    );
    // Seen and not stored: inserted, and owned (a tuple that was there by
    // hand stays unowned, so the sync never removes it).
    let added = count(
        format!(
            "WITH {desired}, ins AS ( \
               INSERT INTO rbac.tuples (entity_type, entity_id, relation, subject_type, subject_id, subject_relation) \
               SELECT d.entity_type, d.entity_id, d.relation, d.subject_type, d.subject_id, '' FROM desired d \
                WHERE NOT EXISTS (SELECT FROM rbac.tuples t WHERE {td} AND t.subject_relation = '') \
               ON CONFLICT DO NOTHING RETURNING entity_type, entity_id, relation, subject_type, subject_id), \
             own AS ( \
               INSERT INTO rbac.notion_synced (bot_id, part, entity_type, entity_id, relation, subject_type, subject_id) \
               SELECT $1, d.part, d.entity_type, d.entity_id, d.relation, d.subject_type, d.subject_id \
                 FROM ins i JOIN desired d ON {id} \
               ON CONFLICT DO NOTHING RETURNING 1) \
             SELECT (SELECT count(*) FROM ins) + 0 * (SELECT count(*) FROM own)",
            td = same("t", "d"),
            id = same("i", "d"),
        ),
        args(None),
    );
    // Seen, stored, and owned by another installation of the same
    // workspace: owned by this one too, so that either may stop seeing it.
    count(
        format!(
            "WITH {desired}, own AS ( \
               INSERT INTO rbac.notion_synced (bot_id, part, entity_type, entity_id, relation, subject_type, subject_id) \
               SELECT $1, d.part, d.entity_type, d.entity_id, d.relation, d.subject_type, d.subject_id FROM desired d \
                WHERE EXISTS (SELECT FROM rbac.notion_synced o WHERE o.bot_id <> $1 AND {od}) \
               ON CONFLICT DO NOTHING RETURNING 1) \
             SELECT count(*) FROM own",
            od = same("o", "d"),
        ),
        args(None),
    );
    Spi::run_with_args("UPDATE rbac.workspaces SET last_synced_at = pg_catalog.now() WHERE bot_id = $1", &[bot_id.into()])
        .unwrap_or_else(|e| spi_error("recording the sync", e));
    let total = planned.values().map(BTreeSet::len).sum::<usize>() as i64;
    crate::audit::record_for_bot(
        "notion_sync",
        bot_id,
        serde_json::json!({ "added": added, "removed": removed, "unchanged": total - added, "parts": parts }),
    );
    Some((added, removed, total - added))
}
