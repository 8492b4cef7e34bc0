//! Replies the gateway makes itself: ESPv2's exact JSON bodies for 404 and 405,
//! 400 for header names with underscores, 503 JSON for a backend that is down,
//! and a backend's own error replies passed through untouched.

use std::net::TcpListener;

use wasp_tests::echo::STATUS_HEADER;
use wasp_tests::expect::{local_reply, local_reply_starting, method_not_allowed, NOT_DEFINED};
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../../specs/matching.yaml");
const BASE_PATH: &str = include_str!("../../specs/base_path.yaml");

#[test]
fn unknown_path_is_404_with_espv2_json_not_wrapped_twice() {
    let gw = Gateway::start(MATCHING);
    for path in ["/nothing", "/", "/items", "/hello/world", "/shelves"] {
        let reply = gw.get(path);
        local_reply(&reply, 404, NOT_DEFINED);
        // The filter's reply goes through Envoy's local-reply mapper once: the
        // message is the plain text, not a JSON document inside a JSON string.
        assert!(
            !reply.body.contains("\\\""),
            "double-wrapped: {}",
            reply.body
        );
    }
}

#[test]
fn wrong_method_is_405_naming_the_template() {
    let gw = Gateway::start(MATCHING);
    local_reply(
        &gw.send("POST", "/hello", &[]),
        405,
        &method_not_allowed("/hello"),
    );
    local_reply(
        &gw.send("PUT", "/shelves/s1", &[]),
        405,
        &method_not_allowed("/shelves/{shelf}"),
    );
    // Without CORS configured, OPTIONS on a known path is a wrong method too.
    local_reply(
        &gw.send("OPTIONS", "/hello", &[]),
        405,
        &method_not_allowed("/hello"),
    );
}

#[test]
fn wrong_method_names_the_template_with_base_path() {
    let gw = Gateway::start(BASE_PATH);
    local_reply(
        &gw.send("POST", "/api/hello", &[]),
        405,
        &method_not_allowed("/api/hello"),
    );
}

#[test]
fn header_names_with_underscores_are_rejected() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.send("GET", "/hello", &[("x_custom_header", "1")]);
    assert_eq!(reply.status, 400, "{reply:?}");
    // The same request without the underscore header is fine.
    assert_eq!(gw.get("/hello").status, 200);
}

#[test]
fn backend_down_is_503_json() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start_with_backend(MATCHING, &format!("http://{closed}"), None);
    local_reply_starting(&gw.get("/hello"), 503, "upstream connect error");
}

#[test]
fn backend_error_replies_pass_through_untouched() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.send("GET", "/hello", &[(STATUS_HEADER, "404")]);
    assert_eq!(reply.status, 404, "{reply:?}");
    // The echo backend's own body, not a gateway JSON error.
    assert_eq!(reply.echoed().path, "/hello");
    let reply = gw.send("GET", "/hello", &[(STATUS_HEADER, "503")]);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.echoed().path, "/hello");
}
