//! Tests of the OAuth helpers: URL building and encoding, state handling,
//! callbacks, token requests, both error shapes, and redaction.

use super::*;
use crate::ErrorKind;

const SECRET: &str = "secret_NOTION_TOKEN_xyz";
const REFRESH: &str = "nrt_REFRESH_SECRET_abc";
const CLIENT_SECRET: &str = "CLIENT_SECRET_do_not_log";

fn state() -> String {
    new_state().unwrap()
}

fn assert_no_secret(text: &str) {
    for needle in [SECRET, REFRESH, CLIENT_SECRET, "c2VjcmV0X05PVElPTl9UT0tFTl94eXo"] {
        assert!(!text.contains(needle), "leaked {needle:?} in: {text}");
    }
}

// --- authorization URL ------------------------------------------------------

#[test]
fn authorization_url_has_the_documented_shape() {
    let s = state();
    let url = authorization_url(
        "https://api.notion.com",
        "463558a3-725e-4f37-b6d3-0889894f68de",
        "https://example.com/auth/notion/callback",
        "user",
        &s,
    )
    .unwrap();
    assert_eq!(
        url,
        format!(
            "https://api.notion.com/v1/oauth/authorize?client_id=463558a3-725e-4f37-b6d3-0889894f68de\
             &response_type=code&owner=user\
             &redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fnotion%2Fcallback&state={s}"
        )
    );
}

#[test]
fn authorization_url_percent_encodes_everything_that_needs_it() {
    let s = state();
    let url = authorization_url(
        "http://localhost:8080/",
        "id with spaces&x=1",
        "https://example.com/cb?next=/x#top",
        "user",
        &s,
    );
    // A fragment is not allowed in a redirect URI.
    assert!(url.unwrap_err().message.contains("fragment"));
    let url = authorization_url(
        "http://localhost:8080/",
        "id with spaces&x=1",
        "https://example.com/cb?tenant=a%20b&next=/x&é=ü",
        "user",
        &s,
    )
    .unwrap();
    assert_eq!(
        url,
        format!(
            "http://localhost:8080/v1/oauth/authorize?client_id=id+with+spaces%26x%3D1&response_type=code\
             &owner=user&redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Ftenant%3Da%2520b%26next%3D%2Fx%26%C3%A9%3D%C3%BC\
             &state={s}"
        )
    );
    // Decoding the query gives back exactly the inputs.
    let query = url.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(
        pairs,
        [
            ("client_id".into(), "id with spaces&x=1".into()),
            ("response_type".into(), "code".into()),
            ("owner".into(), "user".into()),
            ("redirect_uri".into(), "https://example.com/cb?tenant=a%20b&next=/x&é=ü".into()),
            ("state".into(), s.clone()),
        ]
    );
}

#[test]
fn authorization_url_refuses_bad_inputs() {
    let s = state();
    let ok_redirect = "https://example.com/cb";
    let cases: Vec<(Result<String>, &str)> = vec![
        (authorization_url("https://api.notion.com", "", ok_redirect, "user", &s), "client_id"),
        (authorization_url("https://api.notion.com", "id", ok_redirect, "workspace", &s), "owner=user only"),
        (authorization_url("https://api.notion.com", "id", ok_redirect, "user", "short"), "invalid OAuth state"),
        (authorization_url("https://api.notion.com", "id", "", "user", &s), "redirect_uri: it is empty"),
        (authorization_url("https://api.notion.com", "id", "/relative", "user", &s), "absolute https://"),
        (authorization_url("https://api.notion.com", "id", "http://example.com/cb", "user", &s), "must use https://"),
        (authorization_url("https://api.notion.com", "id", "https://ex ample.com", "user", &s), "whitespace"),
        (authorization_url("https://api.notion.com", "id", "https://u@example.com/", "user", &s), "user info"),
        (authorization_url("http://api.notion.com", "id", ok_redirect, "user", &s), "only for localhost"),
    ];
    for (result, want) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains(want), "{:?} lacks {want:?}", err.message);
    }
    // Loopback http redirect URIs are fine for local development.
    assert!(authorization_url("https://api.notion.com", "id", "http://localhost:3000/cb", "user", &s).is_ok());
    assert!(authorization_url("https://api.notion.com", "id", "http://127.0.0.1/cb", "user", &s).is_ok());
}

