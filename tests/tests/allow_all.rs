//! `x-google-allow: all`: unconfigured calls pass through to the backend for
//! GET, DELETE, PATCH, POST and PUT; HEAD and OPTIONS on unknown paths get 404.

use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::Gateway;

const ALLOW_ALL: &str = include_str!("../specs/allow_all.yaml");

#[test]
fn unknown_paths_pass_through_for_the_five_methods() {
    let gw = Gateway::start(ALLOW_ALL);
    for method in ["GET", "DELETE", "PATCH", "POST", "PUT"] {
        let reply = gw.send(method, "/not/in/the/spec?q=1", &[]);
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
        let seen = reply.echoed();
        assert_eq!(seen.method, method);
        assert_eq!(seen.path, "/not/in/the/spec");
        assert_eq!(seen.query, "q=1");
    }
    // Case-sensitive: /Hello is not /hello, so it is simply passed through too.
    assert_eq!(gw.get("/Hello").echoed().path, "/Hello");
}

#[test]
fn head_and_options_on_unknown_paths_are_404() {
    let gw = Gateway::start(ALLOW_ALL);
    let reply = gw.send("HEAD", "/not/in/the/spec", &[]);
    assert_eq!(reply.status, 404, "{reply:?}");
    local_reply(
        &gw.send("OPTIONS", "/not/in/the/spec", &[]),
        404,
        NOT_DEFINED,
    );
}

#[test]
fn configured_operations_still_match_and_other_methods_pass_through() {
    let gw = Gateway::start(ALLOW_ALL);
    assert_eq!(gw.get("/hello").echoed().path, "/hello");
    // ESPv2 orders the generated `/**` routes before its 405 routes, so a
    // configured path with an unconfigured method is passed through, not 405.
    let reply = gw.send("POST", "/hello", &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().method, "POST");
}
