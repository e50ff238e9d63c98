//! Calls made with a workspace's token, and what a dead token means.
//!
//! [`call`] sends a request with the bot's access token. On a 401 it tries
//! the refresh grant once — serialised per bot by a session-level advisory
//! lock held across the HTTP call, because Notion rotates both tokens and
//! a second refresh with the old refresh token fails — stores the new pair
//! in one statement, and repeats the call. A 401 that a refresh cannot cure
//! (no refresh token, `invalid_grant`, still 401 with fresh tokens)
//! deauthorizes the workspace: status `revoked`, tokens erased, queued jobs
//! cancelled, in one transaction. No call is ever made with the tokens of
//! a workspace that is not active.
//!
//! Job kinds run here: `verify` (`GET /v1/users/me`, the cheapest call
//! that proves a token works) and `revoke` (`POST /v1/oauth/revoke`, queued
//! by `rbac.deauthorize`; the tokens are erased however it ends).

use std::time::SystemTime;

use notion_rbac_notion::api::{self, ApiError, ErrorClass, Endpoint};
use notion_rbac_notion::http::{Method, Request};
use notion_rbac_notion::oauth::{self, ClientCredentials, Disposition, TokenRequest};
use notion_rbac_notion::token::SecretString;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;

use super::jobs::Outcome;
use super::{in_transaction, spi_error, Context};
use crate::token::{encrypted_token, try_open, try_seal};


/// A workspace's tokens, decrypted, with the client that refreshes them.
struct Tokens {
    access: SecretString,
    refresh: Option<SecretString>,
}

/// Why a call gave no usable answer.
#[derive(Debug)]
pub enum CallError {
    /// The workspace is (now) revoked.
    Revoked(String),
    /// Transient: retry later (`throttled`: a 429/529 asked to wait).
    Retry { error: String, after: Option<std::time::Duration>, throttled: bool },
    /// Notion answered with an error retrying will not change.
    Api(ApiError),
    /// Anything else that ends the job (configuration, keys).
    Failed(String),
}

impl From<super::budget::Held> for CallError {
    fn from(held: super::budget::Held) -> CallError {
        CallError::Retry { error: held.why.to_owned(), after: held.after, throttled: held.throttled }
    }
}

impl CallError {
    pub fn into_outcome(self) -> Outcome {
        match self {
            CallError::Revoked(why) => Outcome::Failed(format!("the workspace is revoked: {why}")),
            CallError::Retry { error, after, .. } => Outcome::Retry { error, after },
            CallError::Api(e) => Outcome::Failed(e.to_string()),
            CallError::Failed(why) => Outcome::Failed(why),
        }
    }
}

/// Reads the tokens of an active workspace (None: not active).
fn load_tokens(bot_id: &str, status: &str) -> Result<Option<Tokens>, String> {
    let row = Spi::get_two_with_args::<encrypted_token, encrypted_token>(
        "SELECT w.access_token, w.refresh_token FROM (SELECT 1) AS one LEFT JOIN rbac.workspaces w \
             ON w.bot_id = $1 AND w.access_token IS NOT NULL AND w.status = $2",
        &[bot_id.into(), status.into()],
    )
    .unwrap_or_else(|e| spi_error("reading the workspace's tokens", e));
    let (Some(access), refresh) = row else { return Ok(None) };
    let open = |t: &encrypted_token, column: &str| {
        try_open(t, "rbac.workspaces", column, bot_id).map_err(|e| format!("cannot decrypt the {column}: {}", e.message))
    };
    Ok(Some(Tokens { access: open(&access, "access_token")?, refresh: refresh.map(|r| open(&r, "refresh_token")).transpose()? }))
}

