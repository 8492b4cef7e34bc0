//! Where the gateway looks for the API key, through real Envoy and the real `wasp-control`:
//! ESPv2's defaults (`?key=`, `?api_key=`, `x-api-key`), custom apiKey schemes replacing
//! them, two different keys refused, and `--remove-api-key` (the backend sees neither the
//! key header nor the parameter; the rest of the query is intact, also through
//! CONSTANT_ADDRESS path translation).

use wasp_tests::expect::local_reply;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, EchoBackend};

use crate::keys_support::*;

const SCHEMES: &str = "securityDefinitions:\n  \
    api_key: {type: apiKey, in: query, name: key}\n  \
    header_key: {type: apiKey, in: header, name: X-Shop-Key}\n  \
    query_key: {type: apiKey, in: query, name: token}\n";

fn located() -> String {
    shop(
        SCHEMES,
        &[
            operation(
                "/defaults",
                "get",
                "defaults",
                &["security: [{api_key: []}]"],
            ),
            operation(
                "/header",
                "get",
                "header",
                &["security: [{header_key: []}]"],
            ),
            operation("/query", "get", "query", &["security: [{query_key: []}]"]),
        ]
        .concat(),
    )
}

#[test]
fn the_default_locations_are_key_api_key_and_x_api_key() {
    let gw = ControlledGateway::start(&located());
    let key = gw.control.create_key("acme", 7);
    let k = key.key.as_str();

    let reply = gw.get(&format!("/defaults?key={k}"));
    assert_consumer(&reply, 7);
    // Without --remove-api-key the backend gets the request as sent.
    assert_eq!(reply.echoed().query, format!("key={k}"));
    assert_consumer(&gw.get(&format!("/defaults?api_key={k}")), 7);
    assert_consumer(&get(&gw, "/defaults", &[("x-api-key", k)]), 7);
    assert_consumer(&get(&gw, "/defaults", &[("X-API-KEY", k)]), 7);

    // Each location is read: a bogus key there is checked and refused.
    local_reply(&gw.get("/defaults?key=AIzaBogus"), 400, INVALID_KEY);
    local_reply(&gw.get("/defaults?api_key=AIzaBogus"), 400, INVALID_KEY);
    local_reply(
        &get(&gw, "/defaults", &[("x-api-key", "AIzaBogus")]),
        400,
        INVALID_KEY,
    );
    // Query parameter names are case-sensitive; other names are not key locations.
    for path in [
        format!("/defaults?KEY={k}"),
        format!("/defaults?apikey={k}"),
        format!("/defaults?token={k}"),
    ] {
        local_reply(&gw.get(&path), 401, MISSING_KEY);
    }
}

#[test]
fn custom_locations_replace_the_defaults() {
    let gw = ControlledGateway::start(&located());
    let key = gw.control.create_key("acme", 8);
    let k = key.key.as_str();

    assert_consumer(&get(&gw, "/header", &[("X-Shop-Key", k)]), 8);
    local_reply(
        &get(&gw, "/header", &[("x-shop-key", "AIzaBogus")]),
        400,
        INVALID_KEY,
    );
    local_reply(&gw.get(&format!("/header?key={k}")), 401, MISSING_KEY);
    local_reply(&get(&gw, "/header", &[("x-api-key", k)]), 401, MISSING_KEY);

    assert_consumer(&gw.get(&format!("/query?token={k}")), 8);
    local_reply(&gw.get("/query?token=AIzaBogus"), 400, INVALID_KEY);
    local_reply(&gw.get(&format!("/query?key={k}")), 401, MISSING_KEY);
    local_reply(&gw.get(&format!("/query?api_key={k}")), 401, MISSING_KEY);
    local_reply(&get(&gw, "/query", &[("x-api-key", k)]), 401, MISSING_KEY);
}

#[test]
fn two_different_keys_are_refused_and_the_same_key_twice_is_one() {
    let gw = ControlledGateway::start(&located());
    let acme = gw.control.create_key("acme", 9);
    let globex = gw.control.create_key("globex", 10);
    let (a, g) = (acme.key.as_str(), globex.key.as_str());

    local_reply(
        &gw.get(&format!("/defaults?key={a}&api_key={g}")),
        400,
        TWO_KEYS,
    );
    local_reply(
        &get(&gw, &format!("/defaults?key={a}"), &[("x-api-key", g)]),
        400,
        TWO_KEYS,
    );
    local_reply(
        &gw.get(&format!("/defaults?key={a}&key={g}")),
        400,
        TWO_KEYS,
    );
    assert_consumer(&gw.get(&format!("/defaults?key={a}&api_key={a}")), 9);
    assert_consumer(
        &get(&gw, &format!("/defaults?key={g}"), &[("x-api-key", g)]),
        10,
    );
}

#[test]
fn remove_api_key_hides_the_key_from_the_backend_and_keeps_the_rest() {
    // An operation with its own backend and CONSTANT_ADDRESS: path parameters become
    // query parameters after the client's query, which has lost its key.
    let own = EchoBackend::start();
    let constant = format!(
        "x-google-backend: {{address: '{}/catalog', path_translation: CONSTANT_ADDRESS, disable_auth: true}}",
        own.url()
    );
    let append = format!(
        "x-google-backend: {{address: '{}/v2', path_translation: APPEND_PATH_TO_ADDRESS, disable_auth: true}}",
        own.url()
    );
    let spec = shop(
        SCHEMES,
        &[
            operation(
                "/defaults",
                "get",
                "defaults",
                &["security: [{api_key: []}]"],
            ),
            operation(
                "/header",
                "get",
                "header",
                &["security: [{header_key: []}]"],
            ),
            operation(
                "/things/{id}",
                "get",
                "thing",
                &["security: [{api_key: []}]", &constant],
            ),
            operation(
                "/appended",
                "get",
                "appended",
                &["security: [{api_key: []}]", &append],
            ),
        ]
        .concat(),
    );
    let gw = ControlledGateway::start_with(
        CompileInput::new(&spec).args(["--remove-api-key"]),
        ControlOptions::default(),
    );
    let key = gw.control.create_key("acme", 11);
    let k = key.key.as_str();

    let reply = gw.get(&format!("/defaults?a=1&key={k}&b=%20x&c"));
    assert_consumer(&reply, 11);
    let seen = reply.echoed();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/defaults", "a=1&b=%20x&c")
    );

    let seen = gw.get(&format!("/defaults?api_key={k}")).echoed();
    assert_eq!((seen.path.as_str(), seen.query.as_str()), ("/defaults", ""));

    let reply = get(&gw, "/defaults?x=y", &[("x-api-key", k)]);
    assert_consumer(&reply, 11);
    let seen = reply.echoed();
    assert_eq!(seen.header("x-api-key"), None, "{seen:?}");
    assert_eq!(seen.query, "x=y");

    let seen = get(&gw, "/header", &[("X-Shop-Key", k)]).echoed();
    assert_eq!(seen.header("x-shop-key"), None, "{seen:?}");

    let reply = gw.get(&format!("/things/7?key={k}&x=y"));
    assert_consumer(&reply, 11);
    let seen = reply.echoed();
    assert_eq!(seen.served_by, Some(own.addr().to_string()), "{seen:?}");
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/catalog", "x=y&id=7")
    );

    let seen = gw.get(&format!("/appended?key={k}&x=y")).echoed();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/v2/appended", "x=y")
    );
}
