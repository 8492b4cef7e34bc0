//! The demo's example end to end: examples/hello/openapi.yaml compiled by
//! `wasp`, in front of the real hello backend binary (what `make demo` runs).

use wasp_tests::expect::{local_reply, method_not_allowed, NOT_DEFINED};
use wasp_tests::process::start_hello_backend;
use wasp_tests::Gateway;

const HELLO: &str = include_str!("../../../examples/hello/openapi.yaml");

#[test]
fn hello_and_goodbye_through_the_gateway() {
    let (_backend, addr) = start_hello_backend(env!("CARGO_BIN_EXE_hello_backend"));
    let gw = Gateway::start_with_backend(HELLO, &format!("http://{addr}"), None);

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
