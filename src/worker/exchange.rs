//! OAuth code exchange: `POST /v1/oauth/token` with the client's Basic
//! credentials and the code `rbac.oauth_callback` queued; on success the
//! workspace row is created or overwritten with the new encrypted token
//! pair and a first sync is queued, in the transaction that marks the job
//! succeeded.
//!
//! The exchange is the one call that cannot be repeated: Notion spends the
//! code when it answers. A worker killed after Notion answered but before
//! the outcome committed finds the job re-queued, and the retry gets
//! `invalid_grant`; the job then fails saying so, and the user authorizes
//! again. Every other interruption (before the request reached Notion,
//! during the write) leaves the job to be completed exactly once.

use notion_rbac_notion::http::{Request, retry};
use notion_rbac_notion::oauth::{self, ClientCredentials, Disposition, OauthError, TokenRequest, TokenResponse};
use notion_rbac_notion::token::SecretString;
use pgrx::prelude::*;

use super::jobs::{self, Claim, Claimed, Outcome, Table};
use super::{spi_error, Context};
use crate::token::{encrypted_token, try_open, try_seal};

/// A claimed exchange, ready to send.
pub struct Exchange {
    pub claim: Claimed,
    request: Request,
}


/// Claims the next due exchange and prepares its request (decrypting the
/// code and the client secret). A job that cannot start — no OAuth
/// configuration, a secret that does not decrypt — is failed here.
pub fn claim() -> Claim<Exchange> {
    let row = crate::store::write_returning(
        "UPDATE rbac.oauth_jobs SET status = 'running', attempts = attempts + 1, started_at = pg_catalog.now(), \
                updated_at = pg_catalog.now() \
          WHERE id = (SELECT id FROM rbac.oauth_jobs WHERE status = 'queued' AND next_attempt_at <= pg_catalog.now() \
                       ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
          RETURNING id, attempts, state_hash, code, redirect_uri",
        &[],
        |row| {
            if row.is_empty() {
                return Ok(None);
            }
            Ok(Some((
                row.get::<i64>(1)?,
                row.get::<i32>(2)?,
                row.get::<String>(3)?,
                row.get::<encrypted_token>(4)?,
                row.get::<String>(5)?,
            )))
        },
    )
    .unwrap_or_else(|e| spi_error("claiming an OAuth job", e));
    let Some((Some(id), Some(attempt), Some(state_hash), code, Some(redirect_uri))) = row else {
        return Claim::Nothing;
    };
    let claim = Claimed { table: Table::OauthJobs, id, attempt };
    match prepare(&state_hash, code, &redirect_uri) {
        Ok(request) => Claim::Ready(Exchange { claim, request }),
        Err(reason) => {
            jobs::finish(&claim, Outcome::Failed(reason));
            Claim::Settled
        }
    }
}

/// The OAuth client as configured: endpoint and credentials.
pub struct Client {
    pub endpoint: notion_rbac_notion::api::Endpoint,
    pub credentials: ClientCredentials,
}

