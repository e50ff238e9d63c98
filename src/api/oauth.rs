//! The OAuth authorization flow of a Notion public integration: configure
//! the client, start (authorization URL + single-use state), callback
//! (verify the state, queue the code exchange for the background worker),
//! and job status. The exchange itself is the worker's.
//!
//! These functions are SECURITY DEFINER with a pinned search_path: callers
//! (role rbac_oauth) get the flow without write access to the tables, and
//! the state and code checks cannot be bypassed. No secret is ever put into
//! an error message, a NOTICE or a plain column.

use notion_rbac_notion::{self as notion, oauth};
use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;

use crate::errors::{raise, required, OrRaise};
use crate::token::{encrypted_token, seal};

fn spi_error(what: &str, e: pgrx::spi::SpiError) -> ! {
    pgrx::error!("notion_rbac: {what} failed: {e}")
}

/// The wall clock, not the transaction's start: a state must not outlive
/// its ten minutes in a transaction that began before it was made.
fn now_epoch() -> i64 {
    Spi::get_one::<i64>("SELECT extract(epoch FROM pg_catalog.clock_timestamp())::bigint")
        .unwrap_or_else(|e| spi_error("reading the clock", e))
        .unwrap_or_default()
}

/// Sets the integration's OAuth client: id, secret (stored encrypted), the
/// redirect URIs registered for it at Notion (the first is the default;
/// `rbac.oauth_start` uses no other), API base URL and Notion-Version.
/// Replaces any earlier configuration.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn oauth_configure(
    client_id: &str,
    client_secret: &str,
    redirect_uris: Vec<Option<String>>,
    api_base_url: default!(&str, "'https://api.notion.com'"),
    notion_version: default!(&str, "'2025-09-03'"),
) {
    crate::store::require_writable("configure OAuth");
    if client_id.trim().is_empty() {
        raise(Error::new(ErrorKind::InvalidArgument, "OAuth client id must not be empty"));
    }
    if client_secret.is_empty() {
        raise(Error::new(ErrorKind::InvalidArgument, "OAuth client secret must not be empty"));
    }
    let redirect_uris: Vec<String> = redirect_uris
        .into_iter()
        .map(|u| u.unwrap_or_else(|| required(None, "a redirect URI").to_owned()))
        .collect();
    oauth::validate_redirect_uris(&redirect_uris).or_raise();
    let base = notion::validate_base_url(api_base_url).or_raise().to_owned();
    // The worker sends every workspace's tokens there (and, to refresh
    // one, the client secret): an administrator who may not read them must
    // not be able to have them sent to a server of their own.
    if base != notion::DEFAULT_BASE_URL && !session_user_is_superuser() {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied to point the integration at another API than Notion's",
            format!(
                "only a superuser may set api_base_url to anything but {} (a local test server, say): \
                 the background worker sends workspace tokens to it",
                notion::DEFAULT_BASE_URL
            )
        );
    }
    if notion_version.trim().is_empty() {
        raise(Error::new(ErrorKind::InvalidArgument, "Notion-Version must not be empty"));
    }
    let secret = seal(client_secret.as_bytes(), "rbac.oauth_config", "client_secret", "default");
    Spi::run_with_args(
        "INSERT INTO rbac.oauth_config AS c (singleton, client_id, client_secret, redirect_uris, api_base_url, notion_version, updated_by) \
         VALUES (true, $1, $2, $3, $4, $5, SESSION_USER) \
         ON CONFLICT (singleton) DO UPDATE SET client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret, \
           redirect_uris = EXCLUDED.redirect_uris, api_base_url = EXCLUDED.api_base_url, \
           notion_version = EXCLUDED.notion_version, updated_at = pg_catalog.now(), updated_by = SESSION_USER",
        &[client_id.into(), secret.into(), redirect_uris.clone().into(), base.as_str().into(), notion_version.into()],
    )
    .unwrap_or_else(|e| spi_error("storing the OAuth configuration", e));
}

