//! What each report tells Google's Service Control besides its metrics: one `endpoints_log`
//! entry per request (ESPv2's `FillLogEntry` fields) and the `/credential_id` label of JWT
//! callers (`jwtauth:issuer=<b64url>&audience=<b64url>`), decoded from the protobuf the
//! gateway sent to a fake Service Control.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use wasp_servicecontrol::log_entry::Payload;
use wasp_servicecontrol::prost_types::value::Kind;
use wasp_servicecontrol::{LogEntry, LogSeverity, Operation};
use wasp_tests::fake_control::Answer;
use wasp_tests::idp::{now, JWKS_PATH};
use wasp_tests::{CompileInput, EchoBackend, FakeControl, Gateway, Idp, SigningKey};

use crate::jwt_support::provider;
use crate::keys_support::{op, operation, shop, PRODUCER, SERVICE};

const AUDIENCE: &str = "https://shop.example.com";

fn field(entry: &LogEntry, name: &str) -> String {
    let Some(Payload::StructPayload(payload)) = &entry.payload else {
        panic!("no struct payload: {entry:?}");
    };
    match payload.fields.get(name).and_then(|v| v.kind.clone()) {
        Some(Kind::StringValue(text)) => text,
        Some(Kind::NumberValue(n)) => n.to_string(),
        other => panic!("{name}: {other:?}"),
    }
}

/// The reported operations, once `want` requests are reported (batches go every second).
fn reported(fake: &FakeControl, want: usize) -> Vec<Operation> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let operations: Vec<Operation> = fake
            .reports()
            .into_iter()
            .flat_map(|report| report.operations)
            .collect();
        let entries: usize = operations.iter().map(|o| o.log_entries.len()).sum();
        if entries >= want || Instant::now() > deadline {
            assert_eq!(entries, want, "log entries reported: {operations:#?}");
            return operations;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_request_leaves_its_log_entry_and_jwt_callers_their_credential_id() {
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let top = format!(
        "securityDefinitions:\n  api_key: {{type: apiKey, in: query, name: key}}\n{}",
        provider("idp", &idp, Some(JWKS_PATH), &[])
    );
    let paths = [
        operation("/items", "get", "listItems", &["security: [{api_key: []}]"]),
        operation("/secure", "get", "secure", &["security: [{idp: []}]"]),
        operation("/open", "get", "openItems", &["security: []"]),
    ]
    .concat();
    let fake = FakeControl::start(0, Answer::Allow);
    let echo = EchoBackend::start();
    let input = CompileInput::new(&shop(&top, &paths))
        .args(["--producer-project-id", PRODUCER])
        .args(["--service-control-url", &fake.url()]);
    let url = echo.url();
    let gw = Gateway::start_compiled(&input, &url, Some(echo));

    let token = key.mint(&json!({
        "iss": idp.issuer(), "aud": [AUDIENCE, "other"], "sub": "user-1", "exp": now() + 600,
    }));
    let bearer = format!("Bearer {token}");
    let referer = "https://app.example/page";
    assert_eq!(
        gw.send(
            "GET",
            "/items?key=AIzaGood&x=secret",
            &[("referer", referer)]
        )
        .status,
        200
    );
    assert_eq!(
        gw.send("GET", "/secure", &[("authorization", &bearer)])
            .status,
        200
    );
    assert_eq!(gw.send("GET", "/secure", &[]).status, 401);
    assert_eq!(gw.send("GET", "/nowhere", &[]).status, 404);

    let operations = reported(&fake, 4);
    let find = |name: &str, code: &str| {
        operations
            .iter()
            .find(|o| o.operation_name == name && o.labels["/response_code"] == code)
            .unwrap_or_else(|| panic!("no {name} {code} in {operations:#?}"))
    };

    let items = find(&op("listItems"), "200");
    assert_eq!(items.labels["/credential_id"], "apikey:AIzaGood");
    let entry = &items.log_entries[0];
    assert_eq!(entry.name, "endpoints_log");
    assert_eq!(entry.severity, LogSeverity::Info as i32);
    let http = entry.http_request.as_ref().expect("http_request");
    assert_eq!(http.request_method, "GET");
    assert_eq!(
        http.request_url, "/items",
        "the query (keys, tokens) stays out"
    );
    assert_eq!(http.status, 200);
    assert_eq!(http.remote_ip, "127.0.0.1");
    assert_eq!(http.referer, referer);
    assert!(http.latency.is_some());
    assert_eq!(field(entry, "api_key_state"), "VERIFIED");
    assert_eq!(field(entry, "api_key"), "AIzaGood");
    assert_eq!(field(entry, "api_method"), op("listItems"));
    assert_eq!(
        field(entry, "log_message"),
        format!("{} is called", op("listItems"))
    );
    assert_eq!(field(entry, "http_status_code"), "200");
    assert_eq!(field(entry, "producer_project_id"), PRODUCER);
    assert_eq!(field(entry, "api_name"), SERVICE);
    assert_eq!(field(entry, "response_code_detail"), "via_upstream");

    let secure = find(&op("secure"), "200");
    let expected = format!(
        "jwtauth:issuer={}&audience={}",
        URL_SAFE_NO_PAD.encode(idp.issuer()),
        URL_SAFE_NO_PAD.encode(AUDIENCE)
    );
    assert_eq!(secure.labels["/credential_id"], expected);
    assert_eq!(
        field(&secure.log_entries[0], "api_key_state"),
        "NOT CHECKED"
    );

    let refused = find(&op("secure"), "401");
    assert!(!refused.labels.contains_key("/credential_id"));
    let entry = &refused.log_entries[0];
    assert_eq!(entry.severity, LogSeverity::Error as i32);
    // The filter answered; the backend did not (Envoy gives wasm local replies no detail).
    assert_eq!(field(entry, "response_code_detail"), "");

    let unknown = find("<Unknown Operation Name>", "404");
    assert_eq!(
        unknown.log_entries[0]
            .http_request
            .as_ref()
            .unwrap()
            .request_url,
        "/nowhere"
    );
}
