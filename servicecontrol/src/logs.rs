//! Log entries inside reported operations (ESPv2's `endpoints_log`).
//! googleapis: google/api/servicecontrol/v1/log_entry.proto, http_request.proto and
//! google/logging/type/log_severity.proto.

use prost_types::{Duration, Timestamp};
use std::collections::BTreeMap;

/// log_entry.proto `LogEntry` (without `operation = 16` and `source_location = 17`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogEntry {
    #[prost(string, tag = "10")]
    pub name: String,
    #[prost(message, optional, tag = "11")]
    pub timestamp: Option<Timestamp>,
    #[prost(enumeration = "LogSeverity", tag = "12")]
    pub severity: i32,
    #[prost(message, optional, tag = "14")]
    pub http_request: Option<HttpRequest>,
    #[prost(string, tag = "15")]
    pub trace: String,
    #[prost(string, tag = "4")]
    pub insert_id: String,
    #[prost(btree_map = "string, string", tag = "13")]
    pub labels: BTreeMap<String, String>,
    #[prost(oneof = "log_entry::Payload", tags = "2, 3, 6")]
    pub payload: Option<log_entry::Payload>,
}

/// Types nested in `LogEntry`.
pub mod log_entry {
    /// log_entry.proto `LogEntry.payload` oneof.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Payload {
        #[prost(message, tag = "2")]
        ProtoPayload(prost_types::Any),
        #[prost(string, tag = "3")]
        TextPayload(String),
        #[prost(message, tag = "6")]
        StructPayload(prost_types::Struct),
    }
}

/// http_request.proto `HttpRequest` (servicecontrol's copy of the logging type).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    #[prost(string, tag = "1")]
    pub request_method: String,
    #[prost(string, tag = "2")]
    pub request_url: String,
    #[prost(int64, tag = "3")]
    pub request_size: i64,
    #[prost(int32, tag = "4")]
    pub status: i32,
    #[prost(int64, tag = "5")]
    pub response_size: i64,
    #[prost(string, tag = "6")]
    pub user_agent: String,
    #[prost(string, tag = "7")]
    pub remote_ip: String,
    #[prost(string, tag = "13")]
    pub server_ip: String,
    #[prost(string, tag = "8")]
    pub referer: String,
    #[prost(message, optional, tag = "14")]
    pub latency: Option<Duration>,
    #[prost(bool, tag = "11")]
    pub cache_lookup: bool,
    #[prost(bool, tag = "9")]
    pub cache_hit: bool,
    #[prost(bool, tag = "10")]
    pub cache_validated_with_origin_server: bool,
    #[prost(int64, tag = "12")]
    pub cache_fill_bytes: i64,
    #[prost(string, tag = "15")]
    pub protocol: String,
}

/// log_severity.proto `google.logging.type.LogSeverity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LogSeverity {
    Default = 0,
    Debug = 100,
    Info = 200,
    Notice = 300,
    Warning = 400,
    Error = 500,
    Critical = 600,
    Alert = 700,
    Emergency = 800,
}
