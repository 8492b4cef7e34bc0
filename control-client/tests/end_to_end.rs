//! The flow against the REAL control service (`wasp-control`: SQLite keys, quota windows in
//! memory or a real redis-server) over real HTTP, with a blocking client as the proxy-wasm
//! host. Time is the wall clock (the service's quota windows are wall-clock minutes), plus
//! offsets where a cache must age.

mod support;

use support::*;
use wasp_control_client::report::UNKNOWN_OPERATION;
use wasp_control_client::{
    CallKind, ControlState, Proceed, Reply, ReportBatcher, ReportRecord, Step,
};

fn proceeded(step: Step) -> Proceed {
    match step {
        Step::Proceed(edits) => edits,
        other => panic!("expected the request to proceed, got {other:?}"),
    }
}

fn denied(step: Step) -> Reply {
    match step {
        Step::Deny(reply) => reply,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn header<'a>(edits: &'a Proceed, name: &str) -> Option<&'a str> {
    edits
        .set_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const INVALID: &str = "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.";

#[test]
fn valid_missing_invalid_and_revoked_keys() {
    let dir = tempfile::tempdir().unwrap();
    let service = ControlService::start(dir.path(), None);
    let config = client_config(service.addr.port(), "open");
    let mut state = ControlState::new(&config);
    let mut host = Host::new(service.addr);
    let (key, id) = service.create_key("acme", 424242);
    let now = now_ms();

    let (flow, step) = host.run(
        &config,
        &mut state,
        GET,
        &format!("/v1/items?key={key}"),
        &[],
        now,
    );
    let edits = proceeded(step);
    assert_eq!(
        header(&edits, "X-Endpoint-API-Consumer-Type"),
        Some("PROJECT")
    );
    assert_eq!(
        header(&edits, "X-Endpoint-API-Consumer-Number"),
        Some("424242")
    );
    assert_eq!(
        flow.key_state(),
        wasp_control_client::check::KeyState::Verified
    );
    assert_eq!(host.calls, vec![(CallKind::Check, 1)]);

    // The x-api-key header is a default location too; the result is cached.
    proceeded(
        host.run(
            &config,
            &mut state,
            GET,
            "/v1/items",
            &[("x-api-key", &key)],
            now + 1,
        )
        .1,
    );
    assert_eq!(host.calls.len(), 1, "answered from the Check cache");

    let missing = denied(host.run(&config, &mut state, GET, "/v1/items", &[], now).1);
    assert_eq!(missing.status, 401);
    assert!(missing
        .message
        .starts_with("UNAUTHENTICATED: Method doesn't allow unregistered callers"));
    assert_eq!(host.calls.len(), 1, "no Check without a key");

    let invalid = denied(
        host.run(
            &config,
            &mut state,
            GET,
            "/v1/items?key=AIzaNotAKey",
            &[],
            now,
        )
        .1,
    );
    assert_eq!((invalid.status, invalid.message.as_str()), (400, INVALID));

    // Revoked: the cached allow holds for its 60 s; the next Check sees the revocation.
    service.revoke_key(&id);
    proceeded(
        host.run(
            &config,
            &mut state,
            GET,
            &format!("/v1/items?key={key}"),
            &[],
            now + 30_000,
        )
        .1,
    );
    let revoked = denied(
        host.run(
            &config,
            &mut state,
            GET,
            &format!("/v1/items?key={key}"),
            &[],
            now + 61_000,
        )
        .1,
    );
    assert_eq!((revoked.status, revoked.message.as_str()), (400, INVALID));
    assert_eq!(state.counters.check_calls, 3);

    // Not required: no Check even with a bogus key.
    let calls = host.calls.len();
    proceeded(
        host.run(&config, &mut state, PING, "/ping?key=whatever", &[], now)
            .1,
    );
    assert_eq!(host.calls.len(), calls);
}

#[test]
fn quota_429_exactly_after_the_limit_with_cost_three() {
    let dir = tempfile::tempdir().unwrap();
    let service = ControlService::start(dir.path(), None);
    let config = client_config(service.addr.port(), "open");
    let mut state = ControlState::new(&config);
    let mut host = Host::new(service.addr);
    let (key, _) = service.create_key("acme", 1);
    let (other, _) = service.create_key("globex", 2);
    wait_for_fresh_window();
    let now = now_ms();
    let read = format!("/v1/read?key={key}");

    // Limit 10, cost 3: 3 + 3 + 3 fit, the 4th would make 12.
    for n in 1..=3 {
        let (_, step) = host.run(&config, &mut state, READ, &read, &[], now);
        assert!(matches!(step, Step::Proceed(_)), "read {n}: {step:?}");
    }
    let reply = denied(host.run(&config, &mut state, READ, &read, &[], now).1);
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.message,
        "RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Read requests' and limit 'read-limit (10 per minute per project)' of service 'shop.example.com' for consumer 'project:acme'."
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
    assert_eq!(body["code"], 429);

    // The denial is cached for the window: no call for the same operation.
    let calls = host.calls.len();
    assert_eq!(
        denied(host.run(&config, &mut state, READ, &read, &[], now + 1).1).status,
        429
    );
    assert_eq!(host.calls.len(), calls);

    // The denied call consumed nothing: one unit is left for a cost-1 operation, then none.
    proceeded(
        host.run(
            &config,
            &mut state,
            LIST,
            &format!("/v1/list?key={key}"),
            &[],
            now,
        )
        .1,
    );
    assert_eq!(
        denied(
            host.run(
                &config,
                &mut state,
                LIST,
                &format!("/v1/list?key={key}"),
                &[],
                now
            )
            .1
        )
        .status,
        429
    );

    // Another project has its own window.
    proceeded(
        host.run(
            &config,
            &mut state,
            READ,
            &format!("/v1/read?key={other}"),
            &[],
            now,
        )
        .1,
    );
}

#[test]
fn control_service_down_fails_open_by_default() {
    let config = client_config(closed_port(), "open");
    let mut state = ControlState::new(&config);
    let port = config
        .endpoint
        .authority
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut host = Host::new(([127, 0, 0, 1], port).into());

    let edits = proceeded(
        host.run(&config, &mut state, READ, "/v1/read?key=k", &[], now_ms())
            .1,
    );
    assert!(
        edits.set_headers.is_empty(),
        "no consumer headers without a Check"
    );
    assert_eq!(
        host.calls,
        vec![
            (CallKind::Check, 1),
            (CallKind::Check, 2),
            (CallKind::Check, 3),
            (CallKind::Check, 4),
            (CallKind::Quota, 1),
            (CallKind::Quota, 2)
        ],
        "check 3 retries, quota 1"
    );
    assert_eq!(state.counters.failed_open, 2);
    let logs = state.drain_logs();
    assert_eq!(logs.len(), 1, "logged once per interval: {logs:?}");
    assert!(logs[0].contains("service control failed: "), "{logs:?}");
    proceeded(
        host.run(&config, &mut state, READ, "/v1/read?key=k", &[], now_ms())
            .1,
    );
    assert!(
        state.drain_logs().is_empty(),
        "the second failure within the interval is only counted"
    );
    assert_eq!(state.failures.totals[0], 2);
}

#[test]
fn control_service_down_fails_closed_when_configured() {
    let config = client_config(closed_port(), "closed");
    let mut state = ControlState::new(&config);
    let port = config
        .endpoint
        .authority
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut host = Host::new(([127, 0, 0, 1], port).into());

    let reply = denied(
        host.run(&config, &mut state, READ, "/v1/read?key=k", &[], now_ms())
            .1,
    );
    assert_eq!(reply.status, 503);
    assert!(
        reply
            .message
            .starts_with("UNAVAILABLE: Calling Google Service Control API failed with: "),
        "{}",
        reply.message
    );
    assert_eq!(host.calls.len(), 4);
    // Quota without a key: closed too.
    let mut host = Host::new(([127, 0, 0, 1], port).into());
    let mut config = config;
    config.operations[0].api_key_required = false;
    assert_eq!(
        denied(
            host.run(&config, &mut state, READ, "/v1/read", &[], now_ms())
                .1
        )
        .status,
        503
    );
    assert_eq!(host.calls, vec![(CallKind::Quota, 1), (CallKind::Quota, 2)]);
    // Operations that need no call never notice.
    proceeded(
        host.run(&config, &mut state, PING, "/ping", &[], now_ms())
            .1,
    );
}

#[test]
fn a_verified_key_keeps_working_through_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let service = ControlService::start(dir.path(), None);
    let config = client_config(service.addr.port(), "closed");
    let mut state = ControlState::new(&config);
    let mut host = Host::new(service.addr);
    let (key, _) = service.create_key("acme", 5);
    let now = now_ms();
    proceeded(
        host.run(
            &config,
            &mut state,
            GET,
            &format!("/v1/items?key={key}"),
            &[],
            now,
        )
        .1,
    );
    service.stop();

    // Ten minutes later, with the service gone and fail-closed: the stale allow serves.
    let later = now + 600_000;
    let edits = proceeded(
        host.run(
            &config,
            &mut state,
            GET,
            &format!("/v1/items?key={key}"),
            &[],
            later,
        )
        .1,
    );
    assert_eq!(header(&edits, "X-Endpoint-API-Consumer-Number"), Some("5"));
    // A key never seen before gets the policy.
    assert_eq!(
        denied(
            host.run(&config, &mut state, GET, "/v1/items?key=new", &[], later)
                .1
        )
        .status,
        503
    );
}

