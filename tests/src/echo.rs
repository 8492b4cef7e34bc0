//! A real HTTP backend that answers every request with what it received, so a
//! test sees exactly what Envoy forwarded: `{"method","path","query","headers"}`.
//! `path` and `query` are raw (as on the request line, never decoded).
//! A request carrying `x-echo-status: <code>` gets that status (still echoing),
//! which lets a test see how the gateway treats a backend's own error replies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

/// What the echo backend saw; also what tests deserialize from its replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echoed {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case header names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
}

impl Echoed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Header a request can carry to choose the echo backend's status code.
pub const STATUS_HEADER: &str = "x-echo-status";

/// A running echo backend on a free loopback port; stops when dropped.
pub struct EchoBackend {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
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
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                answer(request);
            }
        });
        EchoBackend {
            addr,
            server,
            thread: Some(thread),
        }
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

fn echoed(request: &tiny_http::Request) -> Echoed {
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
    }
}

fn answer(request: tiny_http::Request) {
    let seen = echoed(&request);
    let status = seen
        .header(STATUS_HEADER)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(200);
    let body = serde_json::to_string(&seen).unwrap_or_default();
    let content_type = tiny_http::Header::from_bytes("content-type", "application/json")
        .expect("static header is valid");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(content_type);
    // The client may be gone (a test that stopped early); nothing to do then.
    let _ = request.respond(response);
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
