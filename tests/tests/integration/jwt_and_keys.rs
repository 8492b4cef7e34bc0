//! A JWT and an API key on one operation, through real Envoy, a JWKS served over HTTP and
//! the real `wasp-control`: ESPv2's order is JWT first, then the key, so a request with
//! neither gets `Jwt is missing`; a key OR a JWT makes the key optional.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use jwt_simple::prelude::*;
use wasp_tests::expect::local_reply;
use wasp_tests::id_token::{mint, public_key_pem, ISSUER};
use wasp_tests::ControlledGateway;

use crate::keys_support::*;

/// Serves the test signing key (`id_token`) as a JWKS document on every path.
pub struct Jwks {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Jwks {
    pub fn start() -> Jwks {
        let jwks = Jwks::start_closed();
        jwks.open();
        jwks
    }

    /// Holds every fetch until [`Jwks::open`] (an identity provider that is slow to answer).
    pub fn start_closed() -> Jwks {
        let key = RS256PublicKey::from_pem(&public_key_pem())
            .expect("the test public key")
            .to_components();
        let document = serde_json::json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "wasp-test",
            "n": Base64UrlSafeNoPadding::encode_to_string(&key.n).expect("encode n"),
            "e": Base64UrlSafeNoPadding::encode_to_string(&key.e).expect("encode e"),
        }]})
        .to_string();
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the JWKS server"));
        let addr = server.server_addr().to_ip().expect("an IP address");
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (serving, waiting) = (Arc::clone(&server), Arc::clone(&gate));
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let (open, opened) = &*waiting;
                let mut is_open = open.lock().unwrap_or_else(|p| p.into_inner());
                while !*is_open {
                    is_open = opened.wait(is_open).unwrap_or_else(|p| p.into_inner());
                }
                drop(is_open);
                let header = tiny_http::Header::from_bytes("content-type", "application/json")
                    .expect("a valid header");
                let _ = request.respond(
                    tiny_http::Response::from_string(document.clone()).with_header(header),
                );
            }
        });
        Jwks {
            addr,
            server,
            gate,
            thread: Some(thread),
        }
    }

    /// Lets the held fetches (and every later one) through.
    pub fn open(&self) {
        let (open, opened) = &*self.gate;
        *open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        opened.notify_all();
    }
}

impl Drop for Jwks {
    fn drop(&mut self) {
        self.open();
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn spec(jwks: &Jwks) -> String {
    let top = format!(
        "securityDefinitions:\n  api_key: {{type: apiKey, in: query, name: key}}\n  \
         test_idp:\n    type: oauth2\n    authorizationUrl: ''\n    flow: implicit\n    \
         x-google-issuer: {ISSUER}\n    x-google-jwks_uri: http://{}/jwks\n",
        jwks.addr
    );
    let paths = [
        operation(
            "/both",
            "get",
            "both",
            &["security: [{test_idp: [], api_key: []}]"],
        ),
        operation(
            "/either",
            "get",
            "either",
            &["security: [{api_key: []}, {test_idp: []}]"],
        ),
    ]
    .concat();
    shop(&top, &paths)
}

#[test]
fn a_jwt_is_checked_before_the_key() {
    let jwks = Jwks::start();
    let gw = ControlledGateway::start(&spec(&jwks));
    let key = gw.control.create_key("acme", 3);
    let bearer = format!("Bearer {}", mint(&format!("https://{SERVICE}")));
    let jwt = [("authorization", bearer.as_str())];

    local_reply(&gw.get("/both"), 401, "Jwt is missing");
    local_reply(&get_with_key(&gw, "/both", &key.key), 401, "Jwt is missing");
    local_reply(&get(&gw, "/both", &jwt), 401, MISSING_KEY);
    local_reply(&get(&gw, "/both?key=AIzaBogus", &jwt), 400, INVALID_KEY);
    let reply = get(&gw, &format!("/both?key={}", key.key), &jwt);
    assert_consumer(&reply, 3);
    assert!(
        reply.echoed().header("x-endpoint-api-userinfo").is_some(),
        "{reply:?}"
    );
}

#[test]
fn a_key_or_a_jwt_either_lets_a_request_in() {
    // `[{api_key: []}, {test_idp: []}]` means what it says: a valid key or a valid JWT.
    // (ESPv2 would demand the JWT and make the key optional; README says why wasp does not.)
    let jwks = Jwks::start();
    let gw = ControlledGateway::start(&spec(&jwks));
    let key = gw.control.create_key("acme", 5);
    let bearer = format!("Bearer {}", mint(&format!("https://{SERVICE}")));

    local_reply(&gw.get("/either"), 401, MISSING_KEY);
    local_reply(&get_with_key(&gw, "/either", "AIzaBogus"), 400, INVALID_KEY);
    assert_consumer(&get_with_key(&gw, "/either", &key.key), 5);
    // A valid JWT alone is enough; the key is then neither needed nor checked.
    let reply = get(&gw, "/either", &[("authorization", bearer.as_str())]);
    assert_no_consumer(&reply);
    assert!(
        reply.echoed().header("x-endpoint-api-userinfo").is_some(),
        "{reply:?}"
    );
    let with_bogus_key = get(
        &gw,
        "/either?key=AIzaBogus",
        &[("authorization", bearer.as_str())],
    );
    assert_no_consumer(&with_bogus_key);
    // A token that is there must be valid, even with a good key.
    let forged = get(
        &gw,
        &format!("/either?key={}", key.key),
        &[("authorization", "Bearer not.a.jwt")],
    );
    assert_eq!(forged.status, 401, "{forged:?}");
}
