//! The whole flow as native tests: every callout's request is decoded and checked, every
//! answer is a real protobuf message, time is passed in.

use super::*;
use crate::callout::MAX_ANSWER_BYTES;
use crate::config::{FailPolicy, KeyLocation, OperationControl};
use crate::operation_id::OperationIds;
use wasp_servicecontrol::check_error::Code as CheckCode;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;
use wasp_servicecontrol::check_response::{CheckInfo, ConsumerInfo};
use wasp_servicecontrol::quota_error::Code as QuotaCode;
use wasp_servicecontrol::{AllocateQuotaRequest, CheckError, CheckRequest, QuotaError};

const READ: &str = "1.shop.Read";
const OPEN: &str = "1.shop.Open";
const METERED: &str = "1.shop.Metered";
const T0: u64 = 1_699_999_980_000; // a minute boundary

fn config() -> ControlClientConfig {
    let mut config = crate::test_config();
    config.operations = vec![
        OperationControl {
            name: READ.into(),
            api_key_required: true,
            metric_costs: [("reads".to_string(), 3)].into(),
            ..OperationControl::default()
        },
        OperationControl {
            name: OPEN.into(),
            ..OperationControl::default()
        },
        OperationControl {
            name: METERED.into(),
            metric_costs: [("reads".to_string(), 1)].into(),
            ..OperationControl::default()
        },
    ];
    config
}

struct Request {
    operation: &'static str,
    headers: Vec<(String, String)>,
    path: String,
}

fn request(operation: &'static str, path: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        operation,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        path: path.into(),
    }
}

/// The `n`th operation id of a VM seeded with 7.
fn op_id(n: usize) -> OperationId {
    let mut ids = OperationIds::new(7);
    let mut id = ids.next_id();
    for _ in 1..n {
        id = ids.next_id();
    }
    id
}

fn start(
    config: &ControlClientConfig,
    state: &mut ControlState,
    r: &Request,
    now: u64,
) -> (Flow, Step) {
    Flow::start(
        config,
        state,
        RequestInput {
            operation: r.operation,
            operation_id: op_id(1),
            headers: &r.headers,
            path: &r.path,
            caller_ip: "10.1.2.3",
            key_required: false,
        },
        now,
    )
}

fn ok(message: &impl Message) -> CalloutResult {
    CalloutResult::Response {
        status: Some(200),
        body: message.encode_to_vec(),
    }
}

fn down() -> CalloutResult {
    CalloutResult::Response {
        status: Some(503),
        body: b"upstream connect error or disconnect/reset before headers".to_vec(),
    }
}

fn allowed(number: i64) -> CheckResponse {
    CheckResponse {
        check_info: Some(CheckInfo {
            unused_arguments: vec![],
            consumer_info: Some(ConsumerInfo {
                project_number: number,
                r#type: ConsumerType::Project as i32,
                consumer_number: number,
            }),
        }),
        ..CheckResponse::default()
    }
}

fn check_error(code: CheckCode) -> CheckResponse {
    CheckResponse {
        check_errors: vec![CheckError {
            code: code as i32,
            ..CheckError::default()
        }],
        ..CheckResponse::default()
    }
}

fn granted() -> AllocateQuotaResponse {
    AllocateQuotaResponse::default()
}

fn exhausted(description: &str) -> AllocateQuotaResponse {
    AllocateQuotaResponse {
        allocate_errors: vec![QuotaError {
            code: QuotaCode::ResourceExhausted as i32,
            description: description.into(),
            ..QuotaError::default()
        }],
        ..AllocateQuotaResponse::default()
    }
}

fn callout(step: &Step) -> &Callout {
    match step {
        Step::Callout(callout) => callout,
        other => panic!("expected a callout, got {other:?}"),
    }
}

fn proceeded(step: Step) -> Proceed {
    match step {
        Step::Proceed(edits) => edits,
        other => panic!("expected proceed, got {other:?}"),
    }
}

