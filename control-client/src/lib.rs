//! The gateway side of Google Service Control for wasp, as plain Rust with no host calls:
//! API-key extraction ([`api_key`]), key required-ness for the compiler ([`requiredness`]),
//! Check ([`check`], cached in [`check_cache`]), AllocateQuota ([`quota`]), batched Report
//! ([`report`]), the fail-open/closed and retry rules ([`policy`]), and the per-request flow
//! that ties them together as values ([`flow`]). Time is passed in (unix milliseconds); the
//! filter's proxy-wasm adapter makes the calls (see README.md).

// The filter calls this crate on every request: a panic would kill the VM, so the non-test
// code must not contain a way to panic on input (same rule as the filter and wasp-jwt).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod api_key;
pub mod callout;
pub mod check;
pub mod check_cache;
pub mod config;
pub mod flow;
pub mod labels;
pub mod operation_id;
pub mod policy;
pub mod quota;
pub mod reply;
pub mod report;
pub mod request_log;
pub mod requiredness;

pub use callout::{CallKind, Callout, CalloutResult, MAX_ANSWER_BYTES};
pub use config::{ControlClientConfig, FailPolicy, KeyLocation, OperationControl};
pub use flow::{ControlState, Flow, NotWaiting, Proceed, RequestInput, Step};
pub use operation_id::{OperationId, OperationIds};
pub use reply::Reply;
pub use report::{Delivery, DeliveryStep, ReportBatcher, ReportRecord};
// Batches travel through the adapter (full batches are queued for the tick).
pub use wasp_servicecontrol::ReportRequest;

/// Unix milliseconds as a protobuf Timestamp.
pub(crate) fn timestamp(unix_ms: u64) -> wasp_servicecontrol::Timestamp {
    wasp_servicecontrol::Timestamp {
        seconds: i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX),
        // < 1000 * 1_000_000, fits in i32.
        nanos: i32::try_from((unix_ms % 1000).saturating_mul(1_000_000)).unwrap_or(0),
    }
}

/// A small config for unit tests.
#[cfg(test)]
pub(crate) fn test_config() -> ControlClientConfig {
    ControlClientConfig::from_json(
        br#"{"service_name": "shop.example.com", "service_config_id": "cfg-1",
             "producer_project_id": "producer",
             "endpoint": {"cluster": "control", "authority": "control.local"}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}