/// Whether the session's login role is a superuser (inside this SECURITY
/// DEFINER function the current user is the extension's owner).
fn session_user_is_superuser() -> bool {
    Spi::get_one::<bool>("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = SESSION_USER")
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Builds Notion's authorization URL for a new installation and records the
/// state (only its SHA-256; single use; expires after 10 minutes). Redirect
/// the user's browser to `url`; Notion sends them back to the redirect URI
/// with `state` and `code` (or `error`), which go to `rbac.oauth_callback`.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn oauth_start(
    redirect_uri: default!(Option<&str>, "NULL"),
    owner: default!(Option<&str>, "'user'"),
) -> TableIterator<'static, (name!(url, String), name!(state, String))> {
    let owner = required(owner, "owner");
    crate::store::require_writable("start an OAuth flow");
    let config = Spi::get_three::<String, Vec<String>, String>(
        "SELECT (SELECT client_id FROM rbac.oauth_config), (SELECT redirect_uris FROM rbac.oauth_config), \
                (SELECT api_base_url FROM rbac.oauth_config)",
    )
    .unwrap_or_else(|e| spi_error("reading the OAuth configuration", e));
    let (Some(client_id), Some(registered), Some(base)) = config else {
        raise(
            Error::new(ErrorKind::NoSchema, "OAuth is not configured")
                .with_hint("call rbac.oauth_configure(client_id, client_secret, ARRAY[redirect_uri]) first"),
        )
    };
    let redirect = oauth::choose_redirect_uri(&registered, redirect_uri).or_raise();
    // Outstanding states are bounded per role: each is a row until it is
    // used or expires, and any rbac_oauth role could otherwise fill the
    // table. (Concurrent calls may overshoot by the number of sessions.)
    let limit = crate::guc::max_pending_oauth_states();
    let pending = Spi::get_one::<i64>(
        "SELECT count(*) FROM rbac.oauth_states \
          WHERE created_by = SESSION_USER AND used_at IS NULL AND expires_at > pg_catalog.now()",
    )
    .unwrap_or_else(|e| spi_error("counting pending OAuth states", e))
    .unwrap_or_default();
    if pending >= limit {
        crate::errors::limit_exceeded(
            format!("role has {pending} pending OAuth authorizations, the most notion_rbac.max_pending_oauth_states allows"),
            "pending states expire after 10 minutes; a superuser can raise notion_rbac.max_pending_oauth_states",
        );
    }
    let state = oauth::new_state().or_raise();
    let url = oauth::authorization_url(&base, &client_id, &redirect, owner, &state).or_raise();
    Spi::run_with_args(
        "DELETE FROM rbac.oauth_states s WHERE s.expires_at < pg_catalog.now() - interval '1 day' \
           AND NOT EXISTS (SELECT 1 FROM rbac.oauth_jobs j WHERE j.state_hash = s.state_hash)",
        &[],
    )
    .unwrap_or_else(|e| spi_error("purging old OAuth states", e));
    Spi::run_with_args(
        "INSERT INTO rbac.oauth_states (state_hash, owner, redirect_uri, expires_at) \
         VALUES ($1, $2, $3, pg_catalog.now() + make_interval(secs => $4))",
        &[oauth::hash_state(&state).into(), owner.into(), redirect.into(), (oauth::STATE_TTL_SECS as f64).into()],
    )
    .unwrap_or_else(|e| spi_error("recording the OAuth state", e));
    TableIterator::once((url, state))
}

