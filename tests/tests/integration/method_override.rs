//! `X-HTTP-Method-Override` (ESPv2 applies it first): the overridden method
//! picks the operation, decides 404/405, and is the method the backend sees;
//! the override header itself is removed.

use wasp_tests::expect::{local_reply, method_not_allowed};
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../../specs/matching.yaml");
const OVERRIDE: &str = "x-http-method-override";

#[test]
fn the_overridden_method_is_matched_and_forwarded() {
    let gw = Gateway::start(MATCHING);
    let reply = gw.send("POST", "/shelves/s1", &[(OVERRIDE, "DELETE")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.header(OVERRIDE),
        None,
        "the override header reached the backend"
    );

    let reply = gw.send("POST", "/hello", &[(OVERRIDE, "GET")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().method, "GET");
}

#[test]
fn a_wrong_overridden_method_is_405() {
    let gw = Gateway::start(MATCHING);
    local_reply(
        &gw.send("GET", "/hello", &[(OVERRIDE, "PUT")]),
        405,
        &method_not_allowed("/hello"),
    );
}

#[test]
fn the_overridden_methods_backend_rule_applies() {
    let backend = wasp_tests::EchoBackend::start();
    let spec = format!(
        "swagger: \"2.0\"
info: {{title: override, version: \"1.0\"}}
host: override.example.com
paths:
  /hello/{{name}}:
    get:
      operationId: helloGet
      x-google-backend: {{address: '{url}/helloGET', disable_auth: true}}
      responses: {{'200': {{description: ok}}}}
    post:
      operationId: helloPost
      responses: {{'200': {{description: ok}}}}
",
        url = backend.url()
    );
    let gw = Gateway::start_with_backend(&spec, "http://127.0.0.1:9", None);
    let reply = gw.send("POST", "/hello/world", &[(OVERRIDE, "GET")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/helloGET", "name=world")
    );
    assert_eq!(seen.header(OVERRIDE), None);
}

/// Spellings the gateway does not interpret are removed: a backend framework that honours
/// one would run the request as a method the gateway did not authorize.
#[test]
fn other_override_headers_never_reach_the_backend() {
    let gw = Gateway::start(MATCHING);
    for header in ["x-method-override", "X-HTTP-Method", "x-http-method"] {
        let reply = gw.send("DELETE", "/shelves/s1", &[(header, "GET")]);
        assert_eq!(reply.status, 200, "{header}: {reply:?}");
        let seen = reply.echoed();
        assert_eq!(seen.method, "DELETE", "{header} changed the method");
        assert_eq!(
            seen.header(&header.to_ascii_lowercase()),
            None,
            "{header} reached the backend"
        );
    }
    // They do not pick the operation either: POST stays a 405 here.
    let reply = gw.send("POST", "/shelves/s1", &[("x-method-override", "GET")]);
    assert_eq!(reply.status, 405, "{reply:?}");
}