// --- state ---------------------------------------------------------------

#[test]
fn states_are_random_url_safe_and_long_enough() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let s = state();
        assert_eq!(s.len(), STATE_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(is_well_formed_state(&s));
        assert!(seen.insert(s));
    }
    const { assert!(STATE_BYTES * 8 >= 128) };
    for bad in ["", "abc", &"A".repeat(42), &"A".repeat(44), &format!("{}=", "A".repeat(42)), &"+".repeat(43)] {
        assert!(!is_well_formed_state(bad), "{bad}");
    }
}

#[test]
fn state_hash_is_sha256_hex() {
    assert_eq!(hash_state("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(hash_state(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let s = state();
    let h = hash_state(&s);
    assert_eq!(h.len(), 64);
    assert!(!h.contains(&s));
    assert_eq!(h, hash_state(&s));
}

#[test]
fn verify_state_accepts_a_fresh_unused_state() {
    let s = state();
    let stored = StoredState { created_at: 1_000, consumed: false, owner: "alice".into() };
    verify_state(&s, Some(&stored), 1_000, None).unwrap();
    verify_state(&s, Some(&stored), 1_599, Some("alice")).unwrap();
    assert_eq!(state_expires_at(1_000), 1_600);
}

#[test]
fn verify_state_refuses_unknown_expired_replayed_and_mismatched() {
    let s = state();
    let fresh = StoredState { created_at: 1_000, consumed: false, owner: "alice".into() };
    let used = StoredState { consumed: true, ..fresh.clone() };
    let cases: Vec<(Result<()>, &str)> = vec![
        (
            verify_state("not-a-state", Some(&fresh), 1_000, None),
            "OAuth state mismatch: the state is not a value issued",
        ),
        (verify_state(&s, None, 1_000, None), "OAuth state mismatch: unknown state"),
        (verify_state(&s, Some(&used), 1_001, None), "OAuth state already used"),
        (verify_state(&s, Some(&used), 9_999, None), "OAuth state already used"),
        (
            verify_state(&s, Some(&fresh), 1_600, None),
            "OAuth state expired 0 seconds ago: states are valid for 10 minutes",
        ),
        (verify_state(&s, Some(&fresh), 1_700, None), "OAuth state expired 100 seconds ago"),
        (
            verify_state(&s, Some(&fresh), 1_001, Some("mallory")),
            "OAuth state mismatch: the state was issued for a different owner",
        ),
    ];
    for (result, want) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.starts_with(want), "{:?} does not start with {want:?}", err.message);
        assert!(!err.message.contains(&s) && !err.message.contains("mallory") && !err.message.contains("alice"));
        assert!(err.hint.unwrap().contains("rbac.oauth_start()"));
    }
}

// --- callback --------------------------------------------------------------

#[test]
fn callbacks_are_classified() {
    match classify_callback(Some(SECRET), None).unwrap() {
        CallbackOutcome::Code(c) => assert_eq!(c.expose_secret(), SECRET),
        other => panic!("{other:?}"),
    }
    assert_eq!(classify_callback(None, Some("access_denied")).unwrap(), CallbackOutcome::Denied);
    assert_eq!(classify_callback(Some(""), Some("access_denied")).unwrap(), CallbackOutcome::Denied);
    assert_eq!(
        classify_callback(None, Some("server_error")).unwrap(),
        CallbackOutcome::Failed { error: "server_error".into() }
    );
    for (code, error, want) in [
        (Some(SECRET), Some("access_denied"), "both a code and an error"),
        (None, None, "neither a code nor an error"),
        (Some(""), Some(""), "neither a code nor an error"),
        (None, Some("<script>"), "error parameter is malformed"),
        (Some("has space"), None, "code is malformed"),
    ] {
        let err = classify_callback(code, error).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains(want), "{}", err.message);
        assert_no_secret(&format!("{err} {err:?}"));
    }
    let outcome = classify_callback(Some(SECRET), None).unwrap();
    assert_eq!(format!("{outcome:?}"), "Code(<redacted>)");
}

