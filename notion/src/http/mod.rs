//! The worker's HTTP transport: one request at a time, bounded in time and
//! size, stoppable, and safe to run inside a PostgreSQL process.
//!
//! Why it looks like this (docs/pgrx-notes.md §3.3):
//! - PostgreSQL code may run only on the process's main thread, and a
//!   signal delivered to another thread would run PostgreSQL's handler
//!   there. So the tokio runtime is current-thread (futures are polled on
//!   the caller's thread) and every helper thread it starts (the blocking
//!   pool that resolves host names) blocks all signals first.
//! - `block_on` does not watch the worker's latch. Every request has a
//!   connect timeout and a total timeout, and the caller's `should_stop` is
//!   polled every 100 ms while the request is in flight, so SIGTERM is
//!   honoured within a tenth of a second.
//! - Nothing here logs, and errors describe what failed (connect, timeout,
//!   body too large) without URLs, headers or bodies: requests carry
//!   secrets in headers and bodies.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::token::SecretString;

pub mod retry;

/// Largest response body read; a larger one is an error (a misbehaving
/// server must not exhaust the worker's memory).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How often `should_stop` is polled while a request is in flight.
const STOP_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses a method name (any case).
    pub fn parse(name: &str) -> Option<Method> {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    /// GET and DELETE may be repeated without changing anything twice.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Delete)
    }
}

/// A request ready to send. Header values are secrets (Authorization);
/// the body may be one too (codes, refresh tokens).
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, SecretString)>,
    pub body: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>())
            .field("body", &self.body.as_ref().map(|b| format!("<{} bytes>", b.len())))
            .finish()
    }
}

/// What came back: status, the headers the client acts on, and the body.
/// (Its `Debug` shows the body's length only: a token endpoint's answer
/// holds the tokens.)
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// `x-notion-request-id`: absent on answers from Notion's edge proxy.
    pub request_id: Option<String>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("retry_after", &self.retry_after)
            .field("request_id", &self.request_id)
            .field("body", &format!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Why no response was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The caller asked to stop (shutdown) while the request was in flight.
    Stopped,
    /// No answer within the timeout.
    Timeout,
    /// Could not connect (refused, DNS, TLS).
    Connect,
    /// The body was larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// Anything else on the wire (reset mid-body, protocol error).
    Other(&'static str),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Stopped => write!(f, "the request was abandoned because the worker is stopping"),
            TransportError::Timeout => write!(f, "Notion did not answer within the timeout"),
            TransportError::Connect => write!(f, "could not connect to Notion"),
            TransportError::TooLarge => write!(f, "Notion's answer was larger than {} MiB", MAX_BODY_BYTES >> 20),
            TransportError::Other(what) => write!(f, "the connection to Notion failed ({what})"),
        }
    }
}

/// An HTTP client and the runtime that drives it. Create one per worker
/// process, on the thread that will use it.
pub struct Transport {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Transport {
    /// Builds the runtime (its helper threads block every signal) and the
    /// client (rustls with the system's roots; no proxy from the
    /// environment; no redirects: Notion's API does not redirect, and a
    /// redirect must not carry the Authorization header elsewhere).
    pub fn new(user_agent: &str, connect_timeout: Duration) -> Result<Transport, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_start(block_all_signals)
            .build()
            .map_err(|e| format!("could not start the HTTP runtime: {e}"))?;
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(Transport { runtime, client })
    }

    /// Sends one request and reads the whole answer within `timeout`
    /// (connecting included), giving up early when `should_stop()` turns
    /// true.
    pub fn send(
        &self,
        request: &Request,
        timeout: Duration,
        should_stop: &dyn Fn() -> bool,
    ) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, &request.url).timeout(timeout);
        for (name, value) in &request.headers {
            let mut value = reqwest::header::HeaderValue::from_str(value.expose_secret())
                .map_err(|_| TransportError::Other("a header value is not valid"))?;
            value.set_sensitive(true);
            builder = builder.header(*name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.to_vec());
        }
        let exchange = async move {
            let mut response = builder.send().await.map_err(classify)?;
            let header = |name: &str| {
                response.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(128).collect())
            };
            let retry_after = header("retry-after");
            let request_id = header("x-notion-request-id");
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(TransportError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response { status, retry_after, request_id, body })
        };
        let watch = async {
            loop {
                tokio::time::sleep(STOP_POLL).await;
                if should_stop() {
                    return;
                }
            }
        };
        let result = self.runtime.block_on(async move {
            tokio::select! {
                // reqwest's own timeout covers the whole exchange; this one
                // also bounds reading the body chunk by chunk.
                result = tokio::time::timeout(timeout, exchange) => {
                    result.unwrap_or(Err(TransportError::Timeout))
                }
                () = watch => Err(TransportError::Stopped),
            }
        });
        if result.is_err() {
            // An abandoned request's connection is a task of this runtime,
            // which only runs inside block_on: drive it a moment so that it
            // sees the request gone and closes the socket now, rather than
            // whenever the next request runs (the server would otherwise
            // see a live client and could still act on the request).
            self.runtime.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
        }
        result
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect
    } else if e.is_body() || e.is_decode() {
        TransportError::Other("the answer's body was cut off")
    } else if e.is_request() {
        TransportError::Other("the request could not be sent")
    } else {
        TransportError::Other("protocol error")
    }
}

/// Blocks every signal on the calling thread: runs first on each thread the
/// runtime starts, so that PostgreSQL's handlers only ever run on the main
/// thread.
fn block_all_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes
    // this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests;
