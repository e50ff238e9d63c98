//! The transport against a one-shot TCP server on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;

/// Serves one connection: reads the request head (and a small body), waits
/// `delay`, writes `response` verbatim. Returns the base URL and a handle
/// yielding the request bytes.
fn serve_once(response: Vec<u8>, delay: Duration) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(delay);
        let _ = s.write_all(&response);
        seen
    });
    (url, handle)
}

fn request(url: &str, body: Option<&[u8]>) -> Request {
    Request {
        method: if body.is_some() { Method::Post } else { Method::Get },
        url: format!("{url}/v1/users/me"),
        headers: vec![("Authorization", SecretString::new("Bearer sekrit".into()))],
        body: body.map(|b| Zeroizing::new(b.to_vec())),
    }
}

fn transport() -> Transport {
    Transport::new("notion_rbac-test", Duration::from_secs(2)).unwrap()
}

#[test]
fn reads_status_headers_and_body() {
    let (url, server) = serve_once(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nx-notion-request-id: abc\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        Duration::ZERO,
    );
    let r = transport().send(&request(&url, Some(b"{\"a\":1}")), Duration::from_secs(5), &|| false).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.retry_after.as_deref(), Some("7"));
    assert_eq!(r.request_id.as_deref(), Some("abc"));
    assert_eq!(r.body, b"{}");
    let seen = String::from_utf8(server.join().unwrap()).unwrap();
    assert!(seen.starts_with("POST /v1/users/me HTTP/1.1"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains("authorization: bearer sekrit"), "{seen}");
    assert!(seen.ends_with("{\"a\":1}"), "{seen}");
}

#[test]
fn times_out() {
    let (url, _server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(), Duration::from_secs(3));
    let started = Instant::now();
    let err = transport().send(&request(&url, None), Duration::from_millis(800), &|| false).unwrap_err();
    assert_eq!(err, TransportError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn stops_when_asked() {
    let (url, _server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(), Duration::from_secs(3));
    let started = Instant::now();
    let stop_at = started + Duration::from_millis(400);
    let err = transport().send(&request(&url, None), Duration::from_secs(30), &|| Instant::now() > stop_at).unwrap_err();
    assert_eq!(err, TransportError::Stopped);
    assert!(started.elapsed() < Duration::from_millis(1200), "{:?}", started.elapsed());
}

#[test]
fn refuses_huge_bodies() {
    let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 10).into_bytes();
    response.resize(response.len() + MAX_BODY_BYTES + 10, b'x');
    let (url, _server) = serve_once(response, Duration::ZERO);
    let err = transport().send(&request(&url, None), Duration::from_secs(20), &|| false).unwrap_err();
    assert_eq!(err, TransportError::TooLarge);
}

#[test]
fn connect_refused() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = transport()
        .send(&request(&format!("http://127.0.0.1:{port}"), None), Duration::from_secs(5), &|| false)
        .unwrap_err();
    assert_eq!(err, TransportError::Connect);
    assert!(!err.to_string().contains("127.0.0.1"), "no URL in errors: {err}");
}

#[test]
fn debug_hides_secrets() {
    let r = request("http://localhost:1", Some(b"{\"code\":\"c0de\"}"));
    let shown = format!("{r:?}");
    assert!(!shown.contains("sekrit") && !shown.contains("c0de"), "{shown}");
}

/// A response's body (a token endpoint's answer holds the tokens) is shown
/// by its length only.
#[test]
fn debug_hides_response_bodies() {
    let r = Response {
        status: 200,
        retry_after: None,
        request_id: Some("req-1".into()),
        body: b"{\"access_token\":\"secret_abc\"}".to_vec(),
    };
    let shown = format!("{r:?}");
    assert!(!shown.contains("secret_abc") && shown.contains("<29 bytes>") && shown.contains("req-1"), "{shown}");
}
