//! The per-service control configuration: what `wasp compile` writes from
//! `x-google-management` (metrics, quota limits) and `x-google-quota` (per-operation
//! metric costs), and what the self-hosted control service (`wasp-control serve
//! --config FILE`) enforces. One definition for both sides.
//!
//! Example (JSON):
//! ```json
//! {"version": 1, "service_name": "echo.example.com", "producer_project_id": "my-project",
//!  "metrics": [{"name": "read-requests", "display_name": "Read requests"}],
//!  "limits": [{"name": "read-limit", "metric": "read-requests", "per_minute": 1000}],
//!  "operations": [{"operation": "1.echo_example_com.Read", "metric_costs": {"read-requests": 1}}]}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Bumped when a change to this schema is not backwards compatible.
pub const CONTROL_SCHEMA_VERSION: u32 = 1;

/// Quotas and metrics of one managed service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlConfig {
    /// Schema version; readers reject a config they do not understand.
    pub version: u32,
    /// The service name (`host` of the spec), as sent in `/v1/services/{name}:check`.
    pub service_name: String,
    /// The producer project: the consumer when a call carries no API key
    /// (ESPv2 sends `project:<producer project>` then).
    pub producer_project_id: String,
    /// `x-google-management.metrics`.
    #[serde(default)]
    pub metrics: Vec<QuotaMetric>,
    /// `x-google-management.quota.limits`.
    #[serde(default)]
    pub limits: Vec<QuotaLimit>,
    /// `x-google-quota.metricCosts` of each operation that has any.
    #[serde(default)]
    pub operations: Vec<OperationCosts>,
}

/// A metric that quota limits count (`x-google-management.metrics[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaMetric {
    pub name: String,
    /// `displayName`, used in quota-exceeded messages when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A limit on one metric (`x-google-management.quota.limits[]`). The only unit Cloud
/// Endpoints supports is `1/min/{project}`: a fixed one-minute window per consumer project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaLimit {
    pub name: String,
    /// Name of the [`QuotaMetric`] this limit counts.
    pub metric: String,
    /// Allowed metric units per consumer project per minute (`values.STANDARD`).
    pub per_minute: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What one call of an operation costs (`x-google-quota.metricCosts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationCosts {
    /// The operation selector, `1.<api>.<OperationId>` (same as `Operation::name`).
    pub operation: String,
    /// Metric name to cost. ESPv2 charges 1 for a cost of 0 or less.
    pub metric_costs: BTreeMap<String, i64>,
}

impl ControlConfig {
    /// Parses and checks a control config (see [`ControlConfig::validate`]).
    pub fn from_json(bytes: &[u8]) -> Result<ControlConfig, String> {
        let config: ControlConfig = serde_json::from_slice(bytes)
            .map_err(|e| format!("control config is not valid JSON for this schema: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: the version, unique names, and that every limit
    /// and cost names a declared metric.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != CONTROL_SCHEMA_VERSION {
            return Err(format!(
                "control config schema version {} is not supported (this reader reads version {CONTROL_SCHEMA_VERSION}); recompile the spec with a matching `wasp`",
                self.version
            ));
        }
        if self.service_name.is_empty() {
            return Err("control config has an empty service_name".into());
        }
        let mut metrics = HashSet::new();
        for metric in &self.metrics {
            if !metrics.insert(metric.name.as_str()) {
                return Err(format!("metric {:?} is declared twice", metric.name));
            }
        }
        let mut limits = HashSet::new();
        for limit in &self.limits {
            if !limits.insert(limit.name.as_str()) {
                return Err(format!("quota limit {:?} is declared twice", limit.name));
            }
            if !metrics.contains(limit.metric.as_str()) {
                return Err(format!(
                    "quota limit {:?} counts undeclared metric {:?}",
                    limit.name, limit.metric
                ));
            }
            if limit.per_minute < 0 {
                return Err(format!(
                    "quota limit {:?} has a negative per_minute value",
                    limit.name
                ));
            }
        }
        for op in &self.operations {
            for metric in op.metric_costs.keys() {
                if !metrics.contains(metric.as_str()) {
                    return Err(format!(
                        "operation {} has a cost for undeclared metric {metric:?}",
                        op.operation
                    ));
                }
            }
        }
        Ok(())
    }

    /// The metric costs of an operation, if it has any.
    pub fn costs_of(&self, operation: &str) -> Option<&BTreeMap<String, i64>> {
        self.operations
            .iter()
            .find(|op| op.operation == operation)
            .map(|op| &op.metric_costs)
    }

    /// The limits that count `metric`.
    pub fn limits_on<'a>(&'a self, metric: &'a str) -> impl Iterator<Item = &'a QuotaLimit> + 'a {
        self.limits
            .iter()
            .filter(move |limit| limit.metric == metric)
    }

    /// Whether `metric` is declared.
    pub fn has_metric(&self, metric: &str) -> bool {
        self.metrics.iter().any(|m| m.name == metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"version": 1, "service_name": "echo.example.com", "producer_project_id": "my-project",
        "metrics": [{"name": "read-requests", "display_name": "Read requests"}],
        "limits": [{"name": "read-limit", "metric": "read-requests", "per_minute": 1000}],
        "operations": [{"operation": "1.echo_example_com.Read", "metric_costs": {"read-requests": 2}}]}"#;

    #[test]
    fn parses_the_documented_example() {
        let config = ControlConfig::from_json(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            config.costs_of("1.echo_example_com.Read").unwrap()["read-requests"],
            2
        );
        assert_eq!(
            config
                .limits_on("read-requests")
                .map(|l| l.per_minute)
                .collect::<Vec<_>>(),
            vec![1000]
        );
        assert!(config.costs_of("1.echo_example_com.Other").is_none());
    }

    #[test]
    fn rejects_limits_and_costs_on_undeclared_metrics() {
        let bad_limit = EXAMPLE.replace(r#""metric": "read-requests""#, r#""metric": "writes""#);
        assert!(ControlConfig::from_json(bad_limit.as_bytes())
            .unwrap_err()
            .contains("undeclared metric \"writes\""));
        let bad_cost = EXAMPLE.replace(r#"{"read-requests": 2}"#, r#"{"writes": 2}"#);
        assert!(ControlConfig::from_json(bad_cost.as_bytes())
            .unwrap_err()
            .contains("undeclared metric \"writes\""));
    }

    #[test]
    fn rejects_other_versions_and_duplicates() {
        let v2 = EXAMPLE.replace(r#""version": 1"#, r#""version": 2"#);
        assert!(ControlConfig::from_json(v2.as_bytes())
            .unwrap_err()
            .contains("version 2"));
        let dup = EXAMPLE.replace(
            r#"[{"name": "read-requests", "display_name": "Read requests"}]"#,
            r#"[{"name": "read-requests"}, {"name": "read-requests"}]"#,
        );
        assert!(ControlConfig::from_json(dup.as_bytes())
            .unwrap_err()
            .contains("declared twice"));
    }
}
