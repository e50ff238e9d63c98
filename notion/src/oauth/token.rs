//! Notion's token endpoint: request construction and response parsing for
//! the `authorization_code` and `refresh_token` grants (docs/notion-api.md
//! §1.3–1.5, §1.8).
//!
//! Everything here that holds a code, a token or the client secret keeps it
//! in a [`SecretString`] or a `Zeroizing` buffer, has a hand-written `Debug`
//! that redacts it, and implements no `Display` of it. Error values carry
//! only the HTTP status, the OAuth error code and Notion's own description —
//! never the request or the response body, which may contain tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::{NOTION_VERSION, validate_base_url};
use crate::token::SecretString;
use crate::{Error, ErrorKind, Result};

/// Path of the token endpoint under the base URL.
pub const TOKEN_PATH: &str = "/v1/oauth/token";

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message.into())
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The connection's OAuth client id and secret.
#[derive(Clone)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: SecretString,
}

impl ClientCredentials {
    /// The id may not contain `:` (it would split wrongly in Basic auth,
    /// RFC 7617 §2) or control characters; neither part may be empty.
    pub fn new(client_id: &str, client_secret: SecretString) -> Result<ClientCredentials> {
        if client_id.is_empty() || client_id.contains(':') || client_id.chars().any(char::is_control) {
            return Err(invalid("invalid OAuth client_id: it must be non-empty, without ':' or control characters"));
        }
        if client_secret.is_empty() {
            return Err(invalid("the OAuth client secret is empty"));
        }
        Ok(ClientCredentials { client_id: client_id.to_owned(), client_secret })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `Authorization` header value for the token endpoint.
    pub fn authorization_header(&self) -> SecretString {
        encode_basic(&self.client_id, self.client_secret.expose_secret())
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// `Basic base64(client_id:client_secret)`, the token endpoint's
/// `Authorization` header value.
pub fn basic_auth_header(client_id: &str, client_secret: &str) -> Result<SecretString> {
    let creds = ClientCredentials::new(client_id, SecretString::new(client_secret.to_owned()))?;
    Ok(creds.authorization_header())
}

fn encode_basic(client_id: &str, client_secret: &str) -> SecretString {
    let mut pair = Zeroizing::new(String::with_capacity(client_id.len() + 1 + client_secret.len()));
    pair.push_str(client_id);
    pair.push(':');
    pair.push_str(client_secret);
    let mut header = Zeroizing::new(String::with_capacity(6 + pair.len().div_ceil(3) * 4));
    header.push_str("Basic ");
    STANDARD.encode_string(pair.as_bytes(), &mut header);
    SecretString::from(header)
}

#[derive(Serialize)]
struct AuthorizationCodeBody<'a> {
    grant_type: &'static str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<&'a str>,
}

#[derive(Serialize)]
struct RefreshTokenBody<'a> {
    grant_type: &'static str,
    refresh_token: &'a str,
}

/// Serializes into a buffer big enough for the worst-case JSON escaping, so
/// it never reallocates and strands an unwiped copy of the secret.
fn json_body<T: Serialize>(value: &T, secret_len: usize, other_len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(6 * (secret_len + other_len) + 128));
    serde_json::to_writer(&mut *buf, value).map_err(|_| Error::internal("could not serialize a token request"))?;
    Ok(buf)
}

/// JSON body of the authorization-code grant:
/// `{"grant_type":"authorization_code","code":…,"redirect_uri":…}`.
/// Pass the same `redirect_uri` as in the authorization URL (Notion requires
/// it then), `None` if that URL had none.
pub fn authorization_code_body(code: &str, redirect_uri: Option<&str>) -> Result<Zeroizing<Vec<u8>>> {
    if code.is_empty() {
        return Err(invalid("the authorization code is empty"));
    }
    let body = AuthorizationCodeBody { grant_type: "authorization_code", code, redirect_uri };
    json_body(&body, code.len(), redirect_uri.map_or(0, str::len))
}

/// JSON body of the refresh grant:
/// `{"grant_type":"refresh_token","refresh_token":…}`.
pub fn refresh_token_body(refresh_token: &str) -> Result<Zeroizing<Vec<u8>>> {
    if refresh_token.is_empty() {
        return Err(invalid("the refresh token is empty"));
    }
    json_body(&RefreshTokenBody { grant_type: "refresh_token", refresh_token }, refresh_token.len(), 0)
}

