//! `FilterConfig::from_json` on any bytes: never panics; an accepted config serializes back
//! to itself, and when the filter builds it every operation is reachable and binds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_config::FilterConfig;
use wasp_filter::gateway::Gateway;
use wasp_fuzz::{check_operations_reachable, decide_and_check, envoy_headers, instantiate};

fuzz_target!(|data: &[u8]| {
    let Ok(config) = FilterConfig::from_json(data) else {
        return;
    };
    let json = match serde_json::to_vec(&config) {
        Ok(json) => json,
        Err(e) => panic!("an accepted config does not serialize: {e}"),
    };
    match FilterConfig::from_json(&json) {
        Ok(again) => assert_eq!(again, config, "config does not round-trip"),
        Err(e) => panic!("an accepted config, serialized, is refused: {e}"),
    }
    let Ok(gateway) = Gateway::build(config.clone()) else {
        return;
    };
    check_operations_reachable(&gateway.matcher, &config.operations);
    for op in &config.operations {
        let Ok(template) = wasp_config::PathTemplate::parse(&op.template) else {
            continue;
        };
        let head = wasp_fuzz::RequestHead {
            method: op.method.clone(),
            path: format!("{}?q=1", instantiate(&template)),
            headers: vec![("authorization".into(), "Bearer t".into())],
            directives: Vec::new(),
        };
        decide_and_check(&gateway, &envoy_headers(&head));
    }
});