/// Handles Notion's redirect: verifies `state` (unknown, expired, replayed or
/// malformed states are refused), then records the outcome as a job — the
/// code exchange queued for the background worker (the code stored
/// encrypted), or the user's refusal (`error = 'access_denied'`). Returns the
/// job id for `rbac.oauth_status`. Pass `code` as a bind parameter: it is a
/// secret until exchanged.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn oauth_callback(state: Option<&str>, code: Option<&str>, error: default!(Option<&str>, "NULL")) -> i64 {
    let state = required(state, "state");
    crate::store::require_writable("record an OAuth callback");
    let hash = oauth::hash_state(state);
    // Mark the state used in the statement that reads it: two concurrent
    // callbacks with one state cannot both succeed.
    let claimed = crate::store::write_returning(
        "UPDATE rbac.oauth_states SET used_at = pg_catalog.now() WHERE state_hash = $1 AND used_at IS NULL \
         RETURNING extract(epoch FROM created_at)::bigint, owner, redirect_uri",
        &[hash.as_str().into()],
        |row| row.get_three::<i64, String, String>(),
    );
    let (stored, redirect) = match claimed {
        Ok((Some(created_at), Some(owner), Some(redirect))) => {
            (Some(oauth::StoredState { created_at, consumed: false, owner }), redirect)
        }
        _ => {
            let seen = Spi::get_two_with_args::<i64, String>(
                "SELECT (SELECT extract(epoch FROM created_at)::bigint FROM rbac.oauth_states WHERE state_hash = $1), \
                        (SELECT owner FROM rbac.oauth_states WHERE state_hash = $1)",
                &[hash.as_str().into()],
            )
            .unwrap_or_else(|e| spi_error("reading the OAuth state", e));
            match seen {
                (Some(created_at), Some(owner)) => {
                    (Some(oauth::StoredState { created_at, consumed: true, owner }), String::new())
                }
                _ => (None, String::new()),
            }
        }
    };
    if let Err(refused) = oauth::verify_state(state, stored.as_ref(), now_epoch(), None) {
        // The error rolls this transaction back, and the audit row with it;
        // the entry's JSON line in the server log stays (never the state).
        crate::audit::record(
            "oauth_state_refused",
            "denied",
            (Some("oauth_state"), None),
            None,
            serde_json::json!({ "reason": refused.message }),
        );
        raise(refused);
    }
    let outcome = oauth::classify_callback(code, error).or_raise();
    let (status, code_value, err): (&str, Option<encrypted_token>, Option<String>) = match outcome {
        oauth::CallbackOutcome::Code(secret) => {
            ("queued", Some(seal(secret.expose_secret().as_bytes(), "rbac.oauth_jobs", "code", &hash)), None)
        }
        oauth::CallbackOutcome::Denied => ("denied", None, Some("access_denied".to_owned())),
        oauth::CallbackOutcome::Failed { error } => ("failed", None, Some(error)),
    };
    let job = crate::store::write_returning(
        "INSERT INTO rbac.oauth_jobs (state_hash, code, redirect_uri, status, error) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[hash.as_str().into(), code_value.into(), redirect.as_str().into(), status.into(), err.into()],
        |row| row.get_one::<i64>(),
    )
    .unwrap_or_else(|e| spi_error("queueing the OAuth code exchange", e))
    .unwrap_or_else(|| pgrx::error!("notion_rbac: queueing the OAuth code exchange returned no id"));
    if status == "queued" {
        crate::worker::wake::at_commit("the OAuth code exchange");
    }
    job
}

// The column list must stay inline: pgrx reads the `name!` annotations
// from the signature to name the result columns.
#[allow(clippy::type_complexity)]
/// Where an OAuth job stands: queued, running, succeeded (with the
/// workspace), failed (with the reason) or denied by the user. Only the
/// role whose session recorded the callback, and administrators, see a
/// job; to anyone else it does not exist (job ids are sequential).
#[pg_extern(stable, parallel_safe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn oauth_status(
    job: i64,
) -> TableIterator<
    'static,
    (
        name!(job, i64),
        name!(status, String),
        name!(error, Option<String>),
        name!(bot_id, Option<String>),
        name!(workspace_name, Option<String>),
        name!(attempts, i32),
        name!(created_at, pgrx::datum::TimestampWithTimeZone),
        name!(updated_at, pgrx::datum::TimestampWithTimeZone),
    ),
> {
    use crate::store::{from_datum, read_rows};
    use pgrx::datum::TimestampWithTimeZone;
    let row = read_rows(
        c"SELECT j.id, j.status, j.error, j.bot_id, w.workspace_name, j.attempts, j.created_at, j.updated_at \
          FROM rbac.oauth_jobs j LEFT JOIN rbac.workspaces w ON w.bot_id = j.bot_id \
          WHERE j.id = $1 AND (j.requested_by = SESSION_USER OR pg_catalog.pg_has_role(SESSION_USER, 'rbac_admin', 'MEMBER'))",
        &[job.into()],
        |col| {
            (
                from_datum::<i64>(col(1)).unwrap_or_default(),
                from_datum::<String>(col(2)).unwrap_or_default(),
                from_datum::<String>(col(3)),
                from_datum::<String>(col(4)),
                from_datum::<String>(col(5)),
                from_datum::<i32>(col(6)).unwrap_or_default(),
                from_datum::<TimestampWithTimeZone>(col(7)).expect("created_at is NOT NULL"),
                from_datum::<TimestampWithTimeZone>(col(8)).expect("updated_at is NOT NULL"),
            )
        },
    )
    .into_iter()
    .next();
    match row {
        Some(r) => TableIterator::once(r),
        None => raise(Error::new(ErrorKind::UndefinedName, format!("OAuth job {job} does not exist"))),
    }
}
