//! The subset of `google.api.servicecontrol.v1` that ESPv2 speaks, as prost messages.
//!
//! Written by hand (no protoc, no build script) so the crate builds for wasm32-wasip1 and
//! the filter can use it. Field numbers and enum values are copied from Google's protos in
//! `googleapis/googleapis` (the file is named next to each message); they are what makes
//! these bytes interoperate with servicecontrol.googleapis.com, so never renumber a field.
//! Fields Google defines that wasp neither sends nor reads are left out: protobuf decoders
//! skip unknown fields, so a response carrying them still decodes.
//!
//! Well-known types (`Timestamp`, `Duration`, `Struct`, `Any`) come from `prost-types`.

mod check;
mod histogram;
mod logs;
mod methods;
mod metrics;
mod operations;
mod quota;
mod report;
mod status;

pub use check::{check_error, check_response, CheckError, CheckRequest, CheckResponse};
pub use histogram::{distribution, Distribution};
pub use logs::{log_entry, HttpRequest, LogEntry, LogSeverity};
pub use methods::{Method, SERVICES_PATH_PREFIX};
pub use metrics::{metric_value, MetricValue, MetricValueSet};
pub use operations::{operation, Operation};
pub use quota::{
    quota_error, quota_operation, AllocateQuotaRequest, AllocateQuotaResponse, QuotaError,
    QuotaOperation,
};
pub use report::{report_response, ReportRequest, ReportResponse};
pub use status::Status;

/// Re-exported so users encode and decode without naming prost's version themselves.
pub use prost::{self, Message};
pub use prost_types::{self, Any, Duration, Struct, Timestamp};

/// Content type of every Service Control request and response body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
