//! Hostile requests never panic the flow (a panic kills the filter's VM): arbitrary header
//! names and values, raw paths and queries, and arbitrary callout answers.

use proptest::prelude::*;
use wasp_control_client::{
    CalloutResult, ControlClientConfig, ControlState, Flow, OperationIds, RequestInput, Step,
};

fn config() -> ControlClientConfig {
    let json = r#"{"service_name": "s", "producer_project_id": "p", "remove_api_key": true,
        "endpoint": {"cluster": "c", "authority": "a"},
        "operations": [
            {"name": "required", "api_key_required": true, "metric_costs": {"m": 2},
             "api_key_locations": [{"header": "x-k"}, {"query": "k"}]},
            {"name": "metered", "metric_costs": {"m": -5}},
            {"name": "open"}]}"#;
    ControlClientConfig::from_json(json.as_bytes()).unwrap()
}

fn any_result() -> impl Strategy<Value = CalloutResult> {
    prop_oneof![
        (
            proptest::option::of(any::<u16>()),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(status, body)| CalloutResult::Response { status, body }),
        ".{0,20}".prop_map(CalloutResult::Failed),
    ]
}

proptest! {
    #[test]
    fn any_request_and_any_answers(
        operation in prop_oneof![Just("required"), Just("metered"), Just("open"), Just("unknown")],
        headers in proptest::collection::vec(("[a-zA-Z-]{1,12}", ".{0,24}"), 0..6),
        path in "/[ -~]{0,40}",
        results in proptest::collection::vec(any_result(), 0..12),
        now in any::<u64>(),
    ) {
        let config = config();
        let mut state = ControlState::new(&config);
        let input = RequestInput { operation, operation_id: OperationIds::new(1).next_id(), headers: &headers, path: &path, caller_ip: "", key_required: false };
        let (mut flow, mut step) = Flow::start(&config, &mut state, input, now);
        for result in results {
            let Step::Callout(callout) = &step else { break };
            prop_assert!(callout.timeout_ms > 0);
            step = flow.resume(&config, &mut state, result, now).unwrap();
        }
        if let Step::Deny(reply) = &step {
            prop_assert!((400..600).contains(&reply.status));
            let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
            prop_assert_eq!(body["code"].as_u64(), Some(u64::from(reply.status)));
        }
        let _ = flow.report(200, now, None, 0, 0);
    }
}
