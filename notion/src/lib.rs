//! The secrets and Notion half of `notion_rbac`, pure Rust: no PostgreSQL
//! types, no I/O except the worker's HTTP transport ([`http`]), no clock, no randomness other than the OS generator (for
//! keys, nonces and OAuth states). The SQL layer stores what this crate
//! seals and builds; the background worker will do the HTTP; everything in
//! between is unit-tested here without a database or a network.
//!
//! - [`token`] — the encrypted-token envelope, key file and AES-256-GCM.
//! - [`oauth`] — the OAuth 2.0 authorization-code flow of public connections:
//!   authorization URL, `state` handling, callback classification, token
//!   endpoint requests and responses.
//! - [`http`]  — the background worker's transport (reqwest on a
//!   current-thread runtime whose helper threads block signals), bounded
//!   and stoppable; `Retry-After` and backoff.
//! - [`api`]   — Notion's REST calls and what their answers mean (error
//!   envelope, error classes, bot info).
//! - [`sync`]  — Notion access into tuples: listing (paginated, blocks
//!   resolved once) and planning; the model the sync writes into.
//! - this root — facts of Notion's API every part uses: the base URL and
//!   its checks, the pinned `Notion-Version`.
//!
//! Errors are the core's [`Error`] (with its `Decrypt` and `KeyConfig`
//! kinds), so that the SQL layer maps every error of the project onto
//! SQLSTATEs in one place.

pub use notion_rbac_core::{Error, ErrorKind, Result};

pub mod api;
pub mod http;
pub mod oauth;
pub mod sync;
pub mod token;

/// Notion's API origin.
pub const DEFAULT_BASE_URL: &str = "https://api.notion.com";

/// The `Notion-Version` header sent on every request, OAuth included. Pinned
/// in one place because versions change response shapes; `2025-09-03` is the
/// default of both official SDKs (docs/notion-api.md §2.3).
pub const NOTION_VERSION: &str = "2025-09-03";

/// Checks a base URL (`https://api.notion.com`, or a local fake server) and
/// returns it without trailing slashes, ready for a path to be appended.
///
/// Plain `http://` is accepted only for loopback hosts (`localhost`,
/// `127.x.x.x`, `[::1]`), because client secrets and tokens travel on these
/// requests. A query or fragment is refused: paths are appended to the base.
pub fn validate_base_url(base: &str) -> Result<&str> {
    let bad = |why: &str| {
        // The URL itself is never echoed: a refused URL may carry
        // credentials (user:password@host), and errors reach the server log.
        Error::new(ErrorKind::InvalidArgument, format!("invalid Notion base URL: {why}"))
            .with_hint(format!("use {DEFAULT_BASE_URL}, or http://localhost:<port> for a local test server"))
    };
    if base.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    if base.contains(['?', '#']) {
        return Err(bad("it must not contain a query or fragment"));
    }
    let trimmed = base.trim_end_matches('/');
    let (secure, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad("it must start with https://"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("it must name a host (and no user info)"));
    }
    if !secure && !is_loopback(authority) {
        return Err(bad("http:// is allowed only for localhost"));
    }
    Ok(trimmed)
}

/// Whether a URL authority (`host[:port]`) names the local machine.
pub(crate) fn is_loopback(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(validate_base_url("https://api.notion.com").unwrap(), "https://api.notion.com");
        assert_eq!(validate_base_url("https://api.notion.com/").unwrap(), "https://api.notion.com");
        assert_eq!(validate_base_url("http://localhost:8080").unwrap(), "http://localhost:8080");
        assert_eq!(validate_base_url("http://127.0.0.1:9/x/").unwrap(), "http://127.0.0.1:9/x");
        assert_eq!(validate_base_url("http://[::1]:9").unwrap(), "http://[::1]:9");
        for bad in [
            "",
            "api.notion.com",
            "ftp://api.notion.com",
            "http://api.notion.com",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "https://",
            "https:///v1",
            "https://user@api.notion.com",
            "https://api.notion.com?x=1",
            "https://api.notion.com#f",
            "https://api.notion.com /",
        ] {
            let err = validate_base_url(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
