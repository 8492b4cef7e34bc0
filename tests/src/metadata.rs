//! A real server speaking the GCP metadata-server protocol for ID tokens:
//! `GET .../instance/service-accounts/default/identity?audience=<aud>&format=standard`
//! with `Metadata-Flavor: Google` answers a freshly signed RS256 JWT (body is the
//! raw token); `GET .../instance/service-accounts/default/token` answers an OAuth access
//! token as JSON (`access_token`, `expires_in`, `token_type`). It counts successful calls
//! per audience, so tests can see caching, and refuses what the real server refuses (no
//! flavor header: 403, other paths: 404).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::id_token;

/// The path suffix every identity request ends with (after the metadata URL's own path).
pub const IDENTITY_SUFFIX: &str = "/instance/service-accounts/default/identity";

/// The path suffix of access-token requests.
pub const ACCESS_TOKEN_SUFFIX: &str = "/instance/service-accounts/default/token";

/// The access token the server hands out (what a service checking it expects).
pub const ACCESS_TOKEN: &str = "ya29.wasp-test-access-token";

/// What the server has seen, shared with its thread.
#[derive(Debug, Default)]
struct Seen {
    /// Tokens minted per audience.
    minted: BTreeMap<String, u32>,
    /// Access tokens handed out.
    access_tokens: u32,
    /// Requests refused (wrong path, no flavor header, missing query fields).
    refused: Vec<String>,
    /// Every answer waits this long first.
    delay: std::time::Duration,
}

/// A running metadata server on a free loopback port; stops when dropped.
pub struct MetadataServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

impl MetadataServer {
    pub fn start() -> MetadataServer {
        MetadataServer::start_on("127.0.0.1:0")
    }

    /// Starts on a given address (a test that brings the server up late).
    pub fn start_on(addr: &str) -> MetadataServer {
        // The signing key takes a while to generate in a debug build; make it
        // now, not inside the filter's first (time-limited) token fetch.
        let _ = id_token::public_key_pem();
        let server = Arc::new(
            tiny_http::Server::http(addr)
                .unwrap_or_else(|e| panic!("bind the metadata server on {addr}: {e}")),
        );
        let addr = server
            .server_addr()
            .to_ip()
            .expect("the metadata server listens on an IP address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let serving = Arc::clone(&server);
        let recording = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let recording = Arc::clone(&recording);
                std::thread::spawn(move || answer(request, &recording));
            }
        });
        MetadataServer {
            addr,
            server,
            seen,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:<port>`), as for `wasp compile --metadata-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many tokens were minted for `audience`.
    pub fn calls(&self, audience: &str) -> u32 {
        self.lock().minted.get(audience).copied().unwrap_or(0)
    }

    /// How many access tokens were handed out.
    pub fn access_token_calls(&self) -> u32 {
        self.lock().access_tokens
    }

    /// Tokens minted per audience.
    pub fn minted(&self) -> BTreeMap<String, u32> {
        self.lock().minted.clone()
    }

    /// Makes every answer wait this long (a slow metadata server).
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.lock().delay = delay;
    }

    /// Requests the server refused, with why.
    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The decision for one request: a token for an audience, or a refusal.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Mint(String),
    AccessToken,
    Refuse(u16, String),
}

fn decide(method: &str, target: &str, flavor: Option<&str>) -> Verdict {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let identity = path.ends_with(IDENTITY_SUFFIX);
    if method != "GET" || !(identity || path.ends_with(ACCESS_TOKEN_SUFFIX)) {
        return Verdict::Refuse(404, format!("{method} {target}: not a token request"));
    }
    if flavor != Some("Google") {
        return Verdict::Refuse(403, format!("{target}: Metadata-Flavor is {flavor:?}"));
    }
    if !identity {
        return Verdict::AccessToken;
    }
    let mut audience = None;
    let mut format = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("audience", value)) => audience = Some(percent_decode(value)),
            Some(("format", value)) => format = Some(value),
            _ => {}
        }
    }
    match (audience, format) {
        (Some(audience), Some("standard")) if !audience.is_empty() => Verdict::Mint(audience),
        _ => Verdict::Refuse(400, format!("{target}: needs audience and format=standard")),
    }
}

fn answer(request: tiny_http::Request, seen: &Mutex<Seen>) {
    let flavor = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("metadata-flavor"))
        .map(|h| h.value.as_str().to_string());
    let verdict = decide(request.method().as_str(), request.url(), flavor.as_deref());
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let response = match verdict {
        Verdict::Mint(audience) => {
            *seen.minted.entry(audience.clone()).or_default() += 1;
            tiny_http::Response::from_string(id_token::mint(&audience))
        }
        Verdict::AccessToken => {
            seen.access_tokens += 1;
            let body = serde_json::json!({
                "access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer",
            });
            tiny_http::Response::from_string(body.to_string()).with_header(
                tiny_http::Header::from_bytes("content-type", "application/json")
                    .expect("a valid header"),
            )
        }
        Verdict::Refuse(status, why) => {
            seen.refused.push(why.clone());
            tiny_http::Response::from_string(why).with_status_code(status)
        }
    };
    let delay = seen.delay;
    drop(seen);
    std::thread::sleep(delay);
    let _ = request.respond(response);
}

/// Decodes `%XX` escapes (audiences are URLs, so the filter must escape them).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

    #[test]
    fn mints_for_a_well_formed_request_only() {
        let target = format!("{IDENTITY}?audience=https%3A%2F%2Fb.example%2Fx&format=standard");
        assert_eq!(
            decide("GET", &target, Some("Google")),
            Verdict::Mint("https://b.example/x".into())
        );
        assert!(matches!(
            decide("GET", &target, None),
            Verdict::Refuse(403, _)
        ));
        assert!(matches!(
            decide("GET", &format!("{IDENTITY}?audience=a"), Some("Google")),
            Verdict::Refuse(400, _)
        ));
        assert!(matches!(
            decide("GET", "/other?audience=a&format=standard", Some("Google")),
            Verdict::Refuse(404, _)
        ));
        let token = "/computeMetadata/v1/instance/service-accounts/default/token";
        assert_eq!(decide("GET", token, Some("Google")), Verdict::AccessToken);
        assert!(matches!(
            decide("GET", token, None),
            Verdict::Refuse(403, _)
        ));
    }
}
