//! Which requests reach the backend, and as which operation: through real
//! Envoy, the real filter and a real echo backend. The operation a request
//! matched is read where a user sees it, in the generated access log.

use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../../specs/matching.yaml");
const BASE_PATH: &str = include_str!("../../specs/base_path.yaml");

/// ESPv2 names operations `1.<service name, dots as underscores>.<OperationId>`
/// (the operationId in UpperCamel case).
fn op(operation_id: &str) -> String {
    format!("1.matching_endpoints_example_com.{operation_id}")
}

/// Sends `method path`; asserts the backend answered and the access log names
/// `operation_id`. Returns the path the backend received.
fn routed(gw: &Gateway, method: &str, path: &str, operation_id: &str) -> String {
    let (reply, operation) = gw.send_logged(method, path);
    assert_eq!(reply.status, 200, "{method} {path}: {reply:?}");
    assert_eq!(
        operation,
        op(operation_id),
        "{method} {path} matched the wrong operation"
    );
    reply.echoed().path
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
    assert_eq!(
        routed(&gw, "GET", "/items/exact", "ItemsExact"),
        "/items/exact"
    );
    assert_eq!(routed(&gw, "GET", "/items/abc", "ItemsOne"), "/items/abc");
    assert_eq!(
        routed(&gw, "GET", "/items/a/b/c", "ItemsRest"),
        "/items/a/b/c"
    );
    // `{rest=**}` matches zero segments after its '/' (ESPv2 vector PT-33)...
    assert_eq!(routed(&gw, "GET", "/items/", "ItemsRest"), "/items/");
    // ...but the '/' before it is required (PT-34).
    local_reply(&gw.get("/items"), 404, NOT_DEFINED);
}

#[test]
fn matching_is_case_sensitive() {
    let gw = Gateway::start(MATCHING);
    local_reply(&gw.get("/Hello"), 404, NOT_DEFINED);
    local_reply(&gw.get("/HELLO"), 404, NOT_DEFINED);
    local_reply(&gw.get("/Items/exact"), 404, NOT_DEFINED);
    // Variables keep the case they were sent with.
    assert_eq!(
        routed(&gw, "GET", "/items/EXACT", "ItemsOne"),
        "/items/EXACT"
    );
}

#[test]
fn base_path_is_part_of_every_operation() {
    let gw = Gateway::start(BASE_PATH);
    let reply = gw.get("/api/hello");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/api/hello");
    local_reply(&gw.get("/hello"), 404, NOT_DEFINED);
    local_reply(&gw.get("/api"), 404, NOT_DEFINED);
    local_reply(&gw.get("/api/api/hello"), 404, NOT_DEFINED);
}

#[test]
fn one_trailing_slash_is_tolerated_and_double_slashes_are_merged_first() {
    let gw = Gateway::start(MATCHING);
    // The path is forwarded as received (after Envoy's normalisation).
    assert_eq!(routed(&gw, "GET", "/hello/", "Hello"), "/hello/");
    // The HCM merges slashes before the filter sees the path, so `//` is one
    // `/`: `/hello//` is `/hello/` and `//hello` is `/hello` (ESPv2's default).
    assert_eq!(routed(&gw, "GET", "/hello//", "Hello"), "/hello/");
    assert_eq!(routed(&gw, "GET", "//hello", "Hello"), "/hello");
    assert_eq!(routed(&gw, "GET", "/items//abc", "ItemsOne"), "/items/abc");
    // A trailing slash adds no segment: `/items/abc/` is still `{id}`, not `**`.
    assert_eq!(routed(&gw, "GET", "/items/abc/", "ItemsOne"), "/items/abc/");
    // But an extra segment is not a slash.
    local_reply(&gw.get("/hello/x"), 404, NOT_DEFINED);
}

#[test]
fn envoy_normalises_the_path_before_matching() {
    let gw = Gateway::start(MATCHING);
    // Percent-encoded unreserved characters are decoded, dot segments resolved,
    // and the normalised path is what the backend receives.
    assert_eq!(routed(&gw, "GET", "/hell%6F", "Hello"), "/hello");
    assert_eq!(
        routed(&gw, "GET", "/items/x/../exact", "ItemsExact"),
        "/items/exact"
    );
    assert_eq!(routed(&gw, "GET", "/hello/.", "Hello"), "/hello/");
    // An encoded slash stays encoded and is part of one segment.
    assert_eq!(
        routed(&gw, "GET", "/items/a%2Fb", "ItemsOne"),
        "/items/a%2Fb"
    );
    // So an encoded trailing slash is not a trailing slash.
    local_reply(&gw.get("/hello%2F"), 404, NOT_DEFINED);
}

