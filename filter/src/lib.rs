//! The wasp proxy-wasm filter.
//!
//! Decisions are plain Rust with no host calls, so they are unit-tested natively:
//! - [`gateway`]: the configuration compiled once (matcher + per-operation rules);
//! - [`matcher`]: method + path -> the operation (or why none: 404 vs 405), and
//!   the values of its path variables;
//! - [`method_override`]: applies the `X-HTTP-Method-Override` header;
//! - [`path_translation`]: APPEND_PATH_TO_ADDRESS / CONSTANT_ADDRESS;
//! - [`backend_auth`]: the headers that carry the backend ID token;
//! - [`id_tokens`]: per-audience ID-token cache, fetch and refresh schedule;
//! - [`jwt_auth`]: the JWT stage (keys a request may use, what `wasp-jwt` decided);
//! - [`service_control`]: what the API-key / quota / report stage keeps per request
//!   (the flow itself is `wasp-control-client`'s);
//! - [`local_reply`]: the JSON error replies the filter sends itself;
//! - [`head`]: the facts of a request head routing needs, read from every header once;
//! - [`decision`]: what to do with one request's head (answer it, or route it);
//! - [`request`]: one routed request as a value, advanced by events through its stages
//!   (JWT, API key and quota, backend auth), answering with the steps the host executes;
//! - [`requests`]: a VM's requests in flight, and which of them an answer wakes.
//!
//! `host` (wasm32 only) is the one module that talks to Envoy; it reads the request, asks
//! [`decision::decide`], feeds events to the [`request::Request`] and executes its steps, and
//! runs the token, key and report fetches.

// A panic kills the VM and fails requests until Envoy reloads it, so the
// non-test code must not contain a way to panic on input.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod backend_auth;
pub mod client_headers;
pub mod decision;
pub mod gateway;
pub mod head;
pub mod id_tokens;
pub mod jwt_auth;
pub mod local_reply;
pub mod matcher;
pub mod method_override;
pub mod metrics;
pub mod path_translation;
pub mod request;
pub mod requests;
pub mod service_control;
pub mod startup;
#[cfg(test)]
mod test_support;

#[cfg(target_arch = "wasm32")]
mod host;