fn denied(step: Step) -> Reply {
    match step {
        Step::Deny(reply) => reply,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn resume(
    flow: &mut Flow,
    config: &ControlClientConfig,
    state: &mut ControlState,
    result: CalloutResult,
    now: u64,
) -> Step {
    flow.resume(config, state, result, now).unwrap()
}

/// Runs a required-key request with a Check answer and a quota grant.
fn verified_request(
    config: &ControlClientConfig,
    state: &mut ControlState,
    key: &str,
    now: u64,
) -> (Flow, Proceed) {
    let r = request(READ, &format!("/v1/read?key={key}"), &[]);
    let (mut flow, step) = start(config, state, &r, now);
    let step = match callout(&step).kind {
        CallKind::Check => resume(&mut flow, config, state, ok(&allowed(42)), now),
        CallKind::Quota => step,
        CallKind::Report => panic!("no report in a flow"),
    };
    assert_eq!(callout(&step).kind, CallKind::Quota);
    let edits = proceeded(resume(&mut flow, config, state, ok(&granted()), now));
    (flow, edits)
}

#[test]
fn a_required_key_that_is_missing_is_401_without_a_call() {
    let config = config();
    let mut state = ControlState::new(&config);
    let (_, step) = start(&config, &mut state, &request(READ, "/v1/read", &[]), T0);
    let reply = denied(step);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.message, crate::reply::MISSING_KEY_MESSAGE);
    assert_eq!(state.counters.check_calls, 0);
}

#[test]
fn valid_key_checks_then_allocates_then_sets_consumer_headers() {
    let config = config();
    let mut state = ControlState::new(&config);
    let r = request(
        READ,
        "/v1/read?key=good&x=1",
        &[("x-endpoint-api-consumer-number", "spoofed")],
    );
    let (mut flow, step) = start(&config, &mut state, &r, T0);

    let check = callout(&step);
    assert_eq!(check.kind, CallKind::Check);
    assert_eq!(check.path(), "/v1/services/shop.example.com:check");
    let sent = CheckRequest::decode(check.body.as_slice()).unwrap();
    let op = sent.operation.unwrap();
    assert_eq!(op.consumer_id, "api_key:good");
    assert_eq!(op.operation_name, READ);
    assert_eq!(op.operation_id, op_id(1).to_string());
    assert_eq!(
        op.labels["servicecontrol.googleapis.com/caller_ip"],
        "10.1.2.3"
    );
    assert_eq!(sent.service_config_id, "cfg-1");

    let step = resume(&mut flow, &config, &mut state, ok(&allowed(42)), T0 + 5);
    let quota = callout(&step);
    assert_eq!(quota.path(), "/v1/services/shop.example.com:allocateQuota");
    let sent = AllocateQuotaRequest::decode(quota.body.as_slice()).unwrap();
    let op = sent.allocate_operation.unwrap();
    assert_eq!(op.consumer_id, "api_key:good");
    assert_eq!(op.quota_metrics[0].metric_name, "reads");
    assert_eq!(op.quota_metrics[0].int64_sum(), 3);

    let edits = proceeded(resume(
        &mut flow,
        &config,
        &mut state,
        ok(&granted()),
        T0 + 9,
    ));
    assert_eq!(
        edits.remove_headers,
        vec![
            "X-Endpoint-API-Consumer-Type",
            "X-Endpoint-API-Consumer-Number"
        ]
    );
    assert_eq!(
        edits.set_headers,
        vec![
            (
                "X-Endpoint-API-Consumer-Type".to_string(),
                "PROJECT".to_string()
            ),
            (
                "X-Endpoint-API-Consumer-Number".to_string(),
                "42".to_string()
            )
        ]
    );
    assert_eq!(edits.new_path, None, "the key stays unless remove_api_key");
    assert_eq!(flow.key_state(), KeyState::Verified);
    let record = flow.report(200, T0 + 20, Some(7), 10, 20);
    assert_eq!(record.verified_key.as_deref(), Some("good"));
    assert_eq!((record.start_ms, record.end_ms), (T0, T0 + 20));
}

#[test]
fn check_results_are_reused_for_60_seconds() {
    let config = config();
    let mut state = ControlState::new(&config);
    verified_request(&config, &mut state, "good", T0);
    assert_eq!(state.counters.check_calls, 1);
    // 59 s later: straight to quota.
    let (_, step) = start(
        &config,
        &mut state,
        &request(READ, "/v1/read?key=good", &[]),
        T0 + 59_000,
    );
    assert_eq!(callout(&step).kind, CallKind::Quota);
    assert_eq!(state.counters.check_cache_hits, 1);
    // Another key is its own entry.
    let (_, step) = start(
        &config,
        &mut state,
        &request(READ, "/v1/read?key=other", &[]),
        T0 + 59_000,
    );
    assert_eq!(callout(&step).kind, CallKind::Check);
    // 60 s later: asked again.
    let (_, step) = start(
        &config,
        &mut state,
        &request(READ, "/v1/read?key=good", &[]),
        T0 + 60_000,
    );
    assert_eq!(callout(&step).kind, CallKind::Check);
}

#[test]
fn invalid_keys_are_400_and_the_denial_is_cached() {
    let config = config();
    let mut state = ControlState::new(&config);
    let r = request(READ, "/v1/read", &[("x-api-key", "bad")]);
    let (mut flow, step) = start(&config, &mut state, &r, T0);
    callout(&step);
    let reply = denied(resume(
        &mut flow,
        &config,
        &mut state,
        ok(&check_error(CheckCode::ApiKeyInvalid)),
        T0,
    ));
    assert_eq!(
        (reply.status, reply.message.as_str()),
        (
            400,
            "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
        )
    );
    assert_eq!(flow.key_state(), KeyState::Invalid);
    assert_eq!(flow.report(400, T0, None, 0, 0).verified_key, None);
    let (_, again) = start(&config, &mut state, &r, T0 + 1000);
    assert_eq!(denied(again), reply);
    assert_eq!(state.counters.check_calls, 1);
}

#[test]
fn no_check_when_unregistered_callers_are_allowed() {
    let config = config();
    let mut state = ControlState::new(&config);
    let r = request(OPEN, "/open?key=anything", &[]);
    let (flow, step) = start(&config, &mut state, &r, T0);
    let edits = proceeded(step);
    assert!(edits.set_headers.is_empty());
    assert_eq!(flow.key_state(), KeyState::NotChecked);
    assert_eq!(flow.report(200, T0, None, 0, 0).verified_key, None);
    // An operation the control config does not know behaves the same.
    let (_, step) = start(
        &config,
        &mut state,
        &request("1.shop.Unknown", "/u", &[]),
        T0,
    );
    proceeded(step);
    assert_eq!(state.counters.check_calls, 0);
}

#[test]
fn the_security_requirement_can_demand_a_key_the_operation_does_not() {
    // `[{api_key}, {jwt}]` without a token: the JWT stage leaves it to the key.
    let config = config();
    let mut state = ControlState::new(&config);
    for (path, expected) in [("/open", 401), ("/open?key=good", 0)] {
        let r = request(OPEN, path, &[]);
        let (_, step) = Flow::start(
            &config,
            &mut state,
            RequestInput {
                operation: r.operation,
                operation_id: op_id(3),
                headers: &r.headers,
                path: &r.path,
                caller_ip: "10.1.2.3",
                key_required: true,
            },
            T0,
        );
        match expected {
            401 => assert_eq!(denied(step).message, MISSING_KEY_MESSAGE),
            _ => assert_eq!(callout(&step).kind, CallKind::Check),
        }
    }
}

#[test]
fn quota_consumer_is_the_unchecked_key_or_the_producer() {
    let config = config();
    let mut state = ControlState::new(&config);
    for (path, consumer) in [("/m?api_key=k1", "api_key:k1"), ("/m", "project:producer")] {
        let (_, step) = start(&config, &mut state, &request(METERED, path, &[]), T0);
        let sent = AllocateQuotaRequest::decode(callout(&step).body.as_slice()).unwrap();
        assert_eq!(sent.allocate_operation.unwrap().consumer_id, consumer);
    }
    assert_eq!(state.counters.check_calls, 0);
}

#[test]
fn quota_exhaustion_is_429_and_cached_until_the_window_ends() {
    let config = config();
    let mut state = ControlState::new(&config);
    let r = request(METERED, "/m?key=k", &[]);
    let (mut flow, step) = start(&config, &mut state, &r, T0 + 10_000);
    callout(&step);
    let message = "Quota exceeded for quota metric 'reads'";
    let reply = denied(resume(
        &mut flow,
        &config,
        &mut state,
        ok(&exhausted(message)),
        T0 + 10_000,
    ));
    assert_eq!(reply.status, 429);
    assert_eq!(reply.message, format!("RESOURCE_EXHAUSTED: {message}"));
    // Retry-After: the seconds left in the window (T0 is a minute boundary).
    assert_eq!(reply.retry_after_secs, Some(50));
    let calls = state.counters.quota_calls;
    let (_, cached) = start(&config, &mut state, &r, T0 + 59_999);
    let cached = denied(cached);
    assert_eq!((cached.status, &cached.message), (429, &reply.message));
    assert_eq!(cached.retry_after_secs, Some(1));
    assert_eq!(state.counters.quota_calls, calls);
    // Another operation (maybe cheaper) still asks; so does the next window.
    let (_, other) = start(
        &config,
        &mut state,
        &request(READ, "/r?key=k", &[]),
        T0 + 20_000,
    );
    callout(&other);
    let (_, next) = start(&config, &mut state, &r, T0 + 60_000);
    assert_eq!(callout(&next).kind, CallKind::Quota);
}

#[test]
fn grants_are_never_cached() {
    let config = config();
    let mut state = ControlState::new(&config);
    for _ in 0..3 {
        let (mut flow, step) = start(&config, &mut state, &request(METERED, "/m", &[]), T0);
        callout(&step);
        proceeded(resume(&mut flow, &config, &mut state, ok(&granted()), T0));
    }
    assert_eq!(state.counters.quota_calls, 3);
}

#[test]
fn check_is_retried_three_times_then_fails_open() {
    let config = config();
    let mut state = ControlState::new(&config);
    let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
    assert_eq!(callout(&step).attempt, 1);
    for attempt in 2..=4 {
        let step = resume(&mut flow, &config, &mut state, down(), T0);
        let retry = callout(&step);
        assert_eq!((retry.kind, retry.attempt), (CallKind::Check, attempt));
    }
    // Open: on to quota without a verified consumer.
    let step = resume(
        &mut flow,
        &config,
        &mut state,
        CalloutResult::Failed("timeout".into()),
        T0,
    );
    assert_eq!(callout(&step).kind, CallKind::Quota);
    assert_eq!(flow.key_state(), KeyState::NotChecked);
    // Quota: 1 retry, then open.
    let step = resume(&mut flow, &config, &mut state, down(), T0);
    assert_eq!(callout(&step).attempt, 2);
    let edits = proceeded(resume(&mut flow, &config, &mut state, down(), T0));
    assert!(edits.set_headers.is_empty());
    assert_eq!(state.counters.failed_open, 2);
    // Failures are logged once per interval.
    let logs = state.drain_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("failed with: timeout"), "{logs:?}");
    assert_eq!(state.failures.totals, [1, 1, 0]);
    // Nothing was cached: the next request asks again.
    let (_, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0 + 1);
    assert_eq!(callout(&step).kind, CallKind::Check);
}