#[test]
fn query_takes_no_part_in_matching() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.get("/hello?path=/items/exact&q=/Hello");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().path, "/hello");
    assert_eq!(reply.echoed().query, "path=/items/exact&q=/Hello");
    local_reply(&gw.get("/nothing?x=/hello"), 404, NOT_DEFINED);
    assert_eq!(
        routed(&gw, "GET", "/items/exact?id=abc", "ItemsExact"),
        "/items/exact"
    );
}

#[test]
fn the_operation_name_appears_in_the_access_log() {
    let gw = Gateway::start(MATCHING);
    assert_eq!(
        routed(&gw, "DELETE", "/shelves/s7", "DeleteShelf"),
        "/shelves/s7"
    );
    assert_eq!(routed(&gw, "GET", "/shelves/s7", "GetShelf"), "/shelves/s7");
    // A request that matched nothing is logged without an operation.
    let (reply, operation) = gw.send_logged("GET", "/nothing");
    assert_eq!(reply.status, 404);
    assert_eq!(operation, "-");
}

#[test]
fn the_access_log_never_shows_the_query() {
    // API keys and JWTs travel in the query (`?key=`, `?access_token=`); logs outlive them.
    let gw = Gateway::start(MATCHING);
    let (reply, line) =
        gw.send_logged_line("GET", "/shelves/s7?key=k-secret-1&access_token=t-secret-2");
    assert_eq!(reply.status, 200);
    assert!(line.contains("\"GET /shelves/s7 HTTP/1.1\""), "{line}");
    assert!(!line.contains("secret"), "{line}");
}

fn with_options(args: &[&str]) -> Gateway {
    let echo = wasp_tests::EchoBackend::start();
    let url = echo.url();
    let input = wasp_tests::CompileInput::new(MATCHING).args(args);
    Gateway::start_compiled(&input, &url, Some(echo))
}

#[test]
fn each_normalization_can_be_turned_off_as_in_espv2() {
    let gw = with_options(&["--disable-normalize-path"]);
    // Matched and forwarded as sent: no decoding, dot segments are segments.
    local_reply(&gw.get("/hell%6F"), 404, NOT_DEFINED);
    assert_eq!(
        routed(&gw, "GET", "/items/x/../exact", "ItemsRest"),
        "/items/x/../exact"
    );

    let gw = with_options(&["--disable-merge-slashes-in-path"]);
    local_reply(&gw.get("//hello"), 404, NOT_DEFINED);
    assert_eq!(routed(&gw, "GET", "/hello", "Hello"), "/hello");
}

#[test]
fn escaped_slashes_can_be_redirected_with_espv2s_json_body() {
    let gw = with_options(&["--disallow-escaped-slashes-in-path"]);
    let request = b"GET /items/a%2Fb HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let response = wasp_tests::http::send_raw_response(gw.envoy.listener, request).unwrap();
    assert!(response.starts_with("HTTP/1.1 307 "), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("\r\nlocation: /items/a/b\r\n"), "{response}");
    assert!(
        lower.contains("content-type: application/json"),
        "{response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).ok(),
        Some(serde_json::json!({"code": 307, "message": ""})),
        "{response}"
    );
    // The unescaped path it points at is served.
    assert_eq!(routed(&gw, "GET", "/items/a/b", "ItemsRest"), "/items/a/b");
}

#[test]
fn wildcards_refuse_colons_only_when_told() {
    // By default `{id}` and `{rest=**}` take a segment with a colon.
    let gw = Gateway::start(MATCHING);
    routed(&gw, "GET", "/items/a:b", "ItemsOne");
    routed(&gw, "GET", "/items/x/a:b", "ItemsRest");

    let input =
        wasp_tests::CompileInput::new(MATCHING).args(["--disallow-colon-in-wildcard-path-segment"]);
    let echo = wasp_tests::EchoBackend::start();
    let url = echo.url();
    let gw = Gateway::start_compiled(&input, &url, Some(echo));
    for path in ["/items/a:b", "/items/x/a:b"] {
        local_reply(&gw.get(path), 404, NOT_DEFINED);
    }
    routed(&gw, "GET", "/items/ab", "ItemsOne");
    routed(&gw, "GET", "/items/x/ab", "ItemsRest");
}