// --- token requests ----------------------------------------------------------

fn creds() -> ClientCredentials {
    ClientCredentials::new("client-1", SecretString::new(CLIENT_SECRET.into())).unwrap()
}

#[test]
fn basic_auth_header_matches_rfc_7617() {
    assert_eq!(
        basic_auth_header("Aladdin", "open sesame").unwrap().expose_secret(),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert!(basic_auth_header("a:b", "s").unwrap_err().message.contains("':'"));
    assert!(basic_auth_header("", "s").is_err());
    assert!(basic_auth_header("a", "").is_err());
}

#[test]
fn request_bodies_are_the_documented_json() {
    let body = authorization_code_body("code-1", Some("https://example.com/cb")).unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"grant_type":"authorization_code","code":"code-1","redirect_uri":"https://example.com/cb"}"#
    );
    let body = authorization_code_body("c\"\\\u{1}", None).unwrap();
    assert_eq!(std::str::from_utf8(&body).unwrap(), r#"{"grant_type":"authorization_code","code":"c\"\\\u0001"}"#);
    let body = refresh_token_body(REFRESH).unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        format!(r#"{{"grant_type":"refresh_token","refresh_token":"{REFRESH}"}}"#)
    );
    assert!(authorization_code_body("", None).is_err());
    assert!(refresh_token_body("").is_err());
}

#[test]
fn token_requests_carry_url_headers_and_body_and_redact_in_debug() {
    let code = SecretString::new(SECRET.into());
    let req =
        TokenRequest::authorization_code("https://api.notion.com/", &creds(), &code, Some("https://example.com/cb"))
            .unwrap();
    assert_eq!(req.url(), "https://api.notion.com/v1/oauth/token");
    let headers = req.headers();
    assert_eq!(headers[0].0, "Authorization");
    assert!(headers[0].1.starts_with("Basic "));
    assert_eq!(headers[1], ("Content-Type", "application/json"));
    assert_eq!(headers[2], ("Notion-Version", crate::NOTION_VERSION));
    assert!(std::str::from_utf8(req.body()).unwrap().contains(SECRET));
    let debug = format!("{req:?} {:?}", creds());
    assert_no_secret(&debug);
    assert!(!debug.contains(headers[0].1));
    assert!(debug.contains("client-1"));

    let refresh = SecretString::new(REFRESH.into());
    let req = TokenRequest::refresh("http://127.0.0.1:9999", &creds(), &refresh).unwrap();
    assert_eq!(req.url(), "http://127.0.0.1:9999/v1/oauth/token");
    assert!(std::str::from_utf8(req.body()).unwrap().contains(r#""grant_type":"refresh_token""#));
    assert_no_secret(&format!("{req:?}"));
    assert!(TokenRequest::refresh("http://example.com", &creds(), &refresh).is_err());
}

// --- token responses ---------------------------------------------------------

fn full_response() -> String {
    format!(
        r#"{{
          "access_token": "{SECRET}",
          "token_type": "bearer",
          "refresh_token": "{REFRESH}",
          "bot_id": "b7d2c1e0-0000-4000-8000-000000000001",
          "workspace_name": "Acme",
          "workspace_icon": "🏢",
          "workspace_id": "9a1b2c3d-0000-4000-8000-000000000002",
          "owner": {{
            "type": "user",
            "user": {{
              "object": "user",
              "id": "u-1",
              "name": "Ada",
              "avatar_url": null,
              "type": "person",
              "person": {{ "email": "ada@example.com" }}
            }}
          }},
          "duplicated_template_id": null,
          "request_id": "req-1",
          "some_future_field": {{ "nested": [1, 2, 3] }}
        }}"#
    )
}