#[test]
fn fail_closed_answers_503() {
    let mut config = config();
    config.network_fail_policy = FailPolicy::Closed;
    config.check.retries = 0;
    let mut state = ControlState::new(&config);
    let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
    callout(&step);
    let reply = denied(resume(&mut flow, &config, &mut state, down(), T0));
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.message,
        "UNAVAILABLE: Calling Google Service Control API failed with: 503 and body: upstream connect error or disconnect/reset before headers"
    );
    assert_eq!(state.counters.failed_closed, 1);
    // Quota too.
    let (mut flow, step) = start(&config, &mut state, &request(METERED, "/m", &[]), T0);
    callout(&step);
    resume(&mut flow, &config, &mut state, down(), T0);
    let reply = denied(resume(
        &mut flow,
        &config,
        &mut state,
        CalloutResult::Response {
            status: None,
            body: vec![],
        },
        T0,
    ));
    assert_eq!(reply.status, 503);
}

#[test]
fn unavailable_check_errors_follow_the_policy() {
    let mut config = config();
    let mut state = ControlState::new(&config);
    let unavailable = check_error(CheckCode::ServiceStatusUnavailable);
    let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
    callout(&step);
    let step = resume(&mut flow, &config, &mut state, ok(&unavailable), T0);
    assert_eq!(
        callout(&step).kind,
        CallKind::Quota,
        "open: not retried, on to quota"
    );

    config.network_fail_policy = FailPolicy::Closed;
    let mut state = ControlState::new(&config);
    let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
    callout(&step);
    let reply = denied(resume(&mut flow, &config, &mut state, ok(&unavailable), T0));
    assert_eq!(
        (reply.status, reply.message.as_str()),
        (
            503,
            "UNAVAILABLE: One or more Google Service Control backends are unavailable."
        )
    );
}

