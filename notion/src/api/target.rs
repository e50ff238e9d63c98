//! Permission-aware Notion requests: which object of the model a request
//! names, which action it needs, and what Notion's error codes mean for the
//! person who asked (the seed guide's ObjectNotFound / RestrictedResource /
//! Unauthorized).
//!
//! | request | object | action |
//! | --- | --- | --- |
//! | `GET /v1/pages/{id}` (and `/properties/{p}`) | `page:{id}` | read |
//! | `PATCH /v1/pages/{id}` | `page:{id}` | write (delete: see below) |
//! | `GET /v1/blocks/{id}`, `GET /v1/blocks/{id}/children` | `page:{id}` | read |
//! | `PATCH /v1/blocks/{id}`, `PATCH /v1/blocks/{id}/children` | `page:{id}` | write (delete: see below) |
//! | `DELETE /v1/blocks/{id}` | `page:{id}` | delete |
//! | `GET /v1/comments?block_id={id}` | `page:{id}` | read |
//! | `GET /v1/databases/{id}` | `database:{id}` | read |
//! | `PATCH /v1/databases/{id}` | `database:{id}` | write (delete: see below) |
//! | `POST /v1/pages` with `parent` `{"page_id": …}` / `{"database_id": …}` | that page / database | write |
//!
//! Blocks are addressed by the page they are (a page is a block with the
//! page's id); a block inside a page is not an object of the model, so it
//! is refused rather than guessed at.
//!
//! What Notion would act on decides, never a reading of the request that
//! Notion does not share:
//! - A PATCH of a page, block or database that sets `in_trash` or
//!   `archived` (Notion's way to trash or restore one) needs `delete`, as
//!   `DELETE` does.
//! - A new page's `parent` must name exactly one page or database, with a
//!   `type` that agrees if it has one: Notion follows `type` (and knows
//!   parents the model does not, such as data sources), so a parent with
//!   two ids, a `type` naming another key or an unknown key is refused.
//! - A query parameter the target is read from may appear once.

use serde_json::Value;

use crate::http::Method;
use crate::{Error, ErrorKind, Result};

/// What a request needs: `action` on `entity_type:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub entity_type: &'static str,
    pub id: String,
    pub action: &'static str,
}

impl Target {
    pub fn object(&self) -> String {
        format!("{}:{}", self.entity_type, self.id)
    }
}

fn refuse(why: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, why)
        .with_hint("permission-aware requests cover pages, page blocks, comments and databases (see rbac.notion_request)")
}

