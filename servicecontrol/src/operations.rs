//! One API call as Service Control sees it.
//! googleapis: google/api/servicecontrol/v1/operation.proto.

use crate::{LogEntry, MetricValueSet};
use prost_types::Timestamp;
use std::collections::BTreeMap;

/// operation.proto `Operation` (without the unimplemented `extensions = 16`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Operation {
    /// Same id in the Check and the Report of one request (a UUID in ESPv2).
    #[prost(string, tag = "1")]
    pub operation_id: String,
    /// The operation selector, e.g. `1.echo_api_endpoints_x_cloud_goog.Echo`.
    #[prost(string, tag = "2")]
    pub operation_name: String,
    /// `api_key:<key>`, `project:<project id>` or `project_number:<number>`.
    #[prost(string, tag = "3")]
    pub consumer_id: String,
    #[prost(message, optional, tag = "4")]
    pub start_time: Option<Timestamp>,
    #[prost(message, optional, tag = "5")]
    pub end_time: Option<Timestamp>,
    /// BTreeMap (not HashMap) so the same labels always encode to the same bytes.
    #[prost(btree_map = "string, string", tag = "6")]
    pub labels: BTreeMap<String, String>,
    #[prost(message, repeated, tag = "7")]
    pub metric_value_sets: Vec<MetricValueSet>,
    #[prost(message, repeated, tag = "8")]
    pub log_entries: Vec<LogEntry>,
    #[prost(enumeration = "operation::Importance", tag = "11")]
    pub importance: i32,
}

/// Types nested in `Operation`.
pub mod operation {
    /// operation.proto `Operation.Importance`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Importance {
        Low = 0,
        High = 1,
    }
}
