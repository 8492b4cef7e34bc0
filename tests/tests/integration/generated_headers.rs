//! `--generated-header-prefix` (ESPv2's `--generated_header_prefix`): the headers the
//! gateway generates for the backend (user info, consumer, operation name) take the
//! prefix; clients' copies under either the new or the default names never pass.

use wasp_tests::idp::JWKS_PATH;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, Idp, SigningKey};

use crate::jwt_support::{self, bearer, one_provider, AUDIENCE};
use crate::keys_support::*;

#[test]
fn jwt_user_info_and_the_operation_name_use_the_prefix() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = jwt_support::start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &[
            "--generated-header-prefix",
            "X-Gw-",
            "--enable-operation-name-header",
        ],
    );
    let seen = jwt_support::passes(&gw, "/secure", &bearer(&key.mint(&idp.claims(AUDIENCE))));
    assert!(seen.header("x-gw-api-userinfo").is_some(), "{seen:?}");
    assert_eq!(seen.header("x-endpoint-api-userinfo"), None);
    assert_eq!(
        seen.header("x-gw-api-operation-name"),
        Some("1.jwt_example_com.Secure")
    );
    // Forged copies of either name never reach the backend of an open operation.
    let forged = [
        ("x-gw-api-userinfo", "forged".to_string()),
        ("x-endpoint-api-userinfo", "forged".to_string()),
        ("x-gw-api-operation-name", "forged".to_string()),
    ];
    let seen = jwt_support::passes(&gw, "/open", &forged);
    for (name, _) in &forged {
        assert_ne!(
            seen.header(name),
            Some("forged"),
            "{name} reached the backend"
        );
    }
}

#[test]
fn consumer_headers_use_the_prefix() {
    let paths = operation("/items", "get", "listItems", &[]);
    let input = CompileInput::new(&shop(KEY_REQUIRED, &paths))
        .args(["--producer-project-id", PRODUCER])
        .args(["--generated-header-prefix", "X-Gw-"]);
    let gw = ControlledGateway::start_with(input, ControlOptions::default());
    let key = gw.control.create_key("acme", 42);
    let reply = get(
        &gw,
        &format!("/items?key={}", key.key),
        &[("x-gw-api-consumer-number", "1"), (CONSUMER_NUMBER, "1")],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.header("x-gw-api-consumer-type"), Some("PROJECT"));
    assert_eq!(seen.header("x-gw-api-consumer-number"), Some("42"));
    assert_eq!(
        seen.header(CONSUMER_NUMBER),
        None,
        "the default name passed"
    );
}