#[test]
fn a_stale_result_serves_while_the_control_service_is_down() {
    let mut config = config();
    config.network_fail_policy = FailPolicy::Closed;
    let mut state = ControlState::new(&config);
    verified_request(&config, &mut state, "good", T0);
    let later = T0 + 600_000;
    let (mut flow, step) = start(
        &config,
        &mut state,
        &request(READ, "/r?key=good", &[]),
        later,
    );
    assert_eq!(callout(&step).kind, CallKind::Check);
    for _ in 0..3 {
        callout(&resume(&mut flow, &config, &mut state, down(), later));
    }
    let step = resume(&mut flow, &config, &mut state, down(), later);
    assert_eq!(
        callout(&step).kind,
        CallKind::Quota,
        "stale allow used despite fail-closed"
    );
    assert_eq!(flow.key_state(), KeyState::Verified);
    assert_eq!(state.counters.failed_closed, 0);
}

#[test]
fn a_4xx_from_the_control_service_is_500_in_every_policy_and_not_retried() {
    for policy in [FailPolicy::Open, FailPolicy::Closed] {
        let mut config = config();
        config.network_fail_policy = policy;
        let mut state = ControlState::new(&config);
        let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
        callout(&step);
        let refused = CalloutResult::Response {
            status: Some(401),
            body: br#"{"error":{"code":401}}"#.to_vec(),
        };
        let reply = denied(resume(&mut flow, &config, &mut state, refused, T0));
        assert_eq!(reply.status, 500);
        assert!(reply.message.starts_with(
            "INTERNAL: Calling Google Service Control API failed with: 401 and body: {"
        ));
        assert_eq!(state.counters.rejected_calls, 1);
    }
}