/// Revokes the workspace here: status, reason, tokens erased (`erase`),
/// queued jobs cancelled. Returns whether it was active.
pub fn deauthorize(bot_id: &str, reason: &str, erase: bool) -> bool {
    let before = Spi::get_one_with_args::<String>(
        "SELECT (SELECT status FROM rbac.workspaces WHERE bot_id = $1 FOR UPDATE)",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("reading the workspace", e));
    let was_active = before.as_deref() == Some("active");
    Spi::run_with_args(
        "UPDATE rbac.workspaces SET status = 'revoked', revoked_at = coalesce(revoked_at, pg_catalog.now()), \
                revoked_reason = coalesce(revoked_reason, $2), \
                access_token = CASE WHEN $3 THEN NULL ELSE access_token END, \
                refresh_token = CASE WHEN $3 THEN NULL ELSE refresh_token END \
          WHERE bot_id = $1",
        &[bot_id.into(), reason.into(), erase.into()],
    )
    .unwrap_or_else(|e| spi_error("revoking the workspace", e));
    Spi::run_with_args(
        "UPDATE rbac.workspace_jobs SET status = 'cancelled', finished_at = pg_catalog.now(), \
                last_error = 'cancelled: the workspace was revoked' \
          WHERE bot_id = $1 AND status = 'queued' AND kind <> 'revoke'",
        &[bot_id.into()],
    )
    .unwrap_or_else(|e| spi_error("cancelling the workspace's jobs", e));
    let removed = remove_synced(bot_id);
    if was_active {
        crate::audit::record_for_bot(
            "workspace_deauthorized",
            bot_id,
            serde_json::json!({ "reason": reason, "synced_tuples_removed": removed }),
        );
    }
    was_active
}

/// Orders every removal of synced tuples (a deauthorization, a sync's
/// reconciliation) after the others, until the transaction ends. Each
/// decides whether another installation still owns a tuple; two deciding
/// at once would each see the other's ownership, keep the tuple, and leave
/// it owned by no one — access no sync ever revokes. Taken in its own
/// statement, so that at READ COMMITTED the statements after it see what
/// the transaction that held it committed.
pub fn order_removals() {
    Spi::run("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('notion_rbac synced tuples', 0))")
        .unwrap_or_else(|e| spi_error("ordering the removal of synced tuples", e));
}

/// Removes what the installation's syncs wrote (tuples another
/// installation also saw stay, owned by it). Returns how many tuples went.
pub fn remove_synced(bot_id: &str) -> i64 {
    order_removals();
    let same = "t.entity_type = g.entity_type AND t.entity_id = g.entity_id AND t.relation = g.relation \
                AND t.subject_type = g.subject_type AND t.subject_id = g.subject_id";
    let sql = format!(
        "WITH gone AS (DELETE FROM rbac.notion_synced WHERE bot_id = $1 RETURNING *), \
              del AS (DELETE FROM rbac.tuples t USING gone g WHERE {same} AND t.subject_relation = '' \
                        AND NOT EXISTS (SELECT FROM rbac.notion_synced o WHERE o.bot_id <> $1 AND {o}) RETURNING 1) \
         SELECT count(*) FROM del",
        o = same.replace("t.", "o.")
    );
    crate::store::write_returning(&sql, &[bot_id.into()], |row| row.get::<i64>(1))
        .unwrap_or_else(|e| spi_error("removing the workspace's synced tuples", e))
        .unwrap_or(0)
}

fn advisory(lock: bool, bot_id: &str) {
    let sql = if lock {
        "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended('notion_rbac refresh ' || $1, 0))"
    } else {
        "SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended('notion_rbac refresh ' || $1, 0))"
    };
    let bot = bot_id.to_owned();
    BackgroundWorker::transaction(move || {
        Spi::run_with_args(sql, &[bot.as_str().into()]).unwrap_or_else(|e| spi_error("the refresh lock", e))
    });
}