#[test]
fn full_token_response_parses() {
    let r = parse_token_response(200, full_response().as_bytes()).unwrap();
    assert_eq!(r.access_token.expose_secret(), SECRET);
    assert_eq!(r.refresh_token.as_ref().unwrap().expose_secret(), REFRESH);
    assert_eq!(r.token_type.as_deref(), Some("bearer"));
    assert_eq!(r.bot_id, "b7d2c1e0-0000-4000-8000-000000000001");
    assert_eq!(r.workspace_id, "9a1b2c3d-0000-4000-8000-000000000002");
    assert_eq!(r.workspace_name.as_deref(), Some("Acme"));
    assert_eq!(r.workspace_icon.as_deref(), Some("🏢"));
    assert_eq!(r.duplicated_template_id, None);
    assert_eq!(r.request_id.as_deref(), Some("req-1"));
    assert_eq!(r.expires_in, None);
    assert_eq!(r.owner.user_id(), Some("u-1"));
    match &r.owner {
        Owner::User { user } => {
            assert_eq!(user.name.as_deref(), Some("Ada"));
            assert_eq!(user.user_type.as_deref(), Some("person"));
            assert_eq!(user.person.as_ref().unwrap().email.as_deref(), Some("ada@example.com"));
            assert_eq!(user.avatar_url, None);
        }
        other => panic!("{other:?}"),
    }
    let debug = format!("{r:?}");
    assert_no_secret(&debug);
    assert!(debug.contains("access_token: \"<redacted>\"") && debug.contains("refresh_token: Some(\"<redacted>\")"));
}

#[test]
fn minimal_and_variant_token_responses_parse() {
    // Minimal: no refresh token, nulls, workspace owner, expires_in present.
    let body = format!(
        r#"{{"access_token":"{SECRET}","bot_id":"b","workspace_id":"w","workspace_name":null,
            "workspace_icon":null,"refresh_token":null,"owner":{{"type":"workspace","workspace":true}},
            "expires_in":3600}}"#
    );
    let r = parse_token_response(200, body.as_bytes()).unwrap();
    assert!(r.refresh_token.is_none());
    assert_eq!(r.owner, Owner::Workspace { workspace: true });
    assert_eq!(r.owner.user_id(), None);
    assert_eq!(r.expires_in, Some(3600));
    assert_eq!(r.token_type, None);

    // Partial user, unknown owner type, odd-typed descriptive fields, an
    // empty refresh token, expires_in as a string.
    let body = format!(
        r#"{{"access_token":"{SECRET}","bot_id":"b","workspace_id":"w","refresh_token":"",
            "owner":{{"type":"user","user":{{"object":"user","id":"u-2"}}}},
            "workspace_icon":{{"type":"emoji"}},"workspace_name":7,"expires_in":"60","token_type":"Bearer"}}"#
    );
    let r = parse_token_response(201, body.as_bytes()).unwrap();
    assert!(r.refresh_token.is_none());
    assert_eq!(r.owner.user_id(), Some("u-2"));
    assert_eq!((r.workspace_icon, r.workspace_name, r.expires_in), (None, None, Some(60)));

    for owner in [r#"{"type":"bot"}"#, "null", r#"{"type":"user"}"#, r#""user""#] {
        let body = format!(r#"{{"access_token":"{SECRET}","bot_id":"b","workspace_id":"w","owner":{owner}}}"#);
        assert_eq!(parse_token_response(200, body.as_bytes()).unwrap().owner, Owner::Unknown, "{owner}");
    }
}

