//! The control service down or refusing, through real Envoy: the real `wasp-control` is
//! stopped and started again on its port. Fail open (the default) lets requests through;
//! `--service-control-fail-policy closed` answers ESPv2's 503; checks work again once the
//! service is back; a refusal that is not a 5xx (a wrong `--service-control-token`) is a
//! 500 whatever the policy. A Redis outage behind the control service fails only the quota
//! calls, by the same policy. A control service that accepts and never answers costs each
//! call its timeout and retries, then the policy; a client leaving meanwhile harms nothing.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasp_tests::control::free_port;
use wasp_tests::expect::{local_reply, local_reply_starting};
use wasp_tests::{
    CompileInput, ControlOptions, ControlService, ControlledGateway, EchoBackend, Gateway, Redis,
    Reply,
};

use crate::keys_support::*;

/// `/items` needs a key; `/metered` needs one and costs quota; `/open` needs none.
fn spec() -> CompileInput {
    let top = format!("{MANAGEMENT_LIMIT_5}{KEY_REQUIRED}");
    let paths = [
        operation("/items", "get", "listItems", &[]),
        operation(
            "/metered",
            "get",
            "metered",
            &["x-google-quota: {metricCosts: {read-requests: 1}}"],
        ),
        operation("/open", "get", "openItems", &["security: []"]),
    ]
    .concat();
    CompileInput::new(&shop(&top, &paths)).args(["--producer-project-id", PRODUCER])
}

/// ESPv2's fail-closed reply when Envoy could not connect to the control service.
fn assert_unavailable(reply: &Reply) {
    local_reply_starting(
        reply,
        503,
        "UNAVAILABLE: Calling Google Service Control API failed with: 503 and body: upstream connect error",
    );
}

#[test]
fn fail_open_lets_requests_through_while_the_service_is_down() {
    let mut gw = ControlledGateway::start_with(spec(), ControlOptions::default());
    let key = gw.control.create_key("acme", 5);
    // Check answers are cached per operation and key.
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
    assert_consumer(&get_with_key(&gw, "/metered", &key.key), 5);

    gw.control.stop();
    // Nothing can be checked or counted: the request goes on, without consumer headers
    // (a key checked before the outage is still answered from the cache).
    assert_no_consumer(&get_with_key(&gw, "/items", "AIzaNeverChecked"));
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
    // The quota call fails too; the cached Check still names the consumer.
    assert_consumer(&get_with_key(&gw, "/metered", &key.key), 5);
    assert_no_consumer(&gw.get("/metered?key=AIzaNeverChecked"));
    assert_no_consumer(&gw.get("/open"));
    // A missing key needs no call: still refused.
    local_reply(&gw.get("/items"), 401, MISSING_KEY);
    // Each request let through by the policy is counted where operators look (Envoy stats).
    let failed_open = wait_for_counter(&gw, "wasp.service_control.failed_open", 4);
    assert!(failed_open >= 4, "failed_open = {failed_open}");

    gw.control.start_again();
    local_reply(
        &get_with_key(&gw, "/items", "AIzaStillBogus"),
        400,
        INVALID_KEY,
    );
    assert_consumer(&get_with_key(&gw, "/metered", &key.key), 5);
}

#[test]
fn fail_closed_answers_503_until_the_service_is_back() {
    let mut gw = ControlledGateway::start_with(
        spec().args(["--service-control-fail-policy", "closed"]),
        ControlOptions::default(),
    );
    let checked = gw.control.create_key("acme", 5);
    let unchecked = gw.control.create_key("acme", 5);
    assert_consumer(&get_with_key(&gw, "/items", &checked.key), 5);

    gw.control.stop();
    assert_unavailable(&get_with_key(&gw, "/items", &unchecked.key));
    assert_unavailable(&get_with_key(&gw, "/items", "AIzaBogus"));
    // Quota is never cached, so even a checked key cannot be charged.
    assert_unavailable(&get_with_key(&gw, "/metered", &checked.key));
    // A fresh Check answer needs no call; neither do operations without keys or quota.
    assert_consumer(&get_with_key(&gw, "/items", &checked.key), 5);
    assert_no_consumer(&get_with_key(&gw, "/open", "AIzaBogus"));
    local_reply(&gw.get("/items"), 401, MISSING_KEY);

    assert!(wait_for_counter(&gw, "wasp.service_control.failed_closed", 3) >= 3);

    gw.control.start_again();
    assert_consumer(&get_with_key(&gw, "/items", &unchecked.key), 5);
    assert_consumer(&get_with_key(&gw, "/metered", &checked.key), 5);
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
}