/// Reads and decrypts the OAuth client configuration.
pub fn client() -> Result<Client, String> {
    let row = Spi::connect(|client| {
        let table = client.select(
            "SELECT client_id, client_secret, api_base_url, notion_version FROM rbac.oauth_config",
            Some(1),
            &[],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let table = table.first();
        Ok::<_, pgrx::spi::SpiError>(Some((
            table.get::<String>(1)?,
            table.get::<encrypted_token>(2)?,
            table.get::<String>(3)?,
            table.get::<String>(4)?,
        )))
    })
    .unwrap_or_else(|e| spi_error("reading the OAuth configuration", e));
    let Some((Some(client_id), Some(secret), Some(base), Some(version))) = row else {
        return Err("OAuth is not configured (rbac.oauth_configure)".into());
    };
    let secret = try_open(&secret, "rbac.oauth_config", "client_secret", "default")
        .map_err(|e| format!("cannot decrypt the OAuth client secret: {}", e.message))?;
    let credentials = ClientCredentials::new(&client_id, secret).map_err(|e| e.message)?;
    let endpoint = notion_rbac_notion::api::Endpoint::new(&base, &version).map_err(|e| e.message)?;
    Ok(Client { endpoint, credentials })
}

fn prepare(state_hash: &str, code: Option<encrypted_token>, redirect_uri: &str) -> Result<Request, String> {
    let code = code.ok_or("the authorization code was already erased")?;
    let code = try_open(&code, "rbac.oauth_jobs", "code", state_hash)
        .map_err(|e| format!("cannot decrypt the authorization code: {}", e.message))?;
    let client = client()?;
    // The authorization URL always names the redirect URI, so the token
    // request must repeat it (docs/notion-api.md §1.3).
    let request = TokenRequest::authorization_code(client.endpoint.base(), &client.credentials, &code, Some(redirect_uri))
        .map_err(|e| e.message)?;
    Ok(request.to_http(client.endpoint.version()))
}

/// What Notion answered (or why there is no answer).
pub enum Answer {
    Token(Box<TokenResponse>),
    /// With the `Retry-After` of a 429/529, if any.
    Refused(OauthError, Option<std::time::Duration>),
    NoAnswer(notion_rbac_notion::http::TransportError),
}

/// Sends the exchange; no transaction is open.
pub fn perform(context: &Context, job: &Exchange) -> Answer {
    match context.send_to_token_endpoint(&job.request) {
        Ok(response) => match oauth::parse_token_response(response.status, &response.body) {
            Ok(token) => Answer::Token(Box::new(token)),
            Err(e) => Answer::Refused(
                e,
                response
                    .retry_after
                    .as_deref()
                    .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now())),
            ),
        },
        Err(e) => Answer::NoAnswer(e),
    }
}

/// Records the outcome; on success writes the workspace and queues its
/// first sync, all in the transaction that marks the job succeeded.
pub fn record(job: &Exchange, answer: Answer) {
    let outcome = match answer {
        Answer::Token(token) => {
            // Mark the job first: if this attempt is no longer the job's
            // (re-queued after a restart), nothing else is written.
            let Some(bot_id) = store_workspace(&job.claim, &token) else { return };
            pgrx::log!(
                "notion_rbac worker: OAuth job {} installed workspace {:?} (bot {bot_id})",
                job.claim.id,
                token.workspace_name.as_deref().unwrap_or("")
            );
            return;
        }
        Answer::Refused(e, after) => refused(&e, after, job.claim.attempt),
        Answer::NoAnswer(e) => Outcome::Retry { error: e.to_string(), after: None },
    };
    let reason = match &outcome {
        Outcome::Failed(why) => Some(why.clone()),
        _ => None,
    };
    if let Some(status) = jobs::finish(&job.claim, outcome) {
        pgrx::log!("notion_rbac worker: OAuth job {} {status}", job.claim.id);
        if let (Some(reason), "failed") = (reason, status) {
            crate::audit::record(
                "oauth_exchange_failed",
                "error",
                (Some("oauth_job"), Some(&job.claim.id.to_string())),
                None,
                serde_json::json!({ "reason": reason }),
            );
        }
    }
}

/// What a refusal means for the job. Texts come from Notion's error code
/// and description, never from the request.
fn refused(e: &OauthError, after: Option<std::time::Duration>, attempt: i32) -> Outcome {
    match e.disposition() {
        Disposition::Reauthorize => {
            let mut reason = format!("{e}; the user must authorize again");
            if attempt > 1 {
                reason.push_str(" (an earlier attempt was interrupted, possibly after Notion had accepted the code)");
            }
            Outcome::Failed(reason)
        }
        Disposition::FixConfiguration => {
            Outcome::Failed(format!("{e}; check the client id, secret and redirect URIs (rbac.oauth_configure)"))
        }
        Disposition::Retry => Outcome::Retry { error: e.to_string(), after },
        Disposition::Fail => Outcome::Failed(e.to_string()),
    }
}

