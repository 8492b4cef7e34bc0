//! wasp's integration tests, one binary (so one failure never hides the
//! others, and the harness links once). Each module is one area of behaviour;
//! every test starts its own backends and Envoy on free loopback ports.

mod allow_all;
mod bootstrap;
mod compile_errors;
mod harness;
mod hello_example;
mod hostile_requests;
mod internal_headers;
mod local_replies;
mod matching;
mod method_override;
