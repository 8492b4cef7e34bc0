//! The JWT stage inside the whole request pipeline: a request that waited for cold keys
//! still gets its backend's ID token, path translation and `X-Forwarded-Authorization`;
//! its body is held and then forwarded whole; `X-HTTP-Method-Override` picks the
//! operation whose requirement applies.

use std::time::Duration;

use serde_json::json;
use wasp_tests::echo::sha256_hex;
use wasp_tests::idp::JWKS_PATH;
use wasp_tests::{Client, CompileInput, Gateway, HyperEcho, Idp, MetadataServer, SigningKey};

use crate::jwt_support::*;

const BACKEND_AUDIENCE: &str = "https://backend.audience.example";

/// `/remote/{id}` goes to `<backend>/api` (CONSTANT_ADDRESS) with an ID token for
/// [`BACKEND_AUDIENCE`]; `/items` is open for GET and secured for POST and DELETE.
fn spec(idp: &Idp, backend: &HyperEcho) -> String {
    let remote = format!(
        "  /remote/{{id}}:\n    get:\n      operationId: remote\n      x-google-backend: {{address: '{}/api', jwt_audience: '{BACKEND_AUDIENCE}'}}\n      responses: {{'200': {{description: ok}}}}\n",
        backend.url()
    );
    let items = "  /items:\n    get:\n      operationId: listItems\n      security: []\n      responses: {'200': {description: ok}}\n    post:\n      operationId: createItem\n      responses: {'200': {description: ok}}\n    delete:\n      operationId: deleteItems\n      responses: {'200': {description: ok}}\n";
    api(
        &[provider("idp", idp, Some(JWKS_PATH), &[])],
        Some("[{idp: []}]"),
        &[remote, items.to_string()],
    )
}

fn gateway(idp: &Idp, metadata: &MetadataServer) -> (Gateway, HyperEcho) {
    let backend = HyperEcho::plain();
    let input = CompileInput::new(&spec(idp, &backend)).args(["--metadata-url", &metadata.url()]);
    (
        Gateway::start_compiled(&input, &backend.url(), None),
        backend,
    )
}

#[test]
fn a_request_that_waited_for_keys_gets_its_backend_token_and_path() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.set_delay(Duration::from_millis(800));
    let metadata = MetadataServer::start();
    let (gw, _backend) = gateway(&idp, &metadata);
    let claims = idp.claims(AUDIENCE);
    let token = key.mint(&claims);
    // The first request arrives before the keys: it is paused, then resumed.
    let seen = passes(&gw, "/remote/7?x=1", &bearer(&token));
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/api", "x=1&id=7")
    );
    assert_eq!(seen.id_token_audience(), Some(BACKEND_AUDIENCE), "{seen:?}");
    assert_eq!(
        seen.header("x-forwarded-authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(userinfo(&seen), claims);
    // And the same, warm.
    let again = passes(&gw, "/remote/8", &bearer(&key.mint(&claims)));
    assert_eq!(again.query, "id=8");
    assert_eq!(again.id_token_audience(), Some(BACKEND_AUDIENCE));
    assert_eq!(idp.fetches(JWKS_PATH), 1);
    // Denied requests never reach the backend, whose token stays unused.
    refused(&gw, "/remote/9", &[], 401, "Jwt is missing");
}

#[test]
fn a_body_sent_while_the_keys_load_is_held_then_forwarded_whole() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.set_delay(Duration::from_millis(800));
    let metadata = MetadataServer::start();
    let (gw, _backend) = gateway(&idp, &metadata);
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let authorization = format!("Bearer {}", key.mint(&idp.claims(AUDIENCE)));
    let reply = Client::new()
        .send_body(
            "POST",
            &gw.url("/items"),
            &[("authorization", &authorization)],
            &body,
        )
        .expect("request through Envoy");
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body_sha256, Some(sha256_hex(&body)));

    let forged = format!(
        "Bearer {}",
        SigningKey::es256("ec-1").mint(&idp.claims(AUDIENCE))
    );
    let reply = Client::new()
        .send_body(
            "POST",
            &gw.url("/items"),
            &[("authorization", &forged)],
            &body,
        )
        .expect("request through Envoy");
    denied(&reply, 401, "Jwt verification fails");
}

#[test]
fn the_overridden_methods_requirement_applies() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let metadata = MetadataServer::start();
    let (gw, _backend) = gateway(&idp, &metadata);
    let override_to_delete = ("x-http-method-override", "DELETE".to_string());
    passes(&gw, "/items", &[]);
    refused(
        &gw,
        "/items",
        std::slice::from_ref(&override_to_delete),
        401,
        "Jwt is missing",
    );
    let mut claims = idp.claims(AUDIENCE);
    claims["email"] = json!("user@example.com");
    let headers = [override_to_delete, bearer(&key.mint(&claims))[0].clone()];
    let seen = passes(&gw, "/items", &headers);
    assert_eq!(seen.method, "DELETE");
    assert_eq!(userinfo(&seen)["email"], "user@example.com");
}

#[test]
fn cors_preflights_and_unconfigured_calls_need_no_token() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    // allowCors: the generated OPTIONS operations carry no requirement; x-google-allow: all
    // lets unconfigured calls through without one (and without user info).
    let top = format!(
        "x-google-allow: all\nx-google-endpoints:\n- name: {HOST}\n  allowCors: true\nsecurityDefinitions:"
    );
    let spec = one_provider(&idp, Some(JWKS_PATH), &[]).replace("securityDefinitions:", &top);
    let gw = start(&spec, &[]);
    refused(&gw, "/secure", &[], 401, "Jwt is missing");
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "GET"),
    ];
    let reply = gw.send("OPTIONS", "/secure", &preflight);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.echoed().method, "OPTIONS");
    let seen = passes(&gw, "/unconfigured/path", &[(USERINFO, "e30".to_string())]);
    assert_eq!(seen.header(USERINFO), None, "{seen:?}");
}

#[test]
fn a_denial_carries_the_cors_headers_a_browser_needs_to_read_it() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let origin = "https://app.example";
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--cors-preset", "basic", "--cors-allow-origin", origin],
    );
    let reply = send(&gw, "/secure", &[("origin", origin.to_string())]);
    denied(&reply, 401, "Jwt is missing");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(origin),
        "{reply:?}"
    );
    // The preflight is answered by Envoy, with no token.
    let reply = gw.send(
        "OPTIONS",
        "/secure",
        &[
            ("origin", origin),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
    let token = key.mint(&idp.claims(AUDIENCE));
    let reply = send(
        &gw,
        "/secure",
        &[("origin", origin.to_string()), bearer(&token)[0].clone()],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
}

#[test]
fn a_request_that_waited_for_keys_then_waits_for_its_backend_token() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.set_delay(Duration::from_millis(500));
    let metadata = MetadataServer::start();
    metadata.set_delay(Duration::from_millis(2500));
    let (gw, _backend) = gateway(&idp, &metadata);
    let token = key.mint(&idp.claims(AUDIENCE));
    // The keys arrive first; the request then waits for the ID token still on its way.
    let seen = passes(&gw, "/remote/7", &bearer(&token));
    assert_eq!(seen.id_token_audience(), Some(BACKEND_AUDIENCE), "{seen:?}");
    assert_eq!(seen.query, "id=7");
    assert_eq!(
        seen.header("x-forwarded-authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(userinfo(&seen)["sub"], "user-1");
    assert_eq!(metadata.calls(BACKEND_AUDIENCE), 1);
}
