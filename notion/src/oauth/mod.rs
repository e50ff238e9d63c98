//! Notion's OAuth 2.0 authorization-code flow, minus the I/O.
//!
//! The flow as the extension runs it:
//!
//! 1. `rbac.oauth_start(redirect_uri, owner)` calls [`new_state`], stores
//!    only [`hash_state`] of it with the owner and the time, and returns
//!    [`authorization_url`] for the browser.
//! 2. Notion redirects to `redirect_uri?code=…&state=…` (or
//!    `?error=access_denied&state=…`). `rbac.oauth_callback(state, code,
//!    error)` looks the state up by hash, [`verify_state`]s it, marks it used
//!    in the same statement, and [`classify_callback`]s the rest: a denial is
//!    recorded, a code is queued (encrypted) for the background worker.
//! 3. The worker sends a [`TokenRequest`] and reads the answer with
//!    [`parse_token_response`]; see [`token`].
//!
//! Why the state is stored hashed: the table then holds nothing an attacker
//! with read access could replay; the state has 256 bits of entropy, so a
//! plain SHA-256 suffices (no salt or slow hash needed), and it matches SQL's
//! `encode(sha256(convert_to(state, 'UTF8')), 'hex')`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::validate_base_url;
use crate::token::SecretString;
use crate::{Error, ErrorKind, Result};

pub mod token;

pub use token::{
    ClientCredentials, Disposition, OauthError, OauthErrorCode, Owner, OwnerUser, Person, TokenRequest, TokenResponse,
    authorization_code_body, basic_auth_header, parse_token_response, refresh_token_body,
};

/// Path of the authorization endpoint under the base URL.
pub const AUTHORIZE_PATH: &str = "/v1/oauth/authorize";
/// How long a state is accepted after `oauth_start`: 10 minutes.
pub const STATE_TTL_SECS: i64 = 600;
/// Random bytes in a state (256 bits; ≥128 required).
pub const STATE_BYTES: usize = 32;
/// Length of a state as text (unpadded base64url of [`STATE_BYTES`]).
pub const STATE_LEN: usize = 43;
/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message.into())
}

/// A fresh OAuth `state`: 32 bytes from the OS CSPRNG as unpadded base64url
/// (43 URL-safe characters).
pub fn new_state() -> Result<String> {
    let mut raw = [0u8; STATE_BYTES];
    getrandom::fill(&mut raw)
        .map_err(|e| Error::internal(format!("the operating system's random generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// Whether `state` has the shape [`new_state`] produces. Checked before any
/// lookup so junk is refused cheaply and never hashed or stored.
pub fn is_well_formed_state(state: &str) -> bool {
    state.len() == STATE_LEN && URL_SAFE_NO_PAD.decode(state).is_ok_and(|b| b.len() == STATE_BYTES)
}

/// Lower-case hex SHA-256 of the state's UTF-8 bytes: what the database
/// stores and looks up.
pub fn hash_state(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks a redirect URI before it goes into an authorization URL: absolute
/// `https://` (or `http://` to a loopback host, for local development), no
/// fragment (RFC 6749 §3.1.2), no whitespace or control characters. Notion
/// itself compares it with the registered URIs, exactly, including any
/// trailing slash.
pub fn validate_redirect_uri(uri: &str) -> Result<()> {
    let bad = |why: &str| invalid(format!("invalid redirect_uri: {why}"));
    if uri.is_empty() {
        return Err(bad("it is empty"));
    }
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(bad(&format!("it is longer than {MAX_REDIRECT_URI_LEN} characters")));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    if uri.contains('#') {
        return Err(bad("it must not contain a fragment (#)"));
    }
    let (secure, rest) = if let Some(rest) = uri.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = uri.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad("it must be an absolute https:// URL"));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("it must name a host (and no user info)"));
    }
    if !secure && !super::is_loopback(authority) {
        return Err(bad("it must use https:// (http:// is allowed only for localhost)"));
    }
    Ok(())
}

/// Most redirect URIs one configuration may register.
pub const MAX_REDIRECT_URIS: usize = 20;

/// Checks the redirect URIs an administrator registers: one to
/// [`MAX_REDIRECT_URIS`], each valid ([`validate_redirect_uri`]), no
/// duplicates. The first is the default of `rbac.oauth_start`.
pub fn validate_redirect_uris(uris: &[String]) -> Result<()> {
    if uris.is_empty() {
        return Err(invalid("register at least one redirect URI"));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!("at most {MAX_REDIRECT_URIS} redirect URIs can be registered")));
    }
    for (i, uri) in uris.iter().enumerate() {
        validate_redirect_uri(uri).map_err(|e| invalid(format!("redirect URI {}: {}", i + 1, e.message)))?;
        if uris[..i].contains(uri) {
            return Err(invalid(format!("redirect URI {} repeats an earlier one", i + 1)));
        }
    }
    Ok(())
}

/// The redirect URI an authorization may use: the requested one only if it
/// is registered exactly (an unregistered one would make the application
/// an open redirect: Notion sends the user, with a valid code, wherever the
/// authorization URL says), the first registered one by default. The
/// refused URI is not echoed: it is the caller's input, not ours to log.
pub fn choose_redirect_uri(registered: &[String], requested: Option<&str>) -> Result<String> {
    match requested {
        None => registered.first().cloned().ok_or_else(|| invalid("no redirect URI is registered")),
        Some(uri) if registered.iter().any(|r| r == uri) => Ok(uri.to_owned()),
        Some(_) => Err(invalid("redirect_uri is not one of the redirect URIs registered with rbac.oauth_configure")
            .with_hint("register it (exactly, as in the integration's settings at Notion) with rbac.oauth_configure")),
    }
}