#[test]
fn garbled_or_oversized_answers_apply_the_fail_policy_without_retrying() {
    let garbage = || CalloutResult::Response {
        status: Some(200),
        body: vec![0xff, 0xff, 0xff],
    };
    let oversized = || CalloutResult::Oversized {
        status: Some(200),
        body_size: MAX_ANSWER_BYTES + 1,
    };
    for policy in [FailPolicy::Open, FailPolicy::Closed] {
        let mut config = config();
        config.network_fail_policy = policy;
        let mut state = ControlState::new(&config);
        for (answer, expected) in [
            (garbage(), "Failed to parse the check response"),
            (oversized(), "over the 65536-byte limit"),
        ] {
            let (mut flow, step) = start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0);
            assert_eq!(callout(&step).attempt, 1);
            let step = resume(&mut flow, &config, &mut state, answer, T0);
            match policy {
                // Open: no retry of the Check, on to the quota stage.
                FailPolicy::Open => {
                    let next = callout(&step);
                    assert_eq!((next.kind, next.attempt), (CallKind::Quota, 1));
                }
                FailPolicy::Closed => {
                    let reply = denied(step);
                    assert_eq!(reply.status, 503, "{reply:?}");
                    assert!(reply.message.starts_with("UNAVAILABLE: "), "{reply:?}");
                    assert!(reply.message.contains(expected), "{reply:?}");
                }
            }
        }
        assert_eq!(state.counters.bad_answers, 2);
        assert_eq!(state.counters.rejected_calls, 0);
        let (open, closed) = (state.counters.failed_open, state.counters.failed_closed);
        match policy {
            FailPolicy::Open => assert_eq!((open, closed), (2, 0)),
            FailPolicy::Closed => assert_eq!((open, closed), (0, 2)),
        }
        // Logged once for the interval, with the first failure's detail.
        let logs = state.drain_logs();
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert!(
            logs[0].contains("Failed to parse the check response"),
            "{logs:?}"
        );
    }
}

