//! The header-map decision (`wasp_filter::decision::decide`) against a fixed compiled config,
//! `fuzz/configs/decision.json` (made by `wasp compile` from `configs/decision.yaml`: path
//! variables, `**`, custom verbs, both path translations, backend auth, JWT, API keys and a
//! CORS preset). Input: a request head (see `wasp_fuzz::request_head`); the filter sees
//! `:method` and `:path` first, then the other lines as headers in order (duplicates kept,
//! a second `:path` line included).
//!
//! Checks (`wasp_fuzz::check_decision`): never a panic; a reply is a 4xx/5xx with ESPv2's JSON
//! body and never the "cannot happen" 500; a forward names a real operation and removes only
//! headers the request sent, each once.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasp_config::FilterConfig;
use wasp_filter::gateway::Gateway;
use wasp_fuzz::{decide_and_check, envoy_headers, request_head};

fn gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let config = FilterConfig::from_json(include_bytes!("../configs/decision.json")).unwrap();
        Gateway::build(config).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let head = request_head(data);
    decide_and_check(gateway(), &envoy_headers(&head));
});