#[test]
fn a_refusal_from_the_control_service_is_a_500_in_either_policy() {
    let with_token = |token: &str, policy: &str| {
        ControlledGateway::start_with(
            spec().args([
                "--service-control-token",
                token,
                "--service-control-fail-policy",
                policy,
            ]),
            ControlOptions {
                control_token: Some("the-right-token".into()),
                ..ControlOptions::default()
            },
        )
    };
    let refusal = "INTERNAL: Calling Google Service Control API failed with: 401 and body: {\"error\":{\"code\":401,\"message\":\"missing or wrong `Authorization: Bearer <token>` for the control API\",\"status\":\"UNAUTHENTICATED\"}}";
    for policy in ["open", "closed"] {
        let gw = with_token("a-wrong-token", policy);
        let key = gw.control.create_key("acme", 5);
        local_reply(&get_with_key(&gw, "/items", &key.key), 500, refusal);
        local_reply(&get_with_key(&gw, "/metered", &key.key), 500, refusal);
        assert_no_consumer(&gw.get("/open"));
    }
    // The right token is sent as a bearer token.
    let gw = with_token("the-right-token", "closed");
    let key = gw.control.create_key("acme", 5);
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
}

#[test]
fn a_redis_outage_fails_quota_calls_by_the_policy_until_it_is_back() {
    let mut redis = Redis::start();
    let open = ControlledGateway::start_with(
        spec(),
        ControlOptions {
            redis: Some(redis.url.clone()),
            ..ControlOptions::default()
        },
    );
    let closed = ControlledGateway::start_with(
        spec().args(["--service-control-fail-policy", "closed"]),
        ControlOptions {
            redis: Some(redis.url.clone()),
            db: Some(open.control.db.clone()),
            ..ControlOptions::default()
        },
    );
    let key = open.control.create_key("acme", 5);
    assert_consumer(&get_with_key(&open, "/metered", &key.key), 5);
    assert_consumer(&get_with_key(&closed, "/metered", &key.key), 5);

    redis.stop();
    // Keys live in SQLite: they are still checked.
    local_reply(
        &get_with_key(&open, "/items", "AIzaBogus"),
        400,
        INVALID_KEY,
    );
    local_reply(
        &get_with_key(&closed, "/items", "AIzaBogus"),
        400,
        INVALID_KEY,
    );
    // Quota windows live in Redis: wasp-control answers 503 (within the gateway's 1 s
    // quota timeout), a failure like a network one. Each call, not just the first.
    for _ in 0..3 {
        assert_consumer(&get_with_key(&open, "/metered", &key.key), 5);
        local_reply_starting(
            &get_with_key(&closed, "/metered", &key.key),
            503,
            "UNAVAILABLE: Calling Google Service Control API failed with: 503 and body: {\"error\":{\"code\":503,\"message\":\"quota store unavailable: ",
        );
    }

    redis.start_again();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reply = loop {
        let reply = get_with_key(&closed, "/metered", &key.key);
        if reply.status != 503 || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_consumer(&reply, 5);
}

/// A server that accepts connections and reads them but never answers: a hung service.
struct Unresponsive {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Unresponsive {
    fn start(port: u16) -> Unresponsive {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the hung service");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
                // Drain what callers sent so their writes never block.
                for stream in &mut held {
                    let _ = stream.set_nonblocking(true);
                    let _ = stream.read(&mut [0u8; 4096]);
                }
            }
        });
        Unresponsive {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Unresponsive {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_hanging_control_service_costs_the_call_timeouts_then_the_policy() {
    let port = free_port();
    let hung = Unresponsive::start(port);
    let echo = EchoBackend::start();
    let url = echo.url();
    let input = spec().args([
        "--service-control-url",
        &format!("http://127.0.0.1:{port}"),
        "--service-control-fail-policy",
        "closed",
        "--service-control-check-timeout-ms",
        "300",
        "--service-control-check-retries",
        "1",
    ]);
    let gw = Gateway::start_compiled(&input, &url, Some(echo));

    // A client that gives up while its Check is out.
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(100)))
        .build()
        .into();
    assert!(impatient
        .get(gw.url("/items?key=AIzaImpatient"))
        .call()
        .is_err());

    // Two attempts of 300 ms, then the closed policy with ESPv2's message for a timeout.
    local_reply(
        &get_with_key(&gw, "/items", "AIzaWaits"),
        503,
        "UNAVAILABLE: Calling Google Service Control API failed with: 504 and body: upstream request timeout",
    );

    // The real service takes the port over: checks work, nothing was left broken.
    drop(hung);
    let control = ControlService::start(
        &gw.compiled.path().join("control.json"),
        port,
        ControlOptions::default(),
    );
    let key = control.create_key("acme", 5);
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
    let log = gw.envoy.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn an_old_check_answer_serves_while_the_service_is_down() {
    // Answers are fresh for 1 s here; an older one is only used when the call fails.
    let mut gw = ControlledGateway::start_with(
        spec().args([
            "--service-control-fail-policy",
            "closed",
            "--service-control-check-cache-seconds",
            "1",
        ]),
        ControlOptions::default(),
    );
    let key = gw.control.create_key("acme", 5);
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
    // Past freshness (whole seconds): the next request asks again.
    std::thread::sleep(Duration::from_millis(2100));

    gw.control.stop();
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 5);
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
    // Never answered before: the closed policy.
    assert_unavailable(&get_with_key(&gw, "/items", "AIzaNeverSeen"));
}
