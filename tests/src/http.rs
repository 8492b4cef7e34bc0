//! A small HTTP/1.1 client for tests: any method, any headers, and a reply
//! whose status, headers and body are plain data (an error status is a reply,
//! not an error).

use std::time::Duration;

use crate::echo::Echoed;

/// A reply as the user sees it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (failing the test) with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply body is not JSON ({e}): status {} body {:?}",
                self.status, self.body
            )
        })
    }

    /// The echo backend's view of the request; panics when the reply did not
    /// come from the echo backend.
    pub fn echoed(&self) -> Echoed {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply did not come from the echo backend ({e}): status {} body {:?}",
                self.status, self.body
            )
        })
    }
}

/// An HTTP client with a short overall timeout; connections are pooled.
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Client { agent }
    }

    /// Sends `method url` with `headers` and no body.
    pub fn send(&self, method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.send_body(method, url, headers, &[])
    }

    /// Sends `method url` with `headers` and `body` (none when empty).
    pub fn send_body(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let sent = if body.is_empty() {
            request.body(()).map(|r| self.agent.run(r))
        } else {
            request.body(body).map(|r| self.agent.run(r))
        };
        let mut response = sent
            .map_err(|e| format!("bad request {method} {url}: {e}"))?
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = if method == "HEAD" {
            String::new()
        } else {
            response
                .body_mut()
                .read_to_string()
                .map_err(|e| format!("{method} {url}: reading the body: {e}"))?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Sends raw bytes (a request no well-behaved client would build: invalid
/// UTF-8, huge paths) on a fresh connection and returns the status code of the
/// reply, or `None` when the connection closed without one.
pub fn send_raw(addr: std::net::SocketAddr, request: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && head.len() < 200 {
        if stream.read(&mut byte).ok()? == 0 {
            break;
        }
        head.extend_from_slice(&byte);
    }
    // "HTTP/1.1 404 Not Found"
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends a raw request (which should carry `Connection: close`) on a fresh connection
/// and returns the whole response as text, head and body, or `None` if nothing came.
pub fn send_raw_response(addr: std::net::SocketAddr, request: &[u8]) -> Option<String> {
    send_raw_bytes(addr, request).map(|response| String::from_utf8_lossy(&response).into_owned())
}

/// [`send_raw_response`] as bytes (a compressed body is no text).
pub fn send_raw_bytes(addr: std::net::SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request).ok()?;
    let mut response = Vec::new();
    // A read timeout or reset ends the response as far as it came.
    let _ = stream.take(1 << 20).read_to_end(&mut response);
    (!response.is_empty()).then_some(response)
}
