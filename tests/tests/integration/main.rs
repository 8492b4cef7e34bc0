//! wasp's integration tests, one binary (so one failure never hides the
//! others, and the harness links once). Each module is one area of behaviour;
//! every test starts its own backends and Envoy on free loopback ports.

mod allow_all;
mod api_key_locations;
mod api_keys;
mod api_name;
mod backend;
mod backend_auth;
mod bootstrap;
mod client_address;
mod compile_errors;
mod control_answers;
mod control_down;
mod cors;
mod edge_options;
mod harness;
mod hello_example;
mod hostile_requests;
mod internal_headers;
mod jwt_and_keys;
mod jwt_checks;
mod jwt_fetching;
mod jwt_keys;
mod jwt_locations;
mod jwt_pipeline;
mod jwt_policies;
mod jwt_requirements;
mod jwt_support;
mod keys_in_flight;
mod keys_support;
mod local_replies;
mod matching;
mod method_override;
mod quota;
mod reports;
mod service_control_auth;
mod spoofed_headers;