#[test]
fn rfc6749_error_shape_is_parsed() {
    let e = parse_token_response(400, br#"{"error":"invalid_grant","error_description":"Invalid code."}"#).unwrap_err();
    assert_eq!(
        e,
        OauthError::Rejected {
            status: 400,
            code: OauthErrorCode::InvalidGrant,
            description: Some("Invalid code.".into()),
            request_id: None
        }
    );
    assert_eq!(e.disposition(), Disposition::Reauthorize);
    assert_eq!(e.to_string(), "Notion's token endpoint refused the request (HTTP 400, invalid_grant): Invalid code.");

    let e = parse_token_response(401, br#"{"error":"invalid_client"}"#).unwrap_err();
    assert_eq!(e.code(), Some(&OauthErrorCode::InvalidClient));
    assert_eq!(e.disposition(), Disposition::FixConfiguration);
    assert_eq!(e.to_string(), "Notion's token endpoint refused the request (HTTP 401, invalid_client)");

    let e = parse_token_response(400, br#"{"error":"invalid_request"}"#).unwrap_err();
    assert_eq!((e.code(), e.status()), (Some(&OauthErrorCode::InvalidRequest), 400));
}

#[test]
fn notion_envelope_error_shape_is_parsed() {
    let body = br#"{"object":"error","status":400,"code":"invalid_grant",
        "message":"Invalid code: this code has been revoked.","request_id":"5f6b8c2a-0000-4000-8000-000000000003"}"#;
    let e = parse_token_response(400, body).unwrap_err();
    assert_eq!(
        e,
        OauthError::Rejected {
            status: 400,
            code: OauthErrorCode::InvalidGrant,
            description: Some("Invalid code: this code has been revoked.".into()),
            request_id: Some("5f6b8c2a-0000-4000-8000-000000000003".into()),
        }
    );
    let body = br#"{"object":"error","status":400,"code":"invalid_request","message":"bad","additional_data":{"x":1}}"#;
    assert_eq!(parse_token_response(400, body).unwrap_err().code(), Some(&OauthErrorCode::InvalidRequest));

    let body = br#"{"object":"error","status":429,"code":"rate_limited","message":"slow down"}"#;
    let e = parse_token_response(429, body).unwrap_err();
    assert_eq!((e.code(), e.disposition()), (Some(&OauthErrorCode::RateLimited), Disposition::Retry));
}

#[test]
fn unknown_codes_are_kept_as_text_and_sanitized() {
    let e = parse_token_response(400, br#"{"error":"unsupported_grant_type"}"#).unwrap_err();
    assert_eq!(e.code(), Some(&OauthErrorCode::UnsupportedGrantType));
    let e = parse_token_response(400, br#"{"error":"brand_new_code"}"#).unwrap_err();
    assert_eq!(e.code(), Some(&OauthErrorCode::Other("brand_new_code".into())));
    assert_eq!(e.code().unwrap().as_str(), "brand_new_code");
    assert_eq!(e.disposition(), Disposition::Fail);
    let e =
        parse_token_response(503, br#"{"object":"error","code":"service_unavailable","message":"a\nb"}"#).unwrap_err();
    assert_eq!(e.disposition(), Disposition::Retry);
    assert!(matches!(&e, OauthError::Rejected { description: Some(d), .. } if d == "a b"));
    let e = parse_token_response(400, br#"{"error":"we<ird> code!"}"#).unwrap_err();
    assert_eq!(e.code().unwrap().as_str(), "weirdcode");
}

#[test]
fn non_oauth_bodies_become_http_or_malformed_errors() {
    let e = parse_token_response(502, b"<html><body>Bad Gateway</body></html>").unwrap_err();
    assert_eq!(e, OauthError::Http { status: 502 });
    assert_eq!(e.disposition(), Disposition::Retry);
    assert_eq!(e.to_string(), "Notion's token endpoint answered HTTP 502 without an OAuth error body");
    assert_eq!(parse_token_response(404, b"{}").unwrap_err().disposition(), Disposition::Fail);
    assert_eq!(parse_token_response(529, b"").unwrap_err().disposition(), Disposition::Retry);

    // 200 with an error body is still an error.
    let e = parse_token_response(200, br#"{"error":"invalid_grant"}"#).unwrap_err();
    assert_eq!(e.code(), Some(&OauthErrorCode::InvalidGrant));

    let cases: [(&[u8], &str); 6] = [
        (b"not json", "not valid JSON (line 1, column 2)"),
        (br#"{"access_token":"x""#, "truncated JSON"),
        (br#"{"access_token":"x","workspace_id":"w"}"#, "missing field bot_id"),
        (br#"{"access_token":"","bot_id":"b","workspace_id":"w"}"#, "access_token is empty"),
        (br#"{"access_token":"x","bot_id":"","workspace_id":"w"}"#, "bot_id is empty"),
        (br#"{"access_token":"x","bot_id":"b","workspace_id":"w","token_type":"mac"}"#, "token_type is not bearer"),
    ];
    for (body, want) in cases {
        match parse_token_response(200, body).unwrap_err() {
            OauthError::Malformed { status: 200, reason } => assert!(reason.starts_with(want), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn malformed_responses_never_quote_token_values() {
    // serde_json's own messages would quote these values.
    let bodies = [
        format!(r#"{{"access_token":"x","bot_id":"{SECRET}","workspace_id":["{REFRESH}"]}}"#),
        format!(r#"{{"access_token":["{SECRET}"],"bot_id":"b","workspace_id":"w"}}"#),
        format!(r#"{{"access_token":"{SECRET}","refresh_token":{{"v":"{REFRESH}"}},"bot_id":"b","workspace_id":"w"}}"#),
        format!(r#"{{"access_token":"{SECRET}","bot_id":1,"workspace_id":"w"}}"#),
        format!(r#"{{"access_token":"{SECRET}","bot_id":"b","workspace_id":"w","token_type":"{REFRESH}"}}"#),
        format!(r#"{{"access_token":"{SECRET}" "bot_id"}}"#),
        SECRET.to_owned(),
    ];
    for body in &bodies {
        for status in [200, 400, 500] {
            let e = parse_token_response(status, body.as_bytes()).unwrap_err();
            assert_no_secret(&format!("{e} | {e:?}"));
        }
    }
}

#[test]
fn only_registered_redirect_uris_are_used() {
    let registered = vec!["https://app.example.com/cb".to_string(), "http://localhost:3000/cb".to_string()];
    validate_redirect_uris(&registered).unwrap();
    assert_eq!(choose_redirect_uri(&registered, None).unwrap(), "https://app.example.com/cb");
    assert_eq!(choose_redirect_uri(&registered, Some("http://localhost:3000/cb")).unwrap(), "http://localhost:3000/cb");
    for other in ["https://evil.example.com/cb", "https://app.example.com/cb/", "https://APP.example.com/cb"] {
        let e = choose_redirect_uri(&registered, Some(other)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(!e.message.contains("evil") && !e.message.contains("APP"), "{e}");
        assert!(e.hint.is_some());
    }
    assert!(choose_redirect_uri(&[], None).is_err());
    assert!(validate_redirect_uris(&[]).is_err());
    let dup = vec!["https://a.example/cb".to_string(), "https://a.example/cb".to_string()];
    assert!(validate_redirect_uris(&dup).unwrap_err().message.contains("repeats"));
    let bad = vec!["https://a.example/cb".to_string(), "ftp://a.example".to_string()];
    assert!(validate_redirect_uris(&bad).unwrap_err().message.starts_with("redirect URI 2:"));
    let many: Vec<String> = (0..=MAX_REDIRECT_URIS).map(|i| format!("https://a.example/{i}")).collect();
    assert!(validate_redirect_uris(&many).is_err());
}
