//! A real HTTP backend that answers every request with what it received, so a
//! test sees exactly what Envoy forwarded: `{"method","path","query","headers"}`.
//! `path` and `query` are raw (as on the request line, never decoded).
//! A request carrying `x-echo-status: <code>` gets that status (still echoing),
//! which lets a test see how the gateway treats a backend's own error replies,
//! and `x-echo-delay-ms: <ms>` delays the answer (deadline tests).
//! A `Bearer` token in `Authorization` is verified against the test key
//! ([`crate::id_token`]) and the verdict echoed as `id_token`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::id_token::{check_authorization, TokenCheck};

/// What the echo backend saw; also what tests deserialize from its replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echoed {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case header names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The address of the backend that answered (`127.0.0.1:<port>`), so a test
    /// with several backends sees which one got the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// The HTTP version the request arrived with (`HTTP/1.1`, `HTTP/2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The request's authority: `Host` for HTTP/1.1, `:authority` for HTTP/2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// The TLS server name (SNI) the client sent; only TLS backends set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The verdict on a `Bearer` token in `Authorization` (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<TokenCheck>,
    /// The SHA-256 (hex) of the request body that arrived, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

impl Echoed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The audience of a valid test ID token the backend received, if any.
    pub fn id_token_audience(&self) -> Option<&str> {
        match &self.id_token {
            Some(TokenCheck::Valid { audience }) => Some(audience),
            _ => None,
        }
    }

    /// Fills the derived fields (`authority`, `id_token`) from the headers.
    pub fn with_checks(mut self) -> Echoed {
        if self.authority.is_none() {
            self.authority = self.header("host").map(str::to_string);
        }
        self.id_token = self.header("authorization").and_then(check_authorization);
        self
    }

    /// The status and delay the request asked for with [`STATUS_HEADER`] and [`DELAY_HEADER`].
    pub fn requested_status_and_delay(&self) -> (u16, Option<std::time::Duration>) {
        let status = self
            .header(STATUS_HEADER)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        let delay = self
            .header(DELAY_HEADER)
            .and_then(|s| s.parse::<u64>().ok())
            .map(std::time::Duration::from_millis);
        (status, delay)
    }
}

/// Header a request can carry to choose the echo backend's status code.
pub const STATUS_HEADER: &str = "x-echo-status";

/// Header a request can carry to delay the echo backend's answer (milliseconds).
pub const DELAY_HEADER: &str = "x-echo-delay-ms";

/// A running echo backend on a free loopback port; stops when dropped.
pub struct EchoBackend {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// Requests received so far (a retry Envoy made counts again).
    received: Arc<std::sync::atomic::AtomicU64>,
}

impl EchoBackend {
    pub fn start() -> EchoBackend {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").expect("bind the echo backend on 127.0.0.1:0"),
        );
        let addr = server
            .server_addr()
            .to_ip()
            .expect("the echo backend listens on an IP address");
        let serving = Arc::clone(&server);
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting = Arc::clone(&received);
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                counting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // One thread per request, so a delayed answer never holds up the next.
                std::thread::spawn(move || answer(request, addr));
            }
        });
        EchoBackend {
            addr,
            server,
            thread: Some(thread),
            received,
        }
    }

    /// How many requests reached the backend so far.
    pub fn requests(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend URL to hand to `wasp compile --backend`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Splits a raw request target into path and query without decoding either.
pub fn split_target(target: &str) -> (&str, &str) {
    target.split_once('?').unwrap_or((target, ""))
}

fn echoed(request: &tiny_http::Request, addr: SocketAddr) -> Echoed {
    let (path, query) = split_target(request.url());
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for header in request.headers() {
        let name = header.field.as_str().as_str().to_ascii_lowercase();
        let value = header.value.as_str().to_string();
        headers
            .entry(name)
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    Echoed {
        method: request.method().as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        served_by: Some(addr.to_string()),
        version: Some(format!("HTTP/{}", request.http_version())),
        authority: None,
        sni: None,
        id_token: None,
        body_sha256: None,
    }
    .with_checks()
}

fn answer(mut request: tiny_http::Request, addr: SocketAddr) {
    let mut seen = echoed(&request, addr);
    let mut body = Vec::new();
    if std::io::Read::read_to_end(request.as_reader(), &mut body).is_ok() && !body.is_empty() {
        seen.body_sha256 = Some(sha256_hex(&body));
    }
    let (status, delay) = seen.requested_status_and_delay();
    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    let body = serde_json::to_string(&seen).unwrap_or_default();
    let content_type = tiny_http::Header::from_bytes("content-type", "application/json")
        .expect("static header is valid");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(content_type);
    // The client may be gone (a test that stopped early); nothing to do then.
    let _ = request.respond(response);
}

/// Hex SHA-256, so a test can check that a body arrived whole without echoing it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_keeps_raw_text() {
        assert_eq!(split_target("/a%2Fb?x=1&y=%20"), ("/a%2Fb", "x=1&y=%20"));
        assert_eq!(split_target("/a"), ("/a", ""));
        assert_eq!(split_target("/a?"), ("/a", ""));
    }
}
