//! Check: is this consumer (API key) allowed to call this service?
//! googleapis: google/api/servicecontrol/v1/service_controller.proto and check_error.proto.

use crate::{Operation, Status};

/// service_controller.proto `CheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, optional, tag = "2")]
    pub operation: Option<Operation>,
    #[prost(string, tag = "4")]
    pub service_config_id: String,
}

/// service_controller.proto `CheckResponse`. No `check_errors` means "proceed".
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResponse {
    #[prost(string, tag = "1")]
    pub operation_id: String,
    #[prost(message, repeated, tag = "2")]
    pub check_errors: Vec<CheckError>,
    #[prost(string, tag = "5")]
    pub service_config_id: String,
    #[prost(string, tag = "11")]
    pub service_rollout_id: String,
    #[prost(message, optional, tag = "6")]
    pub check_info: Option<check_response::CheckInfo>,
}

/// Messages nested in `CheckResponse`.
pub mod check_response {
    /// service_controller.proto `CheckResponse.CheckInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CheckInfo {
        #[prost(string, repeated, tag = "1")]
        pub unused_arguments: Vec<String>,
        #[prost(message, optional, tag = "2")]
        pub consumer_info: Option<ConsumerInfo>,
    }

    /// service_controller.proto `CheckResponse.ConsumerInfo`: who the API key belongs to.
    /// ESPv2 forwards `project_number` as `X-Endpoint-Api-Consumer-Number`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ConsumerInfo {
        #[prost(int64, tag = "1")]
        pub project_number: i64,
        #[prost(enumeration = "consumer_info::ConsumerType", tag = "2")]
        pub r#type: i32,
        #[prost(int64, tag = "3")]
        pub consumer_number: i64,
    }

    /// Types nested in `ConsumerInfo`.
    pub mod consumer_info {
        /// service_controller.proto `CheckResponse.ConsumerInfo.ConsumerType`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum ConsumerType {
            Unspecified = 0,
            Project = 1,
            Folder = 2,
            Organization = 3,
            ServiceSpecific = 4,
        }
    }
}

/// check_error.proto `CheckError`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckError {
    #[prost(enumeration = "check_error::Code", tag = "1")]
    pub code: i32,
    #[prost(string, tag = "4")]
    pub subject: String,
    #[prost(string, tag = "2")]
    pub detail: String,
    #[prost(message, optional, tag = "3")]
    pub status: Option<Status>,
}

/// Types nested in `CheckError`.
pub mod check_error {
    /// check_error.proto `CheckError.Code`; the values are Google's, not sequential.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Code {
        ErrorCodeUnspecified = 0,
        NotFound = 5,
        PermissionDenied = 7,
        ResourceExhausted = 8,
        ServiceNotActivated = 104,
        BillingDisabled = 107,
        ProjectDeleted = 108,
        ProjectInvalid = 114,
        ConsumerInvalid = 125,
        IpAddressBlocked = 109,
        RefererBlocked = 110,
        ClientAppBlocked = 111,
        ApiTargetBlocked = 122,
        ApiKeyInvalid = 105,
        ApiKeyExpired = 112,
        ApiKeyNotFound = 113,
        InvalidCredential = 123,
        NamespaceLookupUnavailable = 300,
        ServiceStatusUnavailable = 301,
        BillingStatusUnavailable = 302,
        CloudResourceManagerBackendUnavailable = 305,
    }
}
