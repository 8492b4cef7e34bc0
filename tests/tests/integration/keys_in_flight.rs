//! Requests that wait for the control service, through real Envoy and the real
//! `wasp-control`: a POST body held back during Check and AllocateQuota reaches the backend
//! whole; many requests in flight at once on a cold cache all get their own answer, and
//! exactly as many as the quota allows pass, also across two Envoy workers (two VMs, two
//! caches, two report batchers); a request that first waited for JWT keys goes on to its
//! key check; a checked request then gets its backend ID token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasp_tests::control::{counts, wait_for_fresh_quota_window};
use wasp_tests::expect::local_reply;
use wasp_tests::id_token::mint;
use wasp_tests::{
    CompileInput, ControlOptions, ControlledGateway, EchoBackend, Gateway, HyperEcho,
    MetadataServer,
};

use crate::jwt_and_keys::{spec as jwt_spec, Jwks};
use crate::keys_support::*;

/// A backend that answers with the body it received (and its length).
struct BodyEcho {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl BodyEcho {
    fn start() -> BodyEcho {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let addr = server.server_addr().to_ip().expect("an IP address");
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            for mut request in serving.incoming_requests() {
                let mut body = Vec::new();
                let read = request.as_reader().read_to_end(&mut body);
                let answer = match read {
                    Ok(_) => format!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body)),
                    Err(e) => format!("cannot read the body: {e}"),
                };
                let _ = request.respond(tiny_http::Response::from_string(answer));
            }
        });
        BodyEcho {
            addr,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for BodyEcho {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `POST url` with `body` (the harness client sends no bodies).
fn post(url: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .post(url)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// `/items` needs a key and costs 1 of the 5 per minute; `/orders` (POST) needs a key,
/// costs 1 and goes to `orders_backend`.
fn metered(orders_backend: &str) -> CompileInput {
    let top = format!("{MANAGEMENT_LIMIT_5}{KEY_REQUIRED}");
    let orders = format!(
        "x-google-backend: {{address: '{orders_backend}/orders', path_translation: APPEND_PATH_TO_ADDRESS, disable_auth: true}}"
    );
    let paths = [
        operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 1}}"],
        ),
        operation(
            "/orders",
            "post",
            "createOrder",
            &[
                "x-google-quota: {metricCosts: {read-requests: 1}}",
                orders.as_str(),
            ],
        ),
    ]
    .concat();
    CompileInput::new(&shop(&top, &paths)).args(["--producer-project-id", PRODUCER])
}

#[test]
fn a_request_body_waits_for_the_key_check_and_arrives_whole() {
    let orders = BodyEcho::start();
    let gw = ControlledGateway::start_with(
        metered(&format!("http://{}", orders.addr)),
        ControlOptions::default(),
    );
    let key = gw.control.create_key("acme", 1);
    wait_for_fresh_quota_window(Duration::from_secs(12));
    // Large enough to arrive in several chunks while the request is paused.
    let body = "x".repeat(200_000);
    let (status, text) = post(&gw.url(&format!("/orders?key={}", key.key)), &body);
    assert_eq!(status, 200, "{}", &text[..text.len().min(300)]);
    assert_eq!(text, format!("200000 bytes: {body}"));

    let (status, text) = post(&gw.url("/orders"), &body);
    assert_eq!(status, 401, "{}", &text[..text.len().min(300)]);
}

/// Sends `n` requests at once (one thread each) and returns their statuses.
fn at_once(gw: &Gateway, path: &str, n: usize) -> Vec<u16> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..n).map(|_| scope.spawn(|| gw.get(path))).collect();
        threads
            .into_iter()
            .map(|t| {
                let reply = t.join().expect("a request thread");
                if ![200, 429, 400].contains(&reply.status) {
                    eprintln!("UNEXPECTED {reply:?}");
                }
                reply.status
            })
            .collect()
    })
}

