//! API keys through real Envoy and the real `wasp-control` (SQLite keys): valid, missing,
//! invalid and revoked keys with ESPv2's exact replies, the consumer headers the backend
//! gets, which requests need a key (and that the others make no Check), and the
//! compiler refusing a spec whose keys nothing could check.

use std::time::{Duration, Instant};

use wasp_tests::expect::local_reply;
use wasp_tests::spec::run_compile_with;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, Tools};

use crate::keys_support::*;

fn shop_with_open_operation() -> String {
    shop(
        KEY_REQUIRED,
        &[
            operation("/items", "get", "listItems", &[]),
            operation("/open", "get", "openItems", &["security: []"]),
        ]
        .concat(),
    )
}

#[test]
fn a_valid_key_reaches_the_backend_with_its_consumer_and_others_are_refused() {
    let gw = ControlledGateway::start(&shop_with_open_operation());
    let key = gw.control.create_key("acme", 123_456_789_012);
    // Client-sent consumer headers never reach the backend: the gateway's replace them.
    let spoofed = [(CONSUMER_TYPE, "SPOOFED"), (CONSUMER_NUMBER, "1")];

    let reply = get(&gw, &format!("/items?key={}", key.key), &spoofed);
    assert_consumer(&reply, key.project_number);

    local_reply(&get(&gw, "/items", &spoofed), 401, MISSING_KEY);
    local_reply(
        &get_with_key(&gw, "/items", "AIzaNotAKey"),
        400,
        INVALID_KEY,
    );
    // An empty value is no key at all.
    local_reply(&gw.get("/items?key="), 401, MISSING_KEY);

    // An open operation: no key needed, and the spoofed headers are still removed.
    assert_no_consumer(&get(&gw, "/open", &spoofed));
}

#[test]
fn a_key_made_with_the_cli_works_and_a_revoked_one_is_refused_after_the_check_cache() {
    // Two gateways on one key database: the default Check cache (60 s) and a 1 s one.
    let cached = ControlledGateway::start(&shop_with_open_operation());
    let short = ControlledGateway::start_with(
        CompileInput::new(&shop_with_open_operation())
            .args(["--service-control-check-cache-seconds", "1"]),
        ControlOptions {
            db: Some(cached.control.db.clone()),
            ..ControlOptions::default()
        },
    );
    let key = cached.control.create_key_cli("globex");
    let path = format!("/items?key={}", key.key);
    assert_consumer(&cached.get(&path), key.project_number);
    assert_consumer(&short.get(&path), key.project_number);

    // Revoked in the database while both services run.
    cached.control.revoke_key_cli(&key.id);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let reply = short.get(&path);
        if reply.status != 200 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    local_reply(&refused, 400, INVALID_KEY);
    // The default cache keeps the earlier answer for a minute, as ESPv2's does.
    assert_consumer(&cached.get(&path), key.project_number);
}

#[test]
fn a_key_is_needed_when_no_other_alternative_lets_the_request_in() {
    let top = "securityDefinitions:\n  api_key: {type: apiKey, in: query, name: key}\n  \
               google_id:\n    type: oauth2\n    authorizationUrl: ''\n    flow: implicit\n    \
               x-google-issuer: https://accounts.google.com\n    \
               x-google-jwks_uri: http://127.0.0.1:9/jwks\n\
               security:\n  - api_key: []\nx-google-allow: all\n";
    let paths = [
        operation("/items", "get", "listItems", &[]),
        operation("/open", "get", "openItems", &["security: []"]),
        // A key or a JWT: without a token the key alternative decides, so a key is needed.
        operation(
            "/either",
            "get",
            "either",
            &["security: [{api_key: []}, {google_id: []}]"],
        ),
    ]
    .concat();
    let gw = ControlledGateway::start(&shop(top, &paths));
    let key = gw.control.create_key("acme", 42);

    local_reply(&gw.get("/items"), 401, MISSING_KEY);
    assert_consumer(&get_with_key(&gw, "/items", &key.key), 42);
    local_reply(&gw.get("/either"), 401, MISSING_KEY);
    local_reply(
        &get_with_key(&gw, "/either", "AIzaNotAKey"),
        400,
        INVALID_KEY,
    );
    assert_consumer(&get_with_key(&gw, "/either", &key.key), 42);
    // Not required: no Check is made even when a key is sent, so a bogus key passes and a
    // valid one gets no consumer headers.
    for path in ["/open", "/anything/else"] {
        assert_no_consumer(&gw.get(path));
        assert_no_consumer(&get_with_key(&gw, path, "AIzaNotAKey"));
        assert_no_consumer(&get_with_key(&gw, path, &key.key));
    }
    let seen = gw.get("/anything/else").echoed();
    assert_eq!(
        seen.path, "/anything/else",
        "x-google-allow: all reaches the backend"
    );
}

#[test]
fn a_spec_needing_keys_or_quota_without_a_service_control_url_is_refused() {
    let tools = Tools::from_env();
    let keys = shop(KEY_REQUIRED, &operation("/items", "get", "listItems", &[]));
    let run = run_compile_with(&tools, &CompileInput::new(&keys), "http://127.0.0.1:8081");
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains("openapi.yaml: /security: ") && stderr.contains("--service-control-url"),
        "{stderr}"
    );

    let quota = shop(
        &format!("{MANAGEMENT_LIMIT_5}securityDefinitions:\n  api_key: {{type: apiKey, in: query, name: key}}\n"),
        &operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 2}}"],
        ),
    );
    let run = run_compile_with(
        &tools,
        &CompileInput::new(&quota).args(["--producer-project-id", PRODUCER]),
        "http://127.0.0.1:8081",
    );
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "openapi.yaml: /paths/~1items/get/x-google-quota/metricCosts/read-requests: "
        ) && stderr.contains("--service-control-url"),
        "{stderr}"
    );
    assert!(
        !run.dir.path().join("filter.json").exists(),
        "nothing is written"
    );
}

/// The Envoy counter `name` of the gateway's admin `/stats` (0 when absent).
fn envoy_counter(gw: &ControlledGateway, name: &str) -> u64 {
    gw.get_admin(&format!("/stats?filter=^{}$", name.replace('.', "\\.")))
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn with_service_control_http2_the_gateway_speaks_h2c_to_wasp_control() {
    let gw = ControlledGateway::start_with(
        CompileInput::new(&shop_with_open_operation()).args(["--service-control-http2"]),
        ControlOptions::default(),
    );
    let key = gw.control.create_key("acme", 7);
    assert_consumer(
        &get(&gw, &format!("/items?key={}", key.key), &[]),
        key.project_number,
    );
    local_reply(
        &get_with_key(&gw, "/items", "AIzaNotAKey"),
        400,
        INVALID_KEY,
    );
    let cluster = "cluster.wasp-service-control";
    assert!(
        envoy_counter(&gw, &format!("{cluster}.upstream_cx_http2_total")) >= 1,
        "{}",
        gw.get_admin("/stats?filter=wasp-service-control.upstream_cx_http")
    );
    assert_eq!(
        envoy_counter(&gw, &format!("{cluster}.upstream_cx_http1_total")),
        0
    );
}