/// Marks the job succeeded and writes the workspace (tokens encrypted,
/// bound to the bot id) and its first sync. None if the job is no longer
/// this attempt's, or the tokens could not be encrypted (the job then
/// fails with the reason).
fn store_workspace(claim: &Claimed, token: &TokenResponse) -> Option<String> {
    let bot = token.bot_id.as_str();
    let seal = |secret: &SecretString, column: &str| try_seal(secret.expose_secret().as_bytes(), "rbac.workspaces", column, bot);
    let access = match seal(&token.access_token, "access_token") {
        Ok(a) => a,
        Err(e) => {
            jobs::finish(claim, Outcome::Failed(format!("cannot encrypt the tokens: {}", e.message)));
            return None;
        }
    };
    let refresh = match token.refresh_token.as_ref().map(|r| seal(r, "refresh_token")).transpose() {
        Ok(r) => r,
        Err(e) => {
            jobs::finish(claim, Outcome::Failed(format!("cannot encrypt the tokens: {}", e.message)));
            return None;
        }
    };
    let owned = crate::store::write_returning(
        "UPDATE rbac.oauth_jobs SET status = 'succeeded', bot_id = $3, code = NULL, error = NULL, \
                finished_at = pg_catalog.now(), updated_at = pg_catalog.now() \
          WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING id",
        &[claim.id.into(), claim.attempt.into(), bot.into()],
        |row| Ok(!row.is_empty()),
    )
    .unwrap_or_else(|e| spi_error("marking the OAuth job", e));
    if !owned {
        return None;
    }
    let (owner_type, owner_user) = match &token.owner {
        oauth::Owner::User { user } => (Some("user"), Some(user.id.clone())),
        oauth::Owner::Workspace { .. } => (Some("workspace"), None),
        oauth::Owner::Unknown => (None, None),
    };
    Spi::run_with_args(
        "INSERT INTO rbac.workspaces AS w (bot_id, workspace_id, workspace_name, workspace_icon, owner_type, owner_user_id, \
                duplicated_template_id, access_token, refresh_token, authorized_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, pg_catalog.now(), 'active') \
         ON CONFLICT (bot_id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, workspace_name = EXCLUDED.workspace_name, \
                workspace_icon = EXCLUDED.workspace_icon, owner_type = EXCLUDED.owner_type, \
                owner_user_id = EXCLUDED.owner_user_id, duplicated_template_id = EXCLUDED.duplicated_template_id, \
                access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, \
                authorized_at = EXCLUDED.authorized_at, status = 'active', revoked_at = NULL, revoked_reason = NULL, \
                refreshed_at = NULL",
        &[
            bot.into(),
            token.workspace_id.as_str().into(),
            token.workspace_name.clone().into(),
            token.workspace_icon.clone().into(),
            owner_type.into(),
            owner_user.into(),
            token.duplicated_template_id.clone().into(),
            access.into(),
            refresh.into(),
        ],
    )
    .unwrap_or_else(|e| spi_error("storing the workspace", e));
    Spi::run_with_args(
        "INSERT INTO rbac.workspace_jobs (bot_id, kind, requested_by) \
         SELECT $1, 'sync', requested_by FROM rbac.oauth_jobs WHERE id = $2",
        &[bot.into(), claim.id.into()],
    )
    .unwrap_or_else(|e| spi_error("queueing the first sync", e));
    crate::audit::record(
        "workspace_authorized",
        "success",
        (Some("workspace"), Some(&token.workspace_id)),
        Some(&token.workspace_id),
        serde_json::json!({ "bot_id": bot, "workspace_name": token.workspace_name, "oauth_job": claim.id,
                            "authorized_by": token.owner.user_id() }),
    );
    Some(bot.to_owned())
}