/// Notion ids: 32 hex digits, dashed or not; returned dashed and lowercase.
pub fn normalize_id(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

fn id(raw: &str, what: &str) -> Result<String> {
    normalize_id(raw).ok_or_else(|| refuse(format!("{what} in the path is not a Notion id")))
}

/// Whether the HTTP client sends `path` (before any `?`) as it is: `/`
/// and segments of letters, digits, `_`, `-` and percent-escapes of
/// anything but a dot, a slash, a backslash or a control character. A URL
/// parser reads `\` as `/` and `%2e` as `.` in dot segments, and drops
/// tabs and newlines: a path holding any of them could be authorized for
/// one object and reach another (`/v1/pages/A/properties/x\%2e%2e\B`
/// is `/v1/pages/B` on the wire).
fn plain_path(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'/' => i += 1,
            b'%' => {
                let decoded = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match decoded {
                    Some(c) if !matches!(c, b'.' | b'/' | b'\\') && !c.is_ascii_control() => i += 3,
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
    true
}

/// Whether a query is form-encoded text only (no fragment, no whitespace).
fn plain_query(query: &str) -> bool {
    query.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-.~%=&+".contains(&c))
}

/// The object and action a request needs. `path` may carry a query.
pub fn target(method: Method, path: &str, body: Option<&Value>) -> Result<Target> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if !path.starts_with("/v1/") {
        return Err(refuse("the path must start with /v1/".into()));
    }
    if !plain_path(path) || !plain_query(query) {
        return Err(refuse(
            "the path may hold only letters, digits, '/', '_', '-' and percent-escapes (not of '.', '/', '\\' or a \
             control character), and the query only form-encoded text"
                .into(),
        ));
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let t = |entity_type, raw: &str, action| -> Result<Target> { Ok(Target { entity_type, id: id(raw, "the id")?, action }) };
    // Trashing (or restoring) through PATCH deletes, whatever else it sets.
    let patch = || if trashes(body) { "delete" } else { "write" };
    match (method, parts.as_slice()) {
        (Method::Get, ["pages", p]) | (Method::Get, ["pages", p, "properties", _]) => t("page", p, "read"),
        (Method::Patch, ["pages", p]) => t("page", p, patch()),
        (Method::Get, ["blocks", b]) | (Method::Get, ["blocks", b, "children"]) => t("page", b, "read"),
        (Method::Patch, ["blocks", b]) => t("page", b, patch()),
        (Method::Patch, ["blocks", b, "children"]) => t("page", b, "write"),
        (Method::Delete, ["blocks", b]) => t("page", b, "delete"),
        (Method::Get, ["databases", d]) => t("database", d, "read"),
        (Method::Patch, ["databases", d]) => t("database", d, patch()),
        (Method::Get, ["comments"]) => {
            let mut blocks = form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == "block_id").map(|(_, v)| v);
            let block = blocks.next().ok_or_else(|| refuse("GET /v1/comments needs block_id".into()))?;
            if blocks.next().is_some() {
                return Err(refuse("GET /v1/comments: block_id given more than once".into()));
            }
            t("page", &block, "read")
        }
        (Method::Post, ["pages"]) => {
            let (entity_type, raw) = new_page_parent(body)?;
            t(entity_type, raw, "write")
        }
        _ => Err(refuse(format!(
            "{} {} is not a request rbac.notion_request can authorize",
            method.as_str(),
            notion_rbac_core::error::shown(path)
        ))),
    }
}

/// Whether a PATCH body sets `in_trash` or `archived` (to anything: a
/// restore undoes a delete).
fn trashes(body: Option<&Value>) -> bool {
    body.and_then(Value::as_object)
        .is_some_and(|b| ["in_trash", "archived"].iter().any(|k| b.get(*k).is_some_and(|v| !v.is_null())))
}

/// The page or database a new page goes under: the one id of `parent`
/// (`{"page_id": …}` or `{"database_id": …}`, with an optional `type`
/// naming that key), as Notion reads it.
fn new_page_parent(body: Option<&Value>) -> Result<(&'static str, &str)> {
    let shape = "POST /v1/pages needs parent {\"page_id\": …} or {\"database_id\": …} (with an optional matching \"type\")";
    let parent = body
        .and_then(|b| b.get("parent"))
        .and_then(Value::as_object)
        .ok_or_else(|| refuse(shape.into()))?;
    let mut named = None;
    for (key, value) in parent {
        let entity_type = match key.as_str() {
            "type" => continue,
            "page_id" => "page",
            "database_id" => "database",
            other => {
                return Err(refuse(format!(
                    "{shape}: parent.{} is not a parent rbac.notion_request can authorize",
                    notion_rbac_core::error::shown(other)
                )));
            }
        };
        let id = value.as_str().ok_or_else(|| refuse(format!("{shape}: parent.{key} must be a string")))?;
        if named.replace((key.as_str(), entity_type, id)).is_some() {
            return Err(refuse(format!("{shape}: parent names more than one")));
        }
    }
    let (key, entity_type, id) = named.ok_or_else(|| refuse(shape.into()))?;
    match parent.get("type") {
        None => {}
        Some(Value::String(ty)) if ty == key => {}
        Some(_) => return Err(refuse(format!("{shape}: parent.type does not name parent.{key}"))),
    }
    Ok((entity_type, id))
}

/// What an error code means for the person who asked, as the seed guide
/// puts it.
pub fn explain(code: &str) -> &'static str {
    match code {
        "object_not_found" => {
            "the page or database is not shared with the integration: ask its owner to add the integration \
             under the page's ••• menu → Connections"
        }
        "restricted_resource" => "the integration lacks the capability this request needs (its settings in Notion)",
        "unauthorized" => "the workspace revoked the integration's access: authorize it again",
        "rate_limited" | "service_overload" => "Notion is rate limiting: the request was retried later",
        "validation_error" | "invalid_request" | "invalid_json" => "Notion refused the request as malformed",
        _ => "Notion refused the request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: &str = "3c0000000000400080000000000000aa";
    const PD: &str = "3c000000-0000-4000-8000-0000000000aa";

    /// Property ids are percent-encoded by Notion (`%3AT%3Bq`): they pass,
    /// and the path the client sends is the path authorized.
    #[test]
    fn property_ids_pass_as_sent() {
        for prop in ["title", "%3AT%3Bq", "a_b-c", "%7B%7D"] {
            let path = format!("/v1/pages/{P}/properties/{prop}");
            assert_eq!(target(Method::Get, &path, None).unwrap().object(), format!("page:{PD}"), "{path}");
            let url = reqwest::Url::parse(&format!("https://api.notion.com{path}")).unwrap();
            assert_eq!(url.path(), path, "the URL parser keeps the path as it is");
        }
    }

    #[test]
    fn paths_to_objects() {
        let t = |m, p: &str, b: Option<Value>| target(m, p, b.as_ref()).map(|t| (t.object(), t.action));
        assert_eq!(t(Method::Get, &format!("/v1/pages/{P}"), None).unwrap(), (format!("page:{PD}"), "read"));
        assert_eq!(t(Method::Patch, &format!("/v1/pages/{PD}"), None).unwrap(), (format!("page:{PD}"), "write"));
        assert_eq!(t(Method::Get, &format!("/v1/blocks/{PD}/children?page_size=10"), None).unwrap().1, "read");
        assert_eq!(t(Method::Delete, &format!("/v1/blocks/{PD}"), None).unwrap().1, "delete");
        assert_eq!(t(Method::Get, &format!("/v1/comments?block_id={P}"), None).unwrap().0, format!("page:{PD}"));
        assert_eq!(t(Method::Get, &format!("/v1/databases/{PD}"), None).unwrap().0, format!("database:{PD}"));
        assert_eq!(
            t(Method::Post, "/v1/pages", Some(json!({ "parent": { "database_id": P } }))).unwrap(),
            (format!("database:{PD}"), "write")
        );
        assert_eq!(
            t(Method::Post, "/v1/pages", Some(json!({ "parent": { "page_id": PD } }))).unwrap(),
            (format!("page:{PD}"), "write")
        );
        for (m, p) in [
            (Method::Get, "/v1/users"),
            (Method::Get, "/v1/pages/not-an-id"),
            (Method::Post, "/v1/search"),
            (Method::Get, "/v2/pages/x"),
            (Method::Get, "/v1/../oauth/token"),
            // What a URL parser would turn into another object's path.
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/x\\%2e%2e\\%2e%2e\\%2e%2e\\users"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/%2E%2E"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/.%2e"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/x%2fy"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/x%5cy"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/a\tb"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/a\nb"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/a%0ab"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa/properties/%zz"),
            (Method::Get, "/v1/pages/3c0000000000400080000000000000aa#/../users"),
            (Method::Get, "/v1/comments?block_id=3c0000000000400080000000000000aa#x"),
            (Method::Get, "/v1/comments?block_id=3c0000000000400080000000000000aa&x=a b"),
            (Method::Delete, "/v1/pages/3c0000000000400080000000000000aa"),
        ] {
            assert!(target(m, p, None).is_err(), "{p}");
        }
        assert!(target(Method::Post, "/v1/pages", Some(&json!({ "parent": { "workspace": true } }))).is_err());
    }

    /// Notion follows a parent's `type`: a parent whose keys could be read
    /// two ways is refused, not authorized for the harmless reading.
    #[test]
    fn a_new_pages_parent_is_read_one_way_only() {
        let t = |b: Value| target(Method::Post, "/v1/pages", Some(&b)).map(|t| (t.object(), t.action));
        assert_eq!(t(json!({ "parent": { "type": "page_id", "page_id": P } })).unwrap(), (format!("page:{PD}"), "write"));
        assert_eq!(
            t(json!({ "parent": { "type": "database_id", "database_id": P } })).unwrap(),
            (format!("database:{PD}"), "write")
        );
        for body in [
            json!({ "parent": { "type": "database_id", "database_id": P, "page_id": PD } }),
            json!({ "parent": { "database_id": P, "page_id": PD } }),
            json!({ "parent": { "type": "data_source_id", "data_source_id": P, "page_id": PD } }),
            json!({ "parent": { "data_source_id": P } }),
            json!({ "parent": { "type": "database_id", "page_id": PD } }),
            json!({ "parent": { "type": 7, "page_id": PD } }),
            json!({ "parent": { "page_id": 7 } }),
            json!({ "parent": "page" }),
            json!({ "parent": {} }),
            json!({}),
        ] {
            let err = t(body.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{body}");
            assert!(err.message.starts_with("POST /v1/pages needs parent"), "{body}: {}", err.message);
        }
    }

    /// Trashing or restoring through PATCH needs what DELETE needs.
    #[test]
    fn trashing_by_patch_needs_delete() {
        let t = |p: String, b: Value| target(Method::Patch, &p, Some(&b)).unwrap().action;
        for path in [format!("/v1/pages/{P}"), format!("/v1/blocks/{P}"), format!("/v1/databases/{P}")] {
            assert_eq!(t(path.clone(), json!({ "properties": {} })), "write", "{path}");
            for key in ["in_trash", "archived"] {
                assert_eq!(t(path.clone(), json!({ key: true })), "delete", "{path} {key}");
                assert_eq!(t(path.clone(), json!({ key: false, "properties": {} })), "delete", "{path} {key}: a restore");
            }
            assert_eq!(t(path.clone(), json!({ "in_trash": null })), "write", "{path}: null sets nothing");
        }
        // Appending children trashes nothing, whatever its blocks say.
        assert_eq!(t(format!("/v1/blocks/{P}/children"), json!({ "children": [{ "archived": true }] })), "write");
    }

    /// A parameter the target comes from is read once: Notion might read
    /// another copy of it than the one authorized.
    #[test]
    fn a_repeated_block_id_is_refused() {
        let err = target(Method::Get, &format!("/v1/comments?block_id={P}&block_id={PD}"), None).unwrap_err();
        assert!(err.message.contains("more than once"), "{}", err.message);
        assert!(target(Method::Get, &format!("/v1/comments?page_size=5&block_id={P}"), None).is_ok());
    }

    #[test]
    fn explanations() {
        assert!(explain("object_not_found").contains("Connections"));
        assert!(explain("unauthorized").contains("authorize"));
        assert!(explain("restricted_resource").contains("capability"));
    }
}
