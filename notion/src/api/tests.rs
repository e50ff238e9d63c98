use std::time::{Duration, SystemTime};

use super::*;

fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Response {
    Response { status, retry_after: retry_after.map(str::to_owned), request_id: None, body: body.as_bytes().to_vec() }
}

fn class(status: u16, body: &str) -> ErrorClass {
    describe_error(&answer(status, None, body), SystemTime::now()).class
}

#[test]
fn classes_from_status_and_code() {
    let env = |status: u16, code: &str| {
        format!(r#"{{"object":"error","status":{status},"code":"{code}","message":"m","request_id":"r"}}"#)
    };
    assert_eq!(class(401, &env(401, "unauthorized")), ErrorClass::Unauthorized);
    assert_eq!(class(404, &env(404, "object_not_found")), ErrorClass::NotFound);
    assert_eq!(class(403, &env(403, "restricted_resource")), ErrorClass::Restricted);
    assert_eq!(class(429, &env(429, "rate_limited")), ErrorClass::Throttled);
    assert_eq!(class(529, &env(529, "service_overload")), ErrorClass::Throttled);
    assert_eq!(class(409, &env(409, "conflict_error")), ErrorClass::Transient);
    assert_eq!(class(503, &env(503, "service_unavailable")), ErrorClass::Transient);
    assert_eq!(class(502, "<html><body>Bad gateway</body></html>"), ErrorClass::Transient);
    assert_eq!(class(400, &env(400, "validation_error")), ErrorClass::Invalid);
    assert_eq!(class(400, r#"{"error":"invalid_grant","error_description":"Invalid code."}"#), ErrorClass::Invalid);
    assert_eq!(class(401, r#"{"error":"invalid_client"}"#), ErrorClass::Unauthorized);
}

#[test]
fn described_without_body() {
    let e = describe_error(&answer(502, None, "<html>secret-ish page</html>"), SystemTime::now());
    assert_eq!(e.code, None);
    assert_eq!(e.to_string(), "HTTP 502 without a Notion error body");
    let e = describe_error(
        &answer(400, None, r#"{"error":"invalid_grant","error_description":"Invalid code.\nx"}"#),
        SystemTime::now(),
    );
    assert_eq!(e.to_string(), "HTTP 400 invalid_grant: Invalid code. x");
}

#[test]
fn retry_after_header_or_body() {
    let now = SystemTime::now();
    let e = describe_error(&answer(429, Some("3"), r#"{"code":"rate_limited"}"#), now);
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    let e = describe_error(
        &answer(429, None, r#"{"code":"rate_limited","additional_data":{"retry_after":9}}"#),
        now,
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(9)));
}

#[test]
fn endpoint_checks_and_builds() {
    assert!(Endpoint::new("https://api.notion.com/", "2025-09-03").is_ok());
    assert!(Endpoint::new("http://evil.example", "2025-09-03").is_err());
    assert!(Endpoint::new("https://api.notion.com", "latest").is_err());
    let ep = Endpoint::new("http://127.0.0.1:9", "2026-03-11").unwrap();
    let r = ep.bearer(Method::Get, USERS_ME_PATH, &SecretString::new("t0k".into()), None);
    assert_eq!(r.url, "http://127.0.0.1:9/v1/users/me");
    let names: Vec<_> = r.headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["Authorization", "Notion-Version", "Accept"]);
    assert_eq!(r.headers[0].1.expose_secret(), "Bearer t0k");
    assert_eq!(r.headers[1].1.expose_secret(), "2026-03-11");
    let body = token_body(&SecretString::new("t\"0k".into()));
    assert_eq!(&body[..], br#"{"token":"t\"0k"}"#);
}

#[test]
fn bot_info() {
    let info = parse_bot_info(
        br#"{"object":"user","id":"b1","name":"Acme bot","type":"bot","bot":{"owner":{"type":"workspace","workspace":true},"workspace_name":"Acme","workspace_id":"w1"}}"#,
    )
    .unwrap();
    assert_eq!(info.id, "b1");
    assert_eq!(info.workspace_name.as_deref(), Some("Acme"));
    assert!(parse_bot_info(b"{}").is_err());
    assert!(parse_bot_info(b"<html>").is_err());
}
