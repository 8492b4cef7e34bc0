//! The demo's example end to end: examples/hello/openapi.yaml compiled by
//! `wasp` (with the options `make demo` uses), in front of the real hello backend
//! binary and the real `wasp-control` (what `make demo` runs). Its OpenAPI 3 twin,
//! examples/hello/openapi3.yaml, must behave the same through the same parts.

use std::time::Duration;

use wasp_tests::control::wait_for_fresh_quota_window;
use wasp_tests::expect::{local_reply, method_not_allowed, NOT_DEFINED};
use wasp_tests::process::start_hello_backend;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway};

const HELLO: &str = include_str!("../../../examples/hello/openapi.yaml");
const HELLO_OPENAPI3: &str = include_str!("../../../examples/hello/openapi3.yaml");

/// What `scripts/demo.sh` adds to the compile (besides the control service's URL).
pub const DEMO_OPTIONS: [&str; 2] = ["--producer-project-id", "hello-demo"];

fn start(spec: &str) -> (wasp_tests::process::KillOnDrop, ControlledGateway) {
    let (backend, addr) = start_hello_backend(env!("CARGO_BIN_EXE_hello_backend"));
    let gw = ControlledGateway::start_behind(
        CompileInput::new(spec).args(DEMO_OPTIONS),
        ControlOptions::default(),
        1,
        &format!("http://{addr}"),
        None,
    );
    (backend, gw)
}

#[test]
fn hello_and_goodbye_through_the_gateway() {
    hello_and_goodbye(HELLO);
}

#[test]
fn hello_and_goodbye_through_the_gateway_from_the_openapi3_twin() {
    hello_and_goodbye(HELLO_OPENAPI3);
}

#[test]
fn the_greeting_needs_a_key_and_five_per_minute_is_the_limit() {
    greeting_needs_a_key_and_counts_quota(HELLO);
}

#[test]
fn the_greeting_needs_a_key_and_five_per_minute_is_the_limit_from_the_openapi3_twin() {
    greeting_needs_a_key_and_counts_quota(HELLO_OPENAPI3);
}

fn hello_and_goodbye(spec: &str) {
    let (_backend, gw) = start(spec);

    let reply = gw.get("/hello");
    assert_eq!((reply.status, reply.body.as_str()), (200, "Hello, World!"));
    let reply = gw.get("/goodbye");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "Goodbye, World!")
    );
    local_reply(&gw.get("/nothing"), 404, NOT_DEFINED);
    local_reply(
        &gw.send("POST", "/hello", &[]),
        405,
        &method_not_allowed("/hello"),
    );
}

fn greeting_needs_a_key_and_counts_quota(spec: &str) {
    let (_backend, gw) = start(spec);
    let key = gw.control.create_key_cli("demo-consumer");
    wait_for_fresh_quota_window(Duration::from_secs(12));

    local_reply(
        &gw.get("/greeting"),
        401,
        "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    );
    local_reply(
        &gw.get("/greeting?key=not-a-key"),
        400,
        "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
    );
    let greeting = format!("Hello, project {}!", key.project_number);
    for _ in 0..5 {
        let reply = gw.get(&format!("/greeting?key={}", key.key));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, greeting.as_str())
        );
    }
    local_reply(
        &gw.get(&format!("/greeting?key={}", key.key)),
        429,
        "RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Greetings' and limit 'greetings-per-minute (5 per minute per project)' of service 'hello.endpoints.example.com' for consumer 'project:demo-consumer'.",
    );
    // allowCors: the preflight goes to the backend without a key.
    let preflight = gw.send(
        "OPTIONS",
        "/greeting",
        &[
            ("origin", "https://example.org"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert_eq!(
        (preflight.status, preflight.body.as_str()),
        (200, "Hello, whoever you are!")
    );
    // The open operations never need one.
    assert_eq!(gw.get("/hello").status, 200);
}