#[test]
fn reports_arrive_with_the_right_counts() {
    let dir = tempfile::tempdir().unwrap();
    let service = ControlService::start(dir.path(), None);
    let config = client_config(service.addr.port(), "open");
    let mut state = ControlState::new(&config);
    let mut host = Host::new(service.addr);
    let mut batcher = ReportBatcher::new(&config, 0x5eed);
    let (key, _) = service.create_key("acme", 77);
    let now = now_ms();

    let mut requests = vec![(GET, format!("/v1/items?key={key}")); 3];
    requests.push((GET, "/v1/items".to_string()));
    requests.extend(vec![(GET, "/v1/items?key=wrong".to_string()); 2]);
    requests.push((PING, "/ping".to_string()));
    for (i, (operation, path)) in requests.iter().enumerate() {
        let (flow, step) = host.run(&config, &mut state, operation, path, &[], now);
        let code = match step {
            Step::Proceed(_) => 200,
            Step::Deny(reply) => reply.status,
            Step::Callout(_) => unreachable!("run drives every callout"),
        };
        let end = now + 5 + i as u64;
        assert!(batcher
            .record(flow.report(code, end, Some(3), 120, 640), end)
            .is_none());
    }
    // A request no operation matched (the filter's own 404).
    batcher.record(
        ReportRecord {
            operation: UNKNOWN_OPERATION.into(),
            verified_key: None,
            response_code: 404,
            start_ms: now,
            end_ms: now + 1,
            backend_latency_ms: None,
            request_size: 0,
            response_size: 80,
            jwt_credential: None,
            log: Default::default(),
        },
        now + 1,
    );
    assert_eq!(batcher.pending_requests(), 8);
    // The batch opened with the first record (at `now + 5`) and is due one interval later.
    assert!(!batcher.due(now + 5));
    assert!(batcher.due(now + 5 + config.report_batch.flush_interval_ms));
    assert!(host.deliver(&config, &mut batcher));

    let reports = service.reports();
    assert_eq!(reports["requests"], 8, "{reports:#}");
    assert_eq!(
        reports["operations"], 5,
        "aggregated into one operation per outcome: {reports:#}"
    );
    let count = |operation: &str, consumer: &str, code: &str| {
        reports["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["operation"] == operation
                    && c["consumer"] == consumer
                    && c["response_code"] == code
            })
            .map(|c| c["requests"].as_u64().unwrap())
    };
    assert_eq!(count(GET, "project:acme", "200"), Some(3), "{reports:#}");
    assert_eq!(count(GET, "", "401"), Some(1), "{reports:#}");
    assert_eq!(
        count(GET, "", "400"),
        Some(2),
        "an invalid key is never the consumer: {reports:#}"
    );
    assert_eq!(count(PING, "", "200"), Some(1), "{reports:#}");
    assert_eq!(count(UNKNOWN_OPERATION, "", "404"), Some(1), "{reports:#}");
}

