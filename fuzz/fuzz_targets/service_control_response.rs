//! Service Control response decoding: the bodies a control service answers with. Input: a
//! 2-byte big-endian length, that many bytes of Check answer, and the rest as the
//! AllocateQuota answer (both protobuf). Each body is decoded as every response type and
//! interpreted, then both are played through the per-request flow as HTTP 200 answers (twice,
//! so the second request meets the caches the first filled).
//!
//! Checks: never a panic; every denial is a 4xx/5xx whose JSON body carries its status.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasp_control_client::check::{interpret as interpret_check, CheckOutcome};
use wasp_control_client::quota::{interpret as interpret_quota, QuotaOutcome};
use wasp_control_client::{
    CalloutResult, ControlClientConfig, ControlState, Flow, OperationIds, Reply, RequestInput, Step,
};
use wasp_servicecontrol::{AllocateQuotaResponse, CheckResponse, Message, ReportResponse};

const NOW_MS: u64 = 1_700_000_000_000;

fn config() -> &'static ControlClientConfig {
    static CONFIG: OnceLock<ControlClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let json = br#"{"service_name": "fuzz.example.com", "service_config_id": "cfg-1",
            "producer_project_id": "fuzz-project",
            "endpoint": {"cluster": "control", "authority": "control.local"},
            "operations": [
                {"name": "1.fuzz.Read", "api_key_required": true, "metric_costs": {"reads": 2}},
                {"name": "1.fuzz.Metered", "metric_costs": {"reads": 1}}]}"#;
        ControlClientConfig::from_json(json).unwrap()
    })
}

fn check_reply(reply: &Reply) {
    assert!(
        (400..600).contains(&reply.status),
        "status {}",
        reply.status
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
    assert_eq!(body["code"].as_u64(), Some(u64::from(reply.status)));
}

fn decode_all(body: &[u8]) {
    if let Ok(response) = CheckResponse::decode(body) {
        match interpret_check(&response, &config().service_name) {
            CheckOutcome::Denied(denial) => check_reply(&denial.reply),
            CheckOutcome::Allowed(_) | CheckOutcome::Unavailable => {}
        }
    }
    if let Ok(response) = AllocateQuotaResponse::decode(body) {
        match interpret_quota(&response) {
            QuotaOutcome::Exhausted(reply) => {
                assert_eq!(reply.status, 429);
                check_reply(&reply);
            }
            QuotaOutcome::Denied(reply) => check_reply(&reply),
            QuotaOutcome::Granted => {}
        }
    }
    let _ = ReportResponse::decode(body);
}

fn play(
    state: &mut ControlState,
    ids: &mut OperationIds,
    operation: &str,
    check: &[u8],
    quota: &[u8],
) {
    let config = config();
    let headers = vec![
        ("x-api-key".to_string(), "fuzz-key".to_string()),
        ("user-agent".to_string(), "fuzz".to_string()),
    ];
    let input = RequestInput {
        operation,
        operation_id: ids.next_id(),
        headers: &headers,
        path: "/v1/read?x=1",
        caller_ip: "10.0.0.1",
        key_required: false,
    };
    let (mut flow, mut step) = Flow::start(config, state, input, NOW_MS);
    for _ in 0..16 {
        let Step::Callout(callout) = &step else { break };
        let body = match callout.kind {
            wasp_control_client::CallKind::Check => check,
            wasp_control_client::CallKind::Quota => quota,
            wasp_control_client::CallKind::Report => &[][..],
        };
        // The real answer first; retries of it meet a failed call.
        let result = if callout.attempt == 1 {
            CalloutResult::Response {
                status: Some(200),
                body: body.to_vec(),
            }
        } else {
            CalloutResult::Failed("connection reset".into())
        };
        step = match flow.resume(config, state, result, NOW_MS) {
            Ok(step) => step,
            Err(_) => panic!("resume refused the answer to its own callout"),
        };
    }
    match &step {
        Step::Deny(reply) => check_reply(reply),
        Step::Proceed(_) => {}
        Step::Callout(_) => panic!("the flow kept calling out"),
    }
    let _ = flow.report(200, NOW_MS + 5, Some(3), 100, 200);
    let _ = state.drain_logs();
}

fuzz_target!(|data: &[u8]| {
    let (check, quota) = match data {
        [high, low, rest @ ..] => {
            let len = (usize::from(*high) << 8 | usize::from(*low)).min(rest.len());
            rest.split_at(len)
        }
        _ => (data, &[][..]),
    };
    decode_all(check);
    decode_all(quota);
    let mut state = ControlState::new(config());
    let mut ids = OperationIds::new(7);
    for _ in 0..2 {
        play(&mut state, &mut ids, "1.fuzz.Read", check, quota);
        play(&mut state, &mut ids, "1.fuzz.Metered", check, quota);
    }
});