/// A complete `POST {base}/v1/oauth/token` request for the worker's HTTP
/// client: URL, headers and body.
pub struct TokenRequest {
    url: String,
    authorization: SecretString,
    body: Zeroizing<Vec<u8>>,
}

impl TokenRequest {
    /// Exchange of an authorization code (grant `authorization_code`).
    pub fn authorization_code(
        base: &str,
        credentials: &ClientCredentials,
        code: &SecretString,
        redirect_uri: Option<&str>,
    ) -> Result<TokenRequest> {
        Ok(TokenRequest {
            url: token_url(base)?,
            authorization: credentials.authorization_header(),
            body: authorization_code_body(code.expose_secret(), redirect_uri)?,
        })
    }

    /// Refresh (grant `refresh_token`). Notion rotates both tokens on every
    /// refresh; persist the new pair atomically and serialize refreshes per
    /// `bot_id` (a reused refresh token gets `invalid_grant`).
    pub fn refresh(base: &str, credentials: &ClientCredentials, refresh_token: &SecretString) -> Result<TokenRequest> {
        Ok(TokenRequest {
            url: token_url(base)?,
            authorization: credentials.authorization_header(),
            body: refresh_token_body(refresh_token.expose_secret())?,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers to send: `Authorization` (secret), `Content-Type`,
    /// `Notion-Version`, `Accept`.
    pub fn headers(&self) -> [(&'static str, &str); 4] {
        [
            ("Authorization", self.authorization.expose_secret()),
            ("Content-Type", "application/json"),
            ("Notion-Version", NOTION_VERSION),
            ("Accept", "application/json"),
        ]
    }

    /// The JSON body (secret: holds the code or refresh token).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request for the worker's transport, speaking `notion_version`
    /// (the configured one; [`Self::headers`] names the pinned default).
    pub fn to_http(&self, notion_version: &str) -> crate::http::Request {
        use crate::http::{Method, Request};
        let header = |v: &str| SecretString::new(v.to_owned());
        Request {
            method: Method::Post,
            url: self.url.clone(),
            headers: vec![
                ("Authorization", self.authorization.clone()),
                ("Content-Type", header("application/json")),
                ("Notion-Version", header(notion_version)),
                ("Accept", header("application/json")),
            ],
            body: Some(self.body.clone()),
        }
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("url", &self.url)
            .field("authorization", &"<redacted>")
            .field("body", &format_args!("<redacted, {} bytes>", self.body.len()))
            .finish()
    }
}

fn token_url(base: &str) -> Result<String> {
    Ok(format!("{}{TOKEN_PATH}", validate_base_url(base)?))
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// A successful token response (`OauthTokenResponse`).
///
/// Parsing is strict only where it must be — `access_token` and
/// `refresh_token` (strings or null), `bot_id`, `workspace_id` — and lenient
/// everywhere else: unknown fields are ignored, and descriptive fields of an
/// unexpected type become `None`/[`Owner::Unknown`]. The authorization code
/// is spent by the time this is parsed, so refusing a response over, say, an
/// icon that is an object would lose the token for good.
#[derive(Deserialize, Clone)]
pub struct TokenResponse {
    pub access_token: SecretString,
    /// `"bearer"`; checked case-insensitively when present.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Absent or null for older connections; an empty string counts as absent.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// The tenant key: one per authorization.
    pub bot_id: String,
    /// Not unique across tokens.
    pub workspace_id: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub workspace_name: Option<String>,
    /// An image URL or an emoji.
    #[serde(default, deserialize_with = "lenient_string")]
    pub workspace_icon: Option<String>,
    #[serde(default, deserialize_with = "lenient_owner")]
    pub owner: Owner,
    #[serde(default, deserialize_with = "lenient_string")]
    pub duplicated_template_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// Not documented by Notion (tokens do not expire by time as of the
    /// notes); parsed leniently in case it appears: a non-negative number or
    /// numeric string, anything else is treated as absent.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<u64>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("bot_id", &self.bot_id)
            .field("workspace_id", &self.workspace_id)
            .field("workspace_name", &self.workspace_name)
            .field("workspace_icon", &self.workspace_icon)
            .field("owner", &self.owner)
            .field("duplicated_template_id", &self.duplicated_template_id)
            .field("request_id", &self.request_id)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Who the token acts for.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Owner {
    /// A user-level token: `{"type":"user","user":{…}}`.
    User { user: OwnerUser },
    /// A workspace-owned bot: `{"type":"workspace","workspace":true}`.
    Workspace {
        #[serde(default)]
        workspace: bool,
    },
    /// Missing owner or a type this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// The authorizing user; may be partial (`{object, id}` only).
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OwnerUser {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// `"person"` or `"bot"`.
    #[serde(rename = "type", default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub person: Option<Person>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Person {
    #[serde(default)]
    pub email: Option<String>,
}

impl Owner {
    /// The authorizing user's id, for user-level tokens.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Owner::User { user } => Some(&user.id),
            _ => None,
        }
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

fn lenient_owner<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Owner, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(Owner::deserialize(v).unwrap_or_default())
}

fn lenient_seconds<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e15).map(|f| f as u64))
        }
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// The OAuth error codes the worker distinguishes; others are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OauthErrorCode {
    /// Bad, expired or used code; revoked or rotated refresh token;
    /// redirect_uri mismatch. Terminal: the user must authorize again.
    InvalidGrant,
    /// Bad client id or secret. A configuration error.
    InvalidClient,
    /// Missing or disallowed parameters.
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// Notion's `rate_limited` (429).
    RateLimited,
    /// Any other code, as sent (reduced to `[A-Za-z0-9_.-]`, ≤ 64 chars).
    Other(String),
}

impl OauthErrorCode {
    fn from_wire(code: &str) -> OauthErrorCode {
        match code {
            "invalid_grant" => OauthErrorCode::InvalidGrant,
            "invalid_client" => OauthErrorCode::InvalidClient,
            "invalid_request" => OauthErrorCode::InvalidRequest,
            "unauthorized_client" => OauthErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => OauthErrorCode::UnsupportedGrantType,
            "invalid_scope" => OauthErrorCode::InvalidScope,
            "rate_limited" => OauthErrorCode::RateLimited,
            other => OauthErrorCode::Other(
                other.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).take(64).collect(),
            ),
        }
    }

    /// The code as Notion spells it.
    pub fn as_str(&self) -> &str {
        match self {
            OauthErrorCode::InvalidGrant => "invalid_grant",
            OauthErrorCode::InvalidClient => "invalid_client",
            OauthErrorCode::InvalidRequest => "invalid_request",
            OauthErrorCode::UnauthorizedClient => "unauthorized_client",
            OauthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OauthErrorCode::InvalidScope => "invalid_scope",
            OauthErrorCode::RateLimited => "rate_limited",
            OauthErrorCode::Other(s) => s,
        }
    }
}

/// What the worker should do about a failed token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The grant is dead (`invalid_grant`): mark the connection as needing
    /// re-authorization; do not retry.
    Reauthorize,
    /// Client id/secret or parameters are wrong: an administrator must fix
    /// the configuration; do not retry until then.
    FixConfiguration,
    /// Transient (429, 529, 5xx): retry later with backoff.
    Retry,
    /// Anything else: record and give up.
    Fail,
}

