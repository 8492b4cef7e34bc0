//! `google.rpc.Status` (googleapis: google/rpc/status.proto).

/// The error model shared by Google APIs: a `google.rpc.Code`, a message, details.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// A `google.rpc.Code` value (e.g. 8 = RESOURCE_EXHAUSTED).
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}