#[test]
fn concurrent_requests_each_get_their_answer_and_exactly_the_limit_passes() {
    // Two workers: two VMs with their own caches, one limit at the control service. The
    // backend is the hyper echo: tiny_http's connection pool can lose a wake-up when several
    // connections arrive at once and leave one of Envoy's keep-alive connections unserved.
    let backend = HyperEcho::plain();
    let input = metered("http://127.0.0.1:9");
    let gw = ControlledGateway::start_behind(
        input.args(["--service-control-check-cache-seconds", "0"]),
        ControlOptions::default(),
        2,
        &backend.url(),
        None,
    );
    let acme = gw.control.create_key("acme", 1);
    wait_for_fresh_quota_window(Duration::from_secs(12));

    // Cold caches, 12 requests in flight: 5 pass (cost 1, limit 5), 7 get 429.
    let mut statuses = at_once(&gw, &format!("/items?key={}", acme.key), 12);
    statuses.sort_unstable();
    assert_eq!(statuses, [[200; 5].as_slice(), &[429; 7]].concat());

    // Bad keys in flight at the same time as good ones each get their own answer.
    let globex = gw.control.create_key("globex", 2);
    let bad = std::thread::scope(|scope| {
        let good = scope.spawn(|| at_once(&gw, &format!("/items?key={}", globex.key), 4));
        let bad = at_once(&gw, "/items?key=AIzaBogus", 4);
        assert_eq!(good.join().expect("good requests"), [200; 4]);
        bad
    });
    assert_eq!(bad, [400; 4]);

    // Both VMs report what they answered.
    let list = op("listItems");
    gw.control.wait_for_report_counts(
        &counts(&[
            (&list, "project:acme", "200", 5),
            (&list, "project:acme", "429", 7),
            (&list, "project:globex", "200", 4),
            (&list, "", "400", 4),
        ]),
        Duration::from_secs(15),
    );
}

#[test]
fn a_request_that_waited_for_jwt_keys_goes_on_to_its_key_check() {
    // The identity provider holds its keys back until both requests are in: they wait for
    // the keys, are resumed from the root context, and only then make their Checks.
    let jwks = Jwks::start_closed();
    let gw = ControlledGateway::start(&jwt_spec(&jwks));
    let key = gw.control.create_key("acme", 3);
    let bearer = format!("Bearer {}", mint(&format!("https://{SERVICE}")));
    let jwt = [("authorization", bearer.as_str())];

    let replies = std::thread::scope(|scope| {
        let good = scope.spawn(|| get(&gw, &format!("/both?key={}", key.key), &jwt));
        let bogus = scope.spawn(|| get(&gw, "/both?key=AIzaBogus", &jwt));
        std::thread::sleep(Duration::from_millis(300));
        jwks.open();
        [
            good.join().expect("request"),
            bogus.join().expect("request"),
        ]
    });
    assert_consumer(&replies[0], 3);
    local_reply(&replies[1], 400, INVALID_KEY);
}

#[test]
fn a_checked_request_goes_on_to_its_backend_id_token() {
    let backend = EchoBackend::start();
    let metadata = MetadataServer::start();
    let audience = "https://orders.example.com";
    let authed = format!(
        "x-google-backend: {{address: '{}/orders', jwt_audience: '{audience}'}}",
        backend.url()
    );
    let spec = shop(
        KEY_REQUIRED,
        &operation("/orders", "get", "listOrders", &[authed.as_str()]),
    );
    let gw = ControlledGateway::start_with(
        CompileInput::new(&spec).args(["--metadata-url", &metadata.url()]),
        ControlOptions::default(),
    );
    let key = gw.control.create_key("acme", 4);

    local_reply(&gw.get("/orders"), 401, MISSING_KEY);
    let reply = get(
        &gw,
        &format!("/orders?key={}", key.key),
        &[("authorization", "Bearer client-token")],
    );
    assert_consumer(&reply, 4);
    let seen = reply.echoed();
    assert_eq!(seen.id_token_audience(), Some(audience), "{seen:?}");
    assert_eq!(
        seen.header("x-forwarded-authorization"),
        Some("Bearer client-token")
    );
}
