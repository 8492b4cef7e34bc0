//! Quotas through real Envoy and the real `wasp-control`: `x-google-management` limits 5
//! units per minute per consumer project and `x-google-quota` charges 2 per call, so two
//! calls pass and the third gets ESPv2's 429 with a `Retry-After` for the window's end; each
//! consumer project has its own window;
//! calls without a key are charged to the producer project; two gateways whose control
//! services keep their windows in one real redis-server share the limit.

use std::time::Duration;

use wasp_tests::control::wait_for_fresh_quota_window;
use wasp_tests::expect::local_reply;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, Redis, Reply};

use crate::keys_support::*;

/// Every sequence below takes a few seconds; keep it inside one quota minute.
const WINDOW_MARGIN: Duration = Duration::from_secs(12);

/// `/items` needs a key and costs 2; `/public` needs none and costs 2.
fn metered() -> CompileInput {
    let top = format!("{MANAGEMENT_LIMIT_5}{KEY_REQUIRED}");
    let paths = [
        operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 2}}"],
        ),
        operation(
            "/public",
            "get",
            "publicItems",
            &[
                "security: []",
                "x-google-quota: {metricCosts: {read-requests: 2}}",
            ],
        ),
    ]
    .concat();
    CompileInput::new(&shop(&top, &paths)).args(["--producer-project-id", PRODUCER])
}

/// `Retry-After` counts the whole seconds to the end of the current one-minute window.
fn assert_retry_after_is_the_window_end(reply: &Reply) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let left = 60 - now % 60;
    let sent: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {reply:?}"));
    assert!((1..=60).contains(&sent), "{reply:?}");
    assert!(
        sent.abs_diff(left) <= 1,
        "Retry-After {sent}, {left} s left in the window"
    );
}

#[test]
fn the_call_that_would_pass_the_limit_gets_429_per_consumer_project() {
    let gw = ControlledGateway::start_with(metered(), ControlOptions::default());
    let acme = gw.control.create_key("acme", 1);
    let globex = gw.control.create_key("globex", 2);
    wait_for_fresh_quota_window(WINDOW_MARGIN);

    // 2 + 2 fit in 5; the third would make 6.
    for _ in 0..2 {
        assert_consumer(&get_with_key(&gw, "/items", &acme.key), 1);
    }
    let exceeded = quota_exceeded("project:acme");
    // Asked of the control service, then answered from the gateway's denial cache: both
    // say when the window ends, the body is ESPv2's.
    for _ in 0..2 {
        let reply = get_with_key(&gw, "/items", &acme.key);
        local_reply(&reply, 429, &exceeded);
        assert_retry_after_is_the_window_end(&reply);
    }
    // A second key of the same project shares its window.
    let acme2 = gw.control.create_key("acme", 1);
    local_reply(&get_with_key(&gw, "/items", &acme2.key), 429, &exceeded);

    // Another project has its own window.
    for _ in 0..2 {
        assert_consumer(&get_with_key(&gw, "/items", &globex.key), 2);
    }
    local_reply(
        &get_with_key(&gw, "/items", &globex.key),
        429,
        &quota_exceeded("project:globex"),
    );
    // The key is still checked first: a missing or bad key is not a quota matter.
    local_reply(&gw.get("/items"), 401, MISSING_KEY);
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
}

#[test]
fn calls_without_a_key_are_charged_to_the_producer_project() {
    let gw = ControlledGateway::start_with(metered(), ControlOptions::default());
    let acme = gw.control.create_key("acme", 1);
    wait_for_fresh_quota_window(WINDOW_MARGIN);

    for _ in 0..2 {
        assert_no_consumer(&gw.get("/public"));
    }
    let exceeded = quota_exceeded(&format!("project:{PRODUCER}"));
    local_reply(&gw.get("/public"), 429, &exceeded);

    // A key sent to an operation that does not require one is not checked, but it names
    // the consumer its calls are charged to (ESPv2): acme's window is still empty.
    for _ in 0..2 {
        assert_no_consumer(&get_with_key(&gw, "/public", &acme.key));
    }
    local_reply(
        &get_with_key(&gw, "/public", &acme.key),
        429,
        &quota_exceeded("project:acme"),
    );
    // A key the control service does not know cannot be charged.
    local_reply(&get_with_key(&gw, "/public", "AIzaBogus"), 400, INVALID_KEY);
}

#[test]
fn two_gateways_with_control_services_on_one_redis_share_the_limit() {
    let redis = Redis::start();
    let on_redis = |db| ControlOptions {
        redis: Some(redis.url.clone()),
        db,
        ..ControlOptions::default()
    };
    let east = ControlledGateway::start_with(metered(), on_redis(None));
    // A replica: same key database, same Redis, its own process and gateway.
    let west = ControlledGateway::start_with(metered(), on_redis(Some(east.control.db.clone())));
    let acme = east.control.create_key("acme", 1);
    let globex = west.control.create_key("globex", 2);
    wait_for_fresh_quota_window(WINDOW_MARGIN);

    assert_consumer(&get_with_key(&east, "/items", &acme.key), 1);
    assert_consumer(&get_with_key(&west, "/items", &acme.key), 1);
    // 4 of 5 used across both: neither gateway lets a third call through.
    let exceeded = quota_exceeded("project:acme");
    local_reply(&get_with_key(&west, "/items", &acme.key), 429, &exceeded);
    local_reply(&get_with_key(&east, "/items", &acme.key), 429, &exceeded);

    assert_consumer(&get_with_key(&west, "/items", &globex.key), 2);
    assert_consumer(&get_with_key(&east, "/items", &globex.key), 2);
    local_reply(
        &get_with_key(&east, "/items", &globex.key),
        429,
        &quota_exceeded("project:globex"),
    );
}
