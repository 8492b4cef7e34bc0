//! The wasp proxy-wasm filter.
//!
//! Decisions are plain Rust with no host calls, so they are unit-tested natively:
//! - [`matcher`]: method + path -> the operation (or why none: 404 vs 405);
//! - [`local_reply`]: the JSON error replies the filter sends itself;
//! - [`decision`]: what to do with one request's headers (reply, or forward with
//!   internal headers stripped and the route header set).
//!
//! `host` (wasm32 only) is the one module that talks to Envoy; it reads the request,
//! asks [`decision::decide`] and executes the answer.

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

pub mod decision;
pub mod local_reply;
pub mod matcher;

#[cfg(target_arch = "wasm32")]
mod host;
