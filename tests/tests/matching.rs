//! Which requests reach the backend, and as which operation: through real
//! Envoy, the real filter and a real echo backend.

use std::time::Duration;

use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../specs/matching.yaml");
const BASE_PATH: &str = include_str!("../specs/base_path.yaml");

/// ESPv2 names operations `1.<service name, dots as underscores>.<OperationId>`
/// (the operationId in UpperCamel case); the access log prints `operation=<name>`.
fn op(operation_id: &str) -> String {
    format!("operation=1.matching_endpoints_example_com.{operation_id} ")
}

#[test]
fn matched_get_reaches_the_backend_with_path_and_query() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.get("/hello?name=World&x=%2Fa");
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/hello");
    assert_eq!(seen.query, "name=World&x=%2Fa");
}

#[test]
fn exact_beats_single_variable_beats_double_wildcard() {
    let gw = Gateway::start(MATCHING);
    // Each request carries a unique marker so its access-log line can be found.
    let cases = [
        ("/items/exact", "ItemsExact"),
        ("/items/abc", "ItemsOne"),
        ("/items/a/b/c", "ItemsRest"),
    ];
    for (path, operation_id) in cases {
        let marker = format!("probe={operation_id}");
        let reply = gw.get(&format!("{path}?{marker}"));
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(reply.echoed().path, path);
        let line = gw
            .envoy
            .access_log_line(&marker, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no access-log line for {path}:\n{}", gw.envoy.access_log()));
        let expected = op(operation_id);
        assert!(
            line.contains(&expected),
            "{path} should be logged as {expected}; access log line: {line}"
        );
        for (_, other) in cases.iter().filter(|(_, id)| *id != operation_id) {
            assert!(
                !line.contains(&op(other)),
                "{path} logged as {other}: {line}"
            );
        }
    }
}

#[test]
fn matching_is_case_sensitive() {
    let gw = Gateway::start(MATCHING);
    local_reply(&gw.get("/Hello"), 404, NOT_DEFINED);
    local_reply(&gw.get("/HELLO"), 404, NOT_DEFINED);
    assert_eq!(gw.get("/hello").status, 200);
}

#[test]
fn base_path_is_part_of_every_operation() {
    let gw = Gateway::start(BASE_PATH);
    let reply = gw.get("/api/hello");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/api/hello");
    local_reply(&gw.get("/hello"), 404, NOT_DEFINED);
    local_reply(&gw.get("/api"), 404, NOT_DEFINED);
}

#[test]
fn one_trailing_slash_is_tolerated_and_double_slashes_are_merged_first() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.get("/hello/");
    assert_eq!(reply.status, 200, "{reply:?}");
    // The path is forwarded as received (after Envoy's normalisation).
    assert_eq!(reply.echoed().path, "/hello/");

    // The HCM merges slashes before the filter sees the path, so `//` is one
    // `/`: `/hello//` is `/hello/` and `//hello` is `/hello` (ESPv2's default).
    let reply = gw.get("/hello//");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/hello/");
    let reply = gw.get("//hello");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/hello");

    // A trailing slash adds no segment: `/items/abc/` is still `{id}`, not `**`.
    let reply = gw.get("/items/abc/?probe=slash");
    assert_eq!(reply.status, 200, "{reply:?}");
    let line = gw
        .envoy
        .access_log_line("probe=slash", Duration::from_secs(5))
        .expect("access-log line for /items/abc/");
    assert!(line.contains(&op("ItemsOne")), "{line}");

    // But an extra segment is not a slash.
    local_reply(&gw.get("/hello/x"), 404, NOT_DEFINED);
}

#[test]
fn query_takes_no_part_in_matching() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.get("/hello?path=/items/exact&q=/Hello");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/hello");
    local_reply(&gw.get("/nothing?x=/hello"), 404, NOT_DEFINED);
    let reply = gw.get("/shelves/s1?x=1");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().query, "x=1");
}

#[test]
fn the_operation_name_appears_in_the_access_log() {
    let gw = Gateway::start(MATCHING);
    assert_eq!(gw.send("DELETE", "/shelves/s7?probe=del", &[]).status, 200);
    let line = gw
        .envoy
        .access_log_line("probe=del", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no access-log line:\n{}", gw.envoy.access_log()));
    assert!(line.contains(&op("DeleteShelf")), "{line}");
}