/// A failed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OauthError {
    /// An error body of either shape: RFC 6749 (`{"error", "error_description"}`)
    /// or Notion's envelope (`{"object":"error","code","message"}`).
    Rejected { status: u16, code: OauthErrorCode, description: Option<String>, request_id: Option<String> },
    /// A non-success status whose body is neither shape (e.g. an HTML page
    /// from a proxy). The body is not kept.
    Http { status: u16 },
    /// A success status whose body is not a usable token response. `reason`
    /// names what is wrong (field names, JSON position), never values.
    Malformed { status: u16, reason: String },
}

impl OauthError {
    pub fn status(&self) -> u16 {
        match self {
            OauthError::Rejected { status, .. }
            | OauthError::Http { status }
            | OauthError::Malformed { status, .. } => *status,
        }
    }

    pub fn code(&self) -> Option<&OauthErrorCode> {
        match self {
            OauthError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// docs/notion-api.md §1.8: `invalid_grant` is terminal, `invalid_client` is
    /// configuration, 429/529/5xx are transient.
    pub fn disposition(&self) -> Disposition {
        let transient = |s: u16| s == 429 || s == 529 || (500..600).contains(&s);
        match self {
            OauthError::Rejected { code: OauthErrorCode::InvalidGrant, .. } => Disposition::Reauthorize,
            OauthError::Rejected {
                code:
                    OauthErrorCode::InvalidClient
                    | OauthErrorCode::UnauthorizedClient
                    | OauthErrorCode::InvalidRequest
                    | OauthErrorCode::UnsupportedGrantType
                    | OauthErrorCode::InvalidScope,
                ..
            } => Disposition::FixConfiguration,
            OauthError::Rejected { code: OauthErrorCode::RateLimited, .. } => Disposition::Retry,
            OauthError::Rejected { status, .. } | OauthError::Http { status } if transient(*status) => {
                Disposition::Retry
            }
            _ => Disposition::Fail,
        }
    }
}

impl fmt::Display for OauthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OauthError::Rejected { status, code, description, .. } => {
                write!(f, "Notion's token endpoint refused the request (HTTP {status}, {})", code.as_str())?;
                match description {
                    Some(d) => write!(f, ": {d}"),
                    None => Ok(()),
                }
            }
            OauthError::Http { status } => {
                write!(f, "Notion's token endpoint answered HTTP {status} without an OAuth error body")
            }
            OauthError::Malformed { status, reason } => {
                write!(f, "Notion's token endpoint answered HTTP {status} with an unusable token response: {reason}")
            }
        }
    }
}

