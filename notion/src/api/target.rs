//! Permission-aware Notion requests: which object of the model a request
//! names, which action it needs, and what Notion's error codes mean for the
//! person who asked (the seed guide's ObjectNotFound / RestrictedResource /
//! Unauthorized).
//!
//! | request | object | action |
//! | --- | --- | --- |
//! | `GET /v1/pages/{id}` (and `/properties/{p}`) | `page:{id}` | read |
//! | `PATCH /v1/pages/{id}` | `page:{id}` | write |
//! | `GET /v1/blocks/{id}`, `GET /v1/blocks/{id}/children` | `page:{id}` | read |
//! | `PATCH /v1/blocks/{id}`, `PATCH /v1/blocks/{id}/children` | `page:{id}` | write |
//! | `DELETE /v1/blocks/{id}` | `page:{id}` | delete |
//! | `GET /v1/comments?block_id={id}` | `page:{id}` | read |
//! | `GET /v1/databases/{id}` | `database:{id}` | read |
//! | `PATCH /v1/databases/{id}` | `database:{id}` | write |
//! | `POST /v1/pages` with `parent.page_id` / `parent.database_id` | that page / database | write |
//!
//! Blocks are addressed by the page they are (a page is a block with the
//! page's id); a block inside a page is not an object of the model, so it
//! is refused rather than guessed at.

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

/// The object and action a request needs. `path` may carry a query.
pub fn target(method: Method, path: &str, body: Option<&Value>) -> Result<Target> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.contains("..") || !path.starts_with("/v1/") {
        return Err(refuse("the path must start with /v1/".into()));
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let t = |entity_type, raw: &str, action| -> Result<Target> { Ok(Target { entity_type, id: id(raw, "the id")?, action }) };
    match (method, parts.as_slice()) {
        (Method::Get, ["pages", p]) | (Method::Get, ["pages", p, "properties", _]) => t("page", p, "read"),
        (Method::Patch, ["pages", p]) => t("page", p, "write"),
        (Method::Get, ["blocks", b]) | (Method::Get, ["blocks", b, "children"]) => t("page", b, "read"),
        (Method::Patch, ["blocks", b]) | (Method::Patch, ["blocks", b, "children"]) => t("page", b, "write"),
        (Method::Delete, ["blocks", b]) => t("page", b, "delete"),
        (Method::Get, ["databases", d]) => t("database", d, "read"),
        (Method::Patch, ["databases", d]) => t("database", d, "write"),
        (Method::Get, ["comments"]) => {
            let block = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "block_id")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| refuse("GET /v1/comments needs block_id".into()))?;
            t("page", &block, "read")
        }
        (Method::Post, ["pages"]) => {
            let parent = body.and_then(|b| b.get("parent"));
            let s = |k: &str| parent.and_then(|p| p.get(k)).and_then(Value::as_str);
            match (s("page_id"), s("database_id")) {
                (Some(p), _) => t("page", p, "write"),
                (None, Some(d)) => t("database", d, "write"),
                _ => Err(refuse("POST /v1/pages needs parent.page_id or parent.database_id".into())),
            }
        }
        _ => Err(refuse(format!(
            "{} {} is not a request rbac.notion_request can authorize",
            method.as_str(),
            notion_rbac_core::error::shown(path)
        ))),
    }
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
            (Method::Delete, "/v1/pages/3c0000000000400080000000000000aa"),
        ] {
            assert!(target(m, p, None).is_err(), "{p}");
        }
        assert!(target(Method::Post, "/v1/pages", Some(&json!({ "parent": { "workspace": true } }))).is_err());
    }

    #[test]
    fn explanations() {
        assert!(explain("object_not_found").contains("Connections"));
        assert!(explain("unauthorized").contains("authorize"));
        assert!(explain("restricted_resource").contains("capability"));
    }
}
