//! Report: operations (metrics, logs) after they completed.
//! googleapis: google/api/servicecontrol/v1/service_controller.proto.

use crate::Operation;

/// service_controller.proto `ReportRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportRequest {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, repeated, tag = "2")]
    pub operations: Vec<Operation>,
    #[prost(string, tag = "3")]
    pub service_config_id: String,
}

/// service_controller.proto `ReportResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportResponse {
    #[prost(message, repeated, tag = "1")]
    pub report_errors: Vec<report_response::ReportError>,
    #[prost(string, tag = "2")]
    pub service_config_id: String,
    #[prost(string, tag = "4")]
    pub service_rollout_id: String,
}

/// Messages nested in `ReportResponse`.
pub mod report_response {
    use crate::Status;

    /// service_controller.proto `ReportResponse.ReportError`: one failed operation.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReportError {
        #[prost(string, tag = "1")]
        pub operation_id: String,
        #[prost(message, optional, tag = "2")]
        pub status: Option<Status>,
    }
}
