//! Metric values carried by reports and quota requests.
//! googleapis: google/api/servicecontrol/v1/metric_value.proto.

use prost_types::Timestamp;
use std::collections::BTreeMap;

/// metric_value.proto `MetricValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricValue {
    #[prost(btree_map = "string, string", tag = "1")]
    pub labels: BTreeMap<String, String>,
    #[prost(message, optional, tag = "2")]
    pub start_time: Option<Timestamp>,
    #[prost(message, optional, tag = "3")]
    pub end_time: Option<Timestamp>,
    #[prost(oneof = "metric_value::Value", tags = "4, 5, 6, 7, 8")]
    pub value: Option<metric_value::Value>,
}

/// Types nested in `MetricValue`.
pub mod metric_value {
    /// metric_value.proto `MetricValue.value` oneof.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        #[prost(int64, tag = "5")]
        Int64Value(i64),
        #[prost(double, tag = "6")]
        DoubleValue(f64),
        #[prost(string, tag = "7")]
        StringValue(String),
        #[prost(message, tag = "8")]
        DistributionValue(crate::Distribution),
    }
}

/// metric_value.proto `MetricValueSet`: the values of one metric.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricValueSet {
    #[prost(string, tag = "1")]
    pub metric_name: String,
    #[prost(message, repeated, tag = "2")]
    pub metric_values: Vec<MetricValue>,
}

impl MetricValue {
    /// A plain int64 value (request counts, quota costs).
    pub fn int64(value: i64) -> MetricValue {
        MetricValue {
            value: Some(metric_value::Value::Int64Value(value)),
            ..MetricValue::default()
        }
    }

    /// The value if it is an int64, as quota costs and request counts are.
    pub fn as_int64(&self) -> Option<i64> {
        match self.value {
            Some(metric_value::Value::Int64Value(v)) => Some(v),
            _ => None,
        }
    }
}

impl MetricValueSet {
    /// One metric with a single int64 value.
    pub fn int64(metric_name: impl Into<String>, value: i64) -> MetricValueSet {
        MetricValueSet {
            metric_name: metric_name.into(),
            metric_values: vec![MetricValue::int64(value)],
        }
    }

    /// Sum of the int64 values (other value kinds are ignored). Saturates instead of
    /// overflowing: the input comes off the network.
    pub fn int64_sum(&self) -> i64 {
        self.metric_values
            .iter()
            .filter_map(MetricValue::as_int64)
            .fold(0i64, i64::saturating_add)
    }
}
