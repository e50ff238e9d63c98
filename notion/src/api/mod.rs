//! Notion's REST API as the worker calls it: requests (bearer and OAuth
//! client calls) and what an answer means (docs/notion-api.md §2.4–2.6).
//!
//! Error codes are kept as text: the official SDKs' closed enums lag the
//! server (`missing_version`, `service_overload`, OAuth codes), so the
//! class is decided from the status where the code is unknown.

use std::time::{Duration, SystemTime};

pub mod target;

use zeroize::Zeroizing;

use crate::http::retry::parse_retry_after;
use crate::http::{Method, Request, Response};
use crate::token::SecretString;
use crate::{Error, ErrorKind, Result, validate_base_url};

/// What a failed call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 401: the token is invalid, revoked or the integration was removed.
    /// Try one refresh; if that cannot cure it, the workspace is revoked.
    Unauthorized,
    /// 404 `object_not_found`: not shared with the integration (or gone).
    NotFound,
    /// 403 `restricted_resource`: the integration lacks a capability.
    Restricted,
    /// 429 or 529: wait at least `Retry-After`, then retry.
    Throttled,
    /// 5xx (also non-JSON 502/504 from the edge proxy) and 409: retry with
    /// backoff.
    Transient,
    /// Any other 4xx: the request is wrong; retrying will not help.
    Invalid,
}

/// A non-2xx answer, described without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// Notion's `code` (or OAuth `error`), reduced to `[A-Za-z0-9_.-]`.
    pub code: Option<String>,
    /// Notion's `message`, one line, at most 300 characters.
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub class: ErrorClass,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        } else {
            write!(f, " without a Notion error body")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Reads an answer: `Ok(body)` for 2xx, the described error otherwise.
pub fn check_response(response: &Response, now: SystemTime) -> std::result::Result<&[u8], ApiError> {
    if (200..300).contains(&response.status) {
        return Ok(&response.body);
    }
    Err(describe_error(response, now))
}

/// Describes a non-2xx answer of either error shape (Notion's envelope,
/// or RFC 6749's `{"error", "error_description"}`), or of none (HTML).
pub fn describe_error(response: &Response, now: SystemTime) -> ApiError {
    let status = response.status;
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let obj = json.as_ref().and_then(serde_json::Value::as_object);
    let text = |k: &str| obj.and_then(|o| o.get(k)).and_then(serde_json::Value::as_str);
    let code = text("code").or_else(|| text("error")).map(|c| {
        c.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).take(64).collect::<String>()
    });
    let message = text("message").or_else(|| text("error_description")).map(|m| clean(m, 300));
    let request_id = text("request_id").map(|r| clean(r, 64)).or_else(|| response.request_id.clone());
    // A body's retry_after (2026 per-connection 429s) counts when the header is missing.
    let body_retry = obj
        .and_then(|o| o.get("additional_data"))
        .and_then(|a| a.get("retry_after"))
        .and_then(serde_json::Value::as_u64)
        .map(Duration::from_secs);
    let retry_after = response.retry_after.as_deref().and_then(|v| parse_retry_after(v, now)).or(body_retry);
    let class = match (status, code.as_deref()) {
        (401, _) | (_, Some("unauthorized")) => ErrorClass::Unauthorized,
        (429 | 529, _) | (_, Some("rate_limited" | "service_overload")) => ErrorClass::Throttled,
        (404, _) | (_, Some("object_not_found")) => ErrorClass::NotFound,
        (403, _) | (_, Some("restricted_resource")) => ErrorClass::Restricted,
        (409, _) | (500..=599, _) => ErrorClass::Transient,
        _ => ErrorClass::Invalid,
    };
    ApiError { status, code, message, request_id, retry_after, class }
}

fn clean(text: &str, max: usize) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect()
}

/// Where requests go and which API version they speak.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base: String,
    version: String,
}

impl Endpoint {
    /// Checks the base URL (see [`validate_base_url`]) and the version
    /// (`YYYY-MM-DD`).
    pub fn new(base: &str, version: &str) -> Result<Endpoint> {
        let base = validate_base_url(base)?.to_owned();
        let v = version.as_bytes();
        let shaped = v.len() == 10
            && v.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() });
        if !shaped {
            return Err(Error::new(ErrorKind::InvalidArgument, "Notion-Version must look like YYYY-MM-DD"));
        }
        Ok(Endpoint { base, version: version.to_owned() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// A call with the integration's bearer token. `path` starts with
    /// `/v1/`; a body is JSON.
    pub fn bearer(&self, method: Method, path: &str, token: &SecretString, body: Option<Vec<u8>>) -> Request {
        let mut headers = vec![
            ("Authorization", SecretString::new(format!("Bearer {}", token.expose_secret()))),
            ("Notion-Version", SecretString::new(self.version.clone())),
            ("Accept", SecretString::new("application/json".to_owned())),
        ];
        if body.is_some() {
            headers.push(("Content-Type", SecretString::new("application/json".to_owned())));
        }
        Request { method, url: format!("{}{path}", self.base), headers, body: body.map(Zeroizing::new) }
    }

    /// A POST to an OAuth endpoint with the client's Basic credentials
    /// (`authorization` is the whole header value) and a JSON body.
    pub fn oauth_post(&self, path: &str, authorization: &SecretString, body: Zeroizing<Vec<u8>>) -> Request {
        Request {
            method: Method::Post,
            url: format!("{}{path}", self.base),
            headers: vec![
                ("Authorization", authorization.clone()),
                ("Content-Type", SecretString::new("application/json".to_owned())),
                ("Notion-Version", SecretString::new(self.version.clone())),
                ("Accept", SecretString::new("application/json".to_owned())),
            ],
            body: Some(body),
        }
    }
}

/// Path of the revoke endpoint.
pub const REVOKE_PATH: &str = "/v1/oauth/revoke";
/// Path of the token's own bot user.
pub const USERS_ME_PATH: &str = "/v1/users/me";

/// `{"token": "…"}` for `/v1/oauth/revoke` and `/v1/oauth/introspect`.
pub fn token_body(token: &SecretString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(serde_json::json!({ "token": token.expose_secret() }).to_string().into_bytes())
}

/// What `GET /v1/users/me` tells about the bot: its name and workspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotInfo {
    pub id: String,
    pub name: Option<String>,
    pub workspace_name: Option<String>,
    pub workspace_id: Option<String>,
}

/// Reads a `/v1/users/me` answer (a bot user).
pub fn parse_bot_info(body: &[u8]) -> Result<BotInfo> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "Notion's /v1/users/me answer is not JSON"))?;
    let s = |x: Option<&serde_json::Value>| x.and_then(serde_json::Value::as_str).map(|s| clean(s, 200));
    let id = s(v.get("id")).ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "Notion's bot user has no id"))?;
    let bot = v.get("bot");
    Ok(BotInfo {
        id,
        name: s(v.get("name")),
        workspace_name: s(bot.and_then(|b| b.get("workspace_name"))),
        workspace_id: s(bot.and_then(|b| b.get("workspace_id"))),
    })
}

#[cfg(test)]
mod tests;
