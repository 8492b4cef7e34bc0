//! The route header is the filter's alone: a client-sent `x-wasp-route` (or any
//! `x-wasp-*` header) never picks a route and never reaches the backend.

use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../../specs/matching.yaml");

/// Every route id the compiler wrote into filter.json.
fn route_ids(gw: &Gateway) -> Vec<String> {
    let text = std::fs::read_to_string(&gw.compiled.filter_json).unwrap();
    let config: wasp_config::FilterConfig = serde_json::from_str(&text).unwrap();
    config.routes.into_iter().map(|r| r.id).collect()
}

#[test]
fn a_client_sent_route_header_never_picks_a_route() {
    let gw = Gateway::start(MATCHING);
    let ids = route_ids(&gw);
    assert!(!ids.is_empty(), "filter.json has no routes");
    for id in &ids {
        let headers = [(wasp_config::ROUTE_HEADER, id.as_str())];
        local_reply(&gw.send("GET", "/nothing", &headers), 404, NOT_DEFINED);
        let reply = gw.send("POST", "/hello", &headers);
        assert_eq!(reply.status, 405, "route {id}: {reply:?}");
    }
}

#[test]
fn internal_headers_never_reach_the_backend() {
    let gw = Gateway::start(MATCHING);
    let ids = route_ids(&gw);
    let forged = ids.last().cloned().unwrap_or_else(|| "forged".into());
    let reply = gw.send(
        "GET",
        "/hello",
        &[
            (wasp_config::ROUTE_HEADER, &forged),
            ("x-wasp-operation", "1.evil.op"),
            ("x-other", "kept"),
        ],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    let internal: Vec<_> = seen
        .headers
        .keys()
        .filter(|name| name.starts_with("x-wasp-"))
        .collect();
    assert!(
        internal.is_empty(),
        "backend saw internal headers {internal:?}: {seen:?}"
    );
    assert_eq!(seen.header("x-other"), Some("kept"));
}
