//! AllocateQuota: charge metric costs against the consumer's per-minute limits.
//! googleapis: google/api/servicecontrol/v1/quota_controller.proto.

use crate::{MetricValueSet, Status};
use std::collections::BTreeMap;

/// quota_controller.proto `AllocateQuotaRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateQuotaRequest {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, optional, tag = "2")]
    pub allocate_operation: Option<QuotaOperation>,
    #[prost(string, tag = "4")]
    pub service_config_id: String,
}

/// quota_controller.proto `QuotaOperation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QuotaOperation {
    #[prost(string, tag = "1")]
    pub operation_id: String,
    /// The operation selector; ESPv2 sets it together with `quota_metrics`.
    #[prost(string, tag = "2")]
    pub method_name: String,
    /// `api_key:<key>`, `project:<project id>` or `project_number:<number>`.
    #[prost(string, tag = "3")]
    pub consumer_id: String,
    /// BTreeMap (not HashMap) so the same labels always encode to the same bytes.
    #[prost(btree_map = "string, string", tag = "4")]
    pub labels: BTreeMap<String, String>,
    #[prost(message, repeated, tag = "5")]
    pub quota_metrics: Vec<MetricValueSet>,
    #[prost(enumeration = "quota_operation::QuotaMode", tag = "6")]
    pub quota_mode: i32,
}

/// Types nested in `QuotaOperation`.
pub mod quota_operation {
    /// quota_controller.proto `QuotaOperation.QuotaMode`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum QuotaMode {
        Unspecified = 0,
        Normal = 1,
        BestEffort = 2,
        CheckOnly = 3,
        QueryOnly = 4,
        AdjustOnly = 5,
    }
}

/// quota_controller.proto `AllocateQuotaResponse`. No `allocate_errors` means "granted".
#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateQuotaResponse {
    #[prost(string, tag = "1")]
    pub operation_id: String,
    #[prost(message, repeated, tag = "2")]
    pub allocate_errors: Vec<QuotaError>,
    #[prost(message, repeated, tag = "3")]
    pub quota_metrics: Vec<MetricValueSet>,
    #[prost(string, tag = "4")]
    pub service_config_id: String,
}

/// quota_controller.proto `QuotaError`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QuotaError {
    #[prost(enumeration = "quota_error::Code", tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub subject: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(message, optional, tag = "4")]
    pub status: Option<Status>,
}

/// Types nested in `QuotaError`.
pub mod quota_error {
    /// quota_controller.proto `QuotaError.Code`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Code {
        Unspecified = 0,
        ResourceExhausted = 8,
        BillingNotActive = 107,
        ProjectDeleted = 108,
        ApiKeyInvalid = 105,
        ApiKeyExpired = 112,
    }
}