#[test]
fn a_garbled_quota_answer_applies_the_fail_policy() {
    let mut config = config();
    config.network_fail_policy = FailPolicy::Closed;
    let mut state = ControlState::new(&config);
    let (mut flow, step) = start(&config, &mut state, &request(METERED, "/m", &[]), T0);
    assert_eq!(callout(&step).kind, CallKind::Quota);
    let garbage = CalloutResult::Response {
        status: Some(200),
        body: vec![0x0a, 0xff],
    };
    let reply = denied(resume(&mut flow, &config, &mut state, garbage, T0));
    assert_eq!(reply.status, 503);
    assert!(
        reply
            .message
            .starts_with("UNAVAILABLE: Failed to parse the allocateQuota response"),
        "{}",
        reply.message
    );
    assert_eq!(state.counters.bad_answers, 1);
}

#[test]
fn two_different_keys_are_400_only_where_the_key_is_used() {
    let config = config();
    let mut state = ControlState::new(&config);
    let two = |op| request(op, "/x?key=a", &[("x-api-key", "b")]);
    for op in [READ, METERED] {
        let reply = denied(start(&config, &mut state, &two(op), T0).1);
        assert_eq!(
            (reply.status, reply.message.as_str()),
            (400, MULTIPLE_KEYS_MESSAGE)
        );
    }
    proceeded(start(&config, &mut state, &two(OPEN), T0).1);
}

#[test]
fn custom_locations_replace_the_defaults() {
    let mut config = config();
    if let Some(op) = config.operations.first_mut() {
        op.api_key_locations = vec![KeyLocation::Header("x-shop-key".into())];
    }
    let mut state = ControlState::new(&config);
    let reply = denied(start(&config, &mut state, &request(READ, "/r?key=k", &[]), T0).1);
    assert_eq!(reply.status, 401);
    let (_, step) = start(
        &config,
        &mut state,
        &request(READ, "/r", &[("X-Shop-Key", "k")]),
        T0,
    );
    assert_eq!(callout(&step).kind, CallKind::Check);
}

#[test]
fn the_key_can_be_removed_before_the_backend() {
    let mut config = config();
    config.remove_api_key = true;
    let mut state = ControlState::new(&config);
    let r = request(READ, "/v1/read?a=1&key=good&b=%20", &[]);
    let (mut flow, step) = start(&config, &mut state, &r, T0);
    callout(&step);
    callout(&resume(&mut flow, &config, &mut state, ok(&allowed(1)), T0));
    let edits = proceeded(resume(&mut flow, &config, &mut state, ok(&granted()), T0));
    assert_eq!(edits.new_path.as_deref(), Some("/v1/read?a=1&b=%20"));
    // The second request hits the Check cache: its first call is the quota call.
    let r = request(READ, "/v1/read", &[("x-api-key", "good")]);
    let (mut flow, step) = start(&config, &mut state, &r, T0);
    assert_eq!(callout(&step).kind, CallKind::Quota);
    let edits = proceeded(resume(&mut flow, &config, &mut state, ok(&granted()), T0));
    assert!(edits.remove_headers.contains(&"x-api-key".to_string()));
    assert_eq!(edits.new_path, None);
}

#[test]
fn a_stray_response_is_not_waited_for() {
    let config = config();
    let mut state = ControlState::new(&config);
    let (mut flow, step) = start(&config, &mut state, &request(OPEN, "/o", &[]), T0);
    proceeded(step);
    assert_eq!(
        flow.resume(&config, &mut state, down(), T0),
        Err(NotWaiting)
    );
}

#[test]
fn a_cached_check_is_not_reused_for_another_client_address_or_referer() {
    let config = config();
    let mut state = ControlState::new(&config);
    verified_request(&config, &mut state, "good", T0);
    let headers = [(
        "referer".to_string(),
        "https://elsewhere.example/".to_string(),
    )];
    for (caller_ip, headers) in [("10.9.9.9", &[][..]), ("10.1.2.3", &headers[..])] {
        let (_, step) = Flow::start(
            &config,
            &mut state,
            RequestInput {
                operation: READ,
                operation_id: op_id(2),
                headers,
                path: "/v1/read?key=good",
                caller_ip,
                key_required: false,
            },
            T0 + 1000,
        );
        assert_eq!(
            callout(&step).kind,
            CallKind::Check,
            "{caller_ip} {headers:?}"
        );
    }
}