/// Notion's authorization URL (docs/notion-api.md §1.2):
/// `{base}/v1/oauth/authorize?client_id=…&response_type=code&owner=user&redirect_uri=…&state=…`,
/// form-urlencoded like the SDKs' `URLSearchParams`.
///
/// `owner` must be `"user"`: Notion issues user-level tokens; workspace-level
/// tokens are deprecated. `state` must come from [`new_state`].
pub fn authorization_url(base: &str, client_id: &str, redirect_uri: &str, owner: &str, state: &str) -> Result<String> {
    let base = validate_base_url(base)?;
    if client_id.is_empty() || client_id.len() > 256 || client_id.chars().any(|c| c.is_control()) {
        return Err(invalid("invalid OAuth client_id: it must be 1 to 256 printable characters"));
    }
    if owner != "user" {
        return Err(invalid("invalid owner: Notion's authorization URL takes owner=user only")
            .with_hint("workspace-level tokens are deprecated; every authorization is user-level"));
    }
    validate_redirect_uri(redirect_uri)?;
    if !is_well_formed_state(state) {
        return Err(invalid("invalid OAuth state: use a value from new_state()"));
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("owner", owner)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    Ok(format!("{base}{AUTHORIZE_PATH}?{query}"))
}

/// What the database holds about an issued state (looked up by
/// [`hash_state`]). Times are Unix seconds; the caller supplies "now", so
/// the checks are deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// When `oauth_start` issued it.
    pub created_at: i64,
    /// Whether a callback has already used it.
    pub consumed: bool,
    /// The owner `oauth_start` was called for.
    pub owner: String,
}

/// When a state issued at `created_at` stops being accepted.
pub fn state_expires_at(created_at: i64) -> i64 {
    created_at.saturating_add(STATE_TTL_SECS)
}

/// Decides whether a callback's `state` is acceptable, with a message that
/// says why not. Checked in this order: malformed, unknown (`stored` is
/// `None`), already used, expired, issued for a different owner (only when
/// `expected_owner` is given, e.g. when the callback runs as a known role).
///
/// Replay safety needs the SQL layer's help: mark the state used in the same
/// statement that reads it (`UPDATE … SET used_at = now() WHERE state_hash =
/// $1 AND used_at IS NULL RETURNING …`), so two concurrent callbacks cannot
/// both see it unused. Messages never repeat the state.
pub fn verify_state(
    presented: &str,
    stored: Option<&StoredState>,
    now: i64,
    expected_owner: Option<&str>,
) -> Result<()> {
    const RESTART: &str = "start the authorization again with rbac.oauth_start()";
    if !is_well_formed_state(presented) {
        return Err(invalid(format!(
            "OAuth state mismatch: the state is not a value issued by rbac.oauth_start() ({STATE_LEN} base64url characters)"
        ))
        .with_hint(RESTART));
    }
    let Some(stored) = stored else {
        return Err(invalid("OAuth state mismatch: unknown state (not issued by this database, or already purged)")
            .with_hint(RESTART));
    };
    if stored.consumed {
        return Err(invalid("OAuth state already used: each state is accepted by one callback only").with_hint(RESTART));
    }
    let expires = state_expires_at(stored.created_at);
    if now >= expires {
        return Err(invalid(format!(
            "OAuth state expired {} seconds ago: states are valid for {} minutes",
            now.saturating_sub(expires),
            STATE_TTL_SECS / 60
        ))
        .with_hint(RESTART));
    }
    if let Some(owner) = expected_owner
        && owner != stored.owner
    {
        return Err(invalid("OAuth state mismatch: the state was issued for a different owner").with_hint(RESTART));
    }
    Ok(())
}

/// What Notion's redirect said, once the state checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The user approved: the one-time code to exchange (a secret until used).
    Code(SecretString),
    /// The user declined (`error=access_denied`).
    Denied,
    /// Another OAuth error code (validated: `[A-Za-z0-9_.-]{1,64}`).
    Failed { error: String },
}

/// Classifies the callback's `code` and `error` parameters (empty counts as
/// absent, as SQL callers may pass `''` or NULL). Exactly one must be
/// present. Neither value is ever echoed in an error.
pub fn classify_callback(code: Option<&str>, error: Option<&str>) -> Result<CallbackOutcome> {
    let code = code.filter(|c| !c.is_empty());
    let error = error.filter(|e| !e.is_empty());
    match (code, error) {
        (Some(_), Some(_)) => Err(invalid("OAuth callback has both a code and an error")),
        (None, None) => Err(invalid("OAuth callback has neither a code nor an error")),
        (None, Some(e)) => {
            let ok = e.len() <= 64 && e.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                Err(invalid("OAuth callback error parameter is malformed"))
            } else if e == "access_denied" {
                Ok(CallbackOutcome::Denied)
            } else {
                Ok(CallbackOutcome::Failed { error: e.to_owned() })
            }
        }
        (Some(c), None) => {
            let ok = c.len() <= 1024 && c.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(CallbackOutcome::Code(SecretString::new(c.to_owned())))
            } else {
                Err(invalid("OAuth callback code is malformed"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