#[test]
fn reports_to_a_down_service_are_retried_then_dropped() {
    let config = client_config(closed_port(), "open");
    let port = config
        .endpoint
        .authority
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut host = Host::new(([127, 0, 0, 1], port).into());
    let mut batcher = ReportBatcher::new(&config, 1);
    batcher.record(
        ReportRecord {
            operation: PING.into(),
            verified_key: None,
            response_code: 200,
            start_ms: 0,
            end_ms: 1,
            backend_latency_ms: None,
            request_size: 0,
            response_size: 0,
            jwt_credential: None,
            log: Default::default(),
        },
        1,
    );
    assert!(!host.deliver(&config, &mut batcher));
    assert_eq!(host.calls.len(), 6, "report: 1 try + 5 retries");
    assert_eq!(
        batcher.pending_requests(),
        0,
        "a dropped batch does not pile up"
    );
}

#[test]
fn two_gateways_share_one_redis_quota() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let first = ControlService::start(dir.path(), Some(&redis.url));
    let second = ControlService::start(dir.path(), Some(&redis.url));
    let (key, _) = first.create_key("acme", 9);
    let gateways = [&first, &second].map(|service| {
        let config = client_config(service.addr.port(), "closed");
        let state = ControlState::new(&config);
        (config, state, Host::new(service.addr))
    });
    let [(config_a, mut state_a, mut host_a), (config_b, mut state_b, mut host_b)] = gateways;
    wait_for_fresh_window();
    let now = now_ms();
    let read = format!("/v1/read?key={key}");

    proceeded(host_a.run(&config_a, &mut state_a, READ, &read, &[], now).1);
    proceeded(host_b.run(&config_b, &mut state_b, READ, &read, &[], now).1);
    proceeded(host_a.run(&config_a, &mut state_a, READ, &read, &[], now).1);
    // 9 of 10 used across both gateways: a 4th read is refused by either.
    assert_eq!(
        denied(host_b.run(&config_b, &mut state_b, READ, &read, &[], now).1).status,
        429
    );
    assert_eq!(
        denied(host_a.run(&config_a, &mut state_a, READ, &read, &[], now).1).status,
        429
    );
    let list = format!("/v1/list?key={key}");
    proceeded(host_b.run(&config_b, &mut state_b, LIST, &list, &[], now).1);
    assert_eq!(
        denied(host_a.run(&config_a, &mut state_a, LIST, &list, &[], now).1).status,
        429
    );
}