impl std::error::Error for OauthError {}

/// Printable, single-line, at most `max` characters: for text from the
/// server that ends up in messages and tables.
fn clean(text: &str, max: usize) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect()
}

/// Recognizes either OAuth error shape in a JSON body.
fn error_shape(status: u16, body: &[u8]) -> Option<OauthError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let text = |k: &str| obj.get(k).and_then(serde_json::Value::as_str);
    let (code, description) = if let Some(code) = text("error") {
        (code, text("error_description"))
    } else if text("object") == Some("error") || (text("code").is_some() && obj.get("access_token").is_none()) {
        (text("code").unwrap_or("unknown_error"), text("message"))
    } else {
        return None;
    };
    Some(OauthError::Rejected {
        status,
        code: OauthErrorCode::from_wire(code),
        description: description.map(|d| clean(d, 300)),
        request_id: text("request_id").map(|r| clean(r, 64)),
    })
}

/// Describes a JSON error by its category and position only: serde_json's
/// own messages can quote values (`invalid type: string "ntn_…"`). Missing
/// field names come from our struct and are safe to name.
fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return format!("missing field {field}");
    }
    let what = match e.classify() {
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Data => "a field has the wrong type",
        serde_json::error::Category::Io => "unreadable body",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// Reads the token endpoint's answer.
///
/// - 2xx with a token response → `Ok`, after checking that `access_token`,
///   `bot_id` and `workspace_id` are non-empty and `token_type` (if present)
///   is `bearer`. An empty `refresh_token` becomes `None`.
/// - either error shape (at any status) → [`OauthError::Rejected`];
/// - 2xx with anything else → [`OauthError::Malformed`];
/// - other statuses without an error shape → [`OauthError::Http`].
pub fn parse_token_response(status: u16, body: &[u8]) -> std::result::Result<TokenResponse, OauthError> {
    if !(200..300).contains(&status) {
        return Err(error_shape(status, body).unwrap_or(OauthError::Http { status }));
    }
    let mut response: TokenResponse = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Err(error_shape(status, body)
                .unwrap_or_else(|| OauthError::Malformed { status, reason: describe_json_error(&e) }));
        }
    };
    let malformed = |reason: &str| OauthError::Malformed { status, reason: reason.to_owned() };
    if response.access_token.is_empty() {
        return Err(malformed("access_token is empty"));
    }
    if response.bot_id.is_empty() {
        return Err(malformed("bot_id is empty"));
    }
    if response.workspace_id.is_empty() {
        return Err(malformed("workspace_id is empty"));
    }
    if let Some(t) = &response.token_type
        && !t.eq_ignore_ascii_case("bearer")
    {
        return Err(malformed("token_type is not bearer"));
    }
    if response.refresh_token.as_ref().is_some_and(SecretString::is_empty) {
        response.refresh_token = None;
    }
    Ok(response)
}