/// Sends `method path` with the bot's token; refreshes once on a 401.
pub fn call(
    context: &Context,
    client: &super::exchange::Client,
    bot_id: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<Vec<u8>, CallError> {
    let endpoint = &client.endpoint;
    let Some(tokens) = in_transaction(|| load_tokens(bot_id, "active")).map_err(CallError::Failed)? else {
        return Err(CallError::Revoked("not active".into()));
    };
    super::budget::pace(context, bot_id)?;
    let error = match send(context, &endpoint.bearer(method, path, &tokens.access, body.clone()))? {
        Ok(answer) => return Ok(answer),
        Err(error) => error,
    };
    if error.class != ErrorClass::Unauthorized {
        return Err(throttle(context, bot_id, classify(error)));
    }
    // 401: one refresh, serialised per bot.
    advisory(true, bot_id);
    let refreshed = refresh(context, client, bot_id, &tokens);
    advisory(false, bot_id);
    let fresh = refreshed?;
    super::budget::pace(context, bot_id)?;
    match send(context, &endpoint.bearer(method, path, &fresh.access, body))? {
        Ok(body) => Ok(body),
        Err(e) if e.class == ErrorClass::Unauthorized => {
            let why = format!("Notion still answered {e} with freshly refreshed tokens");
            in_transaction(|| deauthorize(bot_id, &why, true));
            pgrx::log!("notion_rbac worker: workspace of bot {bot_id} revoked: {why}");
            Err(CallError::Revoked(why))
        }
        Err(e) => Err(throttle(context, bot_id, classify(e))),
    }
}

/// A 429 or 529 holds every request of the token until its Retry-After
/// (the per-token budget [`super::budget::pace`] keeps, shared by every job
/// of the token: the next request, delivery or sync waits for it too).
fn throttle(context: &Context, bot_id: &str, e: CallError) -> CallError {
    if let CallError::Retry { after, throttled: true, .. } = &e {
        let until = std::time::Instant::now() + after.unwrap_or(std::time::Duration::from_secs(1));
        let mut not_before = context.not_before.borrow_mut();
        let at = not_before.entry(bot_id.to_owned()).or_insert(until);
        *at = (*at).max(until);
    }
    e
}

/// One request: `Ok(Ok(body))` for 2xx, `Ok(Err(error))` for an error
/// answer, `Err` when there was no answer.
fn send(context: &Context, request: &Request) -> Result<Result<Vec<u8>, ApiError>, CallError> {
    match context.send(request) {
        Ok(response) => Ok(match api::check_response(&response, SystemTime::now()) {
            Ok(body) => Ok(body.to_vec()),
            Err(e) => Err(e),
        }),
        Err(e) => Err(CallError::Retry { error: e.to_string(), after: None, throttled: false }),
    }
}

fn classify(e: ApiError) -> CallError {
    match e.class {
        ErrorClass::Throttled => CallError::Retry { error: e.to_string(), after: e.retry_after, throttled: true },
        ErrorClass::Transient => CallError::Retry { error: e.to_string(), after: e.retry_after, throttled: false },
        _ => CallError::Api(e),
    }
}

/// Exchanges the refresh token for a new pair (the caller holds the bot's
/// refresh lock). If another process refreshed meanwhile, its pair is used.
fn refresh(
    context: &Context,
    client: &super::exchange::Client,
    bot_id: &str,
    seen: &Tokens,
) -> Result<Tokens, CallError> {
    let Some(current) = in_transaction(|| load_tokens(bot_id, "active")).map_err(CallError::Failed)? else {
        return Err(CallError::Revoked("revoked while the call was in flight".into()));
    };
    if current.access != seen.access {
        return Ok(current);
    }
    let Some(refresh_token) = current.refresh.as_ref() else {
        let why = "Notion answered 401 unauthorized and there is no refresh token".to_owned();
        in_transaction(|| deauthorize(bot_id, &why, true));
        pgrx::log!("notion_rbac worker: workspace of bot {bot_id} revoked: {why}");
        return Err(CallError::Revoked(why));
    };
    let request = TokenRequest::refresh(client.endpoint.base(), &client.credentials, refresh_token)
        .map_err(|e| CallError::Failed(e.message))?
        .to_http(client.endpoint.version());
    let response = context
        .send_to_token_endpoint(&request)
        .map_err(|e| CallError::Retry { error: e.to_string(), after: None, throttled: false })?;
    match oauth::parse_token_response(response.status, &response.body) {
        Ok(token) => {
            let bot = bot_id.to_owned();
            let stored = in_transaction(|| store_pair(&bot, &token.access_token, token.refresh_token.as_ref()));
            stored.map_err(CallError::Failed)?;
            pgrx::log!("notion_rbac worker: refreshed the tokens of bot {bot_id}");
            Ok(Tokens { access: token.access_token, refresh: token.refresh_token })
        }
        Err(e) => match e.disposition() {
            Disposition::Reauthorize => {
                let why = format!("Notion answered 401 and refreshing failed: {e}");
                in_transaction(|| deauthorize(bot_id, &why, true));
                pgrx::log!("notion_rbac worker: workspace of bot {bot_id} revoked: {why}");
                Err(CallError::Revoked(why))
            }
            Disposition::Retry => Err(CallError::Retry {
                throttled: e.status() == 429 || e.status() == 529,
                error: format!("refreshing the token: {e}"),
                after: response.retry_after.as_deref().and_then(|v| {
                    notion_rbac_notion::http::retry::parse_retry_after(v, SystemTime::now())
                }),
            }),
            Disposition::FixConfiguration => Err(CallError::Failed(format!(
                "refreshing the token: {e}; check the client id and secret (rbac.oauth_configure)"
            ))),
            Disposition::Fail => Err(CallError::Failed(format!("refreshing the token: {e}"))),
        },
    }
}

/// Stores a refreshed pair in one statement (also for a workspace revoked
/// here whose revoke call is still due: that call must use the newest
/// token).
fn store_pair(bot_id: &str, access: &SecretString, refresh: Option<&SecretString>) -> Result<(), String> {
    let seal = |s: &SecretString, column: &str| {
        try_seal(s.expose_secret().as_bytes(), "rbac.workspaces", column, bot_id)
            .map_err(|e| format!("cannot encrypt the refreshed tokens: {}", e.message))
    };
    let access = seal(access, "access_token")?;
    let refresh = refresh.map(|r| seal(r, "refresh_token")).transpose()?;
    Spi::run_with_args(
        "UPDATE rbac.workspaces SET access_token = $2, refresh_token = $3, refreshed_at = pg_catalog.now() \
          WHERE bot_id = $1 AND access_token IS NOT NULL",
        &[bot_id.into(), access.into(), refresh.into()],
    )
    .unwrap_or_else(|e| spi_error("storing the refreshed tokens", e));
    Ok(())
}

/// The `verify` job: `GET /v1/users/me` with the token.
pub fn verify(context: &Context, client: &super::exchange::Client, bot_id: &str) -> Outcome {
    match call(context, client, bot_id, Method::Get, api::USERS_ME_PATH, None) {
        Ok(body) => match api::parse_bot_info(&body) {
            Ok(info) => {
                let bot = bot_id.to_owned();
                in_transaction(move || {
                    Spi::run_with_args(
                        "UPDATE rbac.workspaces SET last_used_at = pg_catalog.now() WHERE bot_id = $1",
                        &[bot.as_str().into()],
                    )
                    .unwrap_or_else(|e| spi_error("recording the workspace's use", e))
                });
                Outcome::Succeeded(Some(serde_json::json!({
                    "bot_user_id": info.id,
                    "name": info.name,
                    "workspace_name": info.workspace_name,
                    "workspace_id": info.workspace_id,
                })))
            }
            Err(e) => Outcome::Failed(e.message),
        },
        Err(e) => e.into_outcome(),
    }
}

/// Tells Notion to revoke the token. An answer that the token is already
/// dead counts as done. Only a revoked workspace's token: one authorized
/// again since (same bot, new tokens) keeps its new token.
pub fn revoke(context: &Context, endpoint: &Endpoint, credentials: &ClientCredentials, bot_id: &str) -> Outcome {
    let tokens = match in_transaction(|| load_tokens(bot_id, "revoked")) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Outcome::Succeeded(Some(serde_json::json!({
                "revoked": false,
                "reason": "no token left to revoke (erased, or the workspace was authorized again since)"
            })));
        }
        Err(why) => return Outcome::Failed(why),
    };
    let request = endpoint.oauth_post(api::REVOKE_PATH, &credentials.authorization_header(), api::token_body(&tokens.access));
    match send(context, &request) {
        Ok(Ok(_)) => Outcome::Succeeded(Some(serde_json::json!({ "revoked": true }))),
        Ok(Err(e)) => match (e.class, e.code.as_deref()) {
            (ErrorClass::Unauthorized, Some("unauthorized")) | (_, Some("invalid_grant" | "invalid_token")) => {
                Outcome::Succeeded(Some(serde_json::json!({ "revoked": true, "note": format!("already invalid at Notion ({e})") })))
            }
            (ErrorClass::Throttled | ErrorClass::Transient, _) => {
                Outcome::Retry { error: e.to_string(), after: e.retry_after }
            }
            _ => Outcome::Failed(format!(
                "Notion refused the revocation ({e}); the tokens were erased here — remove the connection in Notion's settings"
            )),
        },
        Err(e) => e.into_outcome(),
    }
}
