//! OpenAPI 2.0 quotas: `x-google-management` (metrics and per-minute limits, top level)
//! and `x-google-quota.metricCosts` (per operation).
//!
//! As Service Management checks them: metrics are `INT64` / `DELTA`, the only limit unit
//! is `1/min/{project}` with an integer `values.STANDARD`. Costs are integers. Whether
//! limits and costs name declared metrics is checked across files in `management`.

use crate::model::{Management, MetricCosts};
use crate::pointer::Pointer;
use crate::read::yaml::{describe, shown, Reader};
use serde_norway::{Mapping, Value};
use wasp_config::control::{QuotaLimit, QuotaMetric};

/// The one limit unit Cloud Endpoints supports.
pub const LIMIT_UNIT: &str = "1/min/{project}";

/// Reads `x-google-management` of one document (absent: `None`).
pub fn read_management(r: &mut Reader, top: &Mapping) -> Option<Management> {
    let value = top.get("x-google-management")?;
    let at = Pointer::root().child("x-google-management");
    let block = r.mapping(
        value,
        &at,
        "x-google-management",
        "{metrics: [...], quota: {limits: [...]}}",
    )?;
    let mut management = Management::default();
    if let Some(metrics) = block.get("metrics") {
        let metrics_at = at.child("metrics");
        let metrics = r
            .list(metrics, &metrics_at, "metrics", "")
            .unwrap_or_default();
        for (i, metric) in metrics.iter().enumerate() {
            let metric_at = metrics_at.child(&i.to_string());
            if let Some(metric) = read_metric(r, metric, &metric_at) {
                management.metrics.push((metric, metric_at));
            }
        }
    }
    if let Some(quota) = block.get("quota") {
        let quota_at = at.child("quota");
        let limits = r
            .mapping(quota, &quota_at, "quota", "{limits: [...]}")
            .and_then(|q| q.get("limits"));
        if let Some(limits) = limits {
            let limits_at = quota_at.child("limits");
            let limits = r.list(limits, &limits_at, "limits", "").unwrap_or_default();
            for (i, limit) in limits.iter().enumerate() {
                let limit_at = limits_at.child(&i.to_string());
                if let Some(limit) = read_limit(r, limit, &limit_at) {
                    management.limits.push((limit, limit_at));
                }
            }
        }
    }
    Some(management)
}

/// An optional string field that must equal `expected` when present.
fn fixed(r: &mut Reader, entry: &Mapping, key: &str, expected: &str, at: &Pointer) -> bool {
    match entry.get(key) {
        None => true,
        Some(Value::String(s)) if s == expected => true,
        Some(_) => {
            r.problem(
                &at.child(key),
                format!("{key} must be {expected} (the only value Cloud Endpoints supports)"),
            );
            false
        }
    }
}

/// `displayName`: `Some(None)` when absent, `None` when not a string (reported).
pub fn read_display_name(r: &mut Reader, entry: &Mapping, at: &Pointer) -> Option<Option<String>> {
    match entry.get("displayName") {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(other) => {
            r.problem(
                &at.child("displayName"),
                format!(
                    "displayName must be a string such as \"Read requests\", not {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

fn read_metric(r: &mut Reader, value: &Value, at: &Pointer) -> Option<QuotaMetric> {
    let entry = r.mapping(
        value,
        at,
        "a metric",
        "{name: read-requests, valueType: INT64, metricKind: DELTA}",
    )?;
    let name = r.required_string(entry, "name", at, "read-requests");
    let display_name = read_display_name(r, entry, at);
    let value_type = fixed(r, entry, "valueType", "INT64", at);
    let kind = fixed(r, entry, "metricKind", "DELTA", at);
    (value_type && kind).then_some(())?;
    Some(QuotaMetric {
        name: name?,
        display_name: display_name?,
    })
}

fn read_limit(r: &mut Reader, value: &Value, at: &Pointer) -> Option<QuotaLimit> {
    let example = "{name: read-limit, metric: read-requests, unit: 1/min/{project}, values: {STANDARD: 1000}}";
    let entry = r.mapping(value, at, "a quota limit", example)?;
    let name = r.required_string(entry, "name", at, "read-requests-limit");
    let metric = r.required_string(entry, "metric", at, "read-requests");
    let display_name = read_display_name(r, entry, at);
    let unit_ok = match entry.get("unit") {
        Some(Value::String(u)) if u == LIMIT_UNIT => true,
        Some(Value::String(u)) => {
            r.problem(&at.child("unit"), format!("unit {u:?} is not supported; Cloud Endpoints limits are per minute per project: write unit: \"{LIMIT_UNIT}\""));
            false
        }
        Some(other) => {
            r.problem(
                &at.child("unit"),
                format!(
                    "unit must be the string \"{LIMIT_UNIT}\", not {}",
                    describe(other)
                ),
            );
            false
        }
        None => {
            r.problem(
                at,
                format!("this limit has no unit; add unit: \"{LIMIT_UNIT}\""),
            );
            false
        }
    };
    let per_minute = standard_value(r, entry, at);
    unit_ok.then_some(())?;
    Some(QuotaLimit {
        name: name?,
        metric: metric?,
        per_minute: per_minute?,
        display_name: display_name?,
    })
}

fn standard_value(r: &mut Reader, entry: &Mapping, at: &Pointer) -> Option<i64> {
    let fix = "write values: {STANDARD: 1000} (calls per minute per project)";
    let Some(values) = entry.get("values") else {
        r.problem(at, format!("this limit has no values; {fix}"));
        return None;
    };
    let values = r.mapping(values, &at.child("values"), "values", "{STANDARD: 1000}")?;
    let at = at.child("values").child("STANDARD");
    match values.get("STANDARD") {
        Some(value @ Value::Number(_)) => read_limit_value(r, value, &at, "STANDARD"),
        Some(other) => {
            r.problem(
                &at,
                format!(
                    "STANDARD must be a whole number, not {}; {fix}",
                    describe(other)
                ),
            );
            None
        }
        None => {
            r.problem(&at, format!("values has no STANDARD; {fix}"));
            None
        }
    }
}

/// A limit's number of calls per minute (0 or more), written as `field`.
pub fn read_limit_value(r: &mut Reader, value: &Value, at: &Pointer, field: &str) -> Option<i64> {
    match value.as_i64() {
        Some(v) if v >= 0 => Some(v),
        _ => {
            r.problem(
                at,
                format!(
                    "{field} is {}; the limit must be a whole number of calls, 0 or more",
                    shown(value)
                ),
            );
            None
        }
    }
}

/// Reads an operation's 2.0 `x-google-quota` (absent: `None`).
pub fn read_metric_costs(r: &mut Reader, operation: &Mapping, at: &Pointer) -> Option<MetricCosts> {
    let value = operation.get("x-google-quota")?;
    let at = at.child("x-google-quota");
    let example = "{metricCosts: {read-requests: 1}}";
    let quota = r.mapping(value, &at, "x-google-quota", example)?;
    let costs_at = at.child("metricCosts");
    let Some(costs) = quota.get("metricCosts") else {
        r.problem(
            &at,
            format!("x-google-quota has no metricCosts; write x-google-quota: {example}"),
        );
        return None;
    };
    let costs = r.mapping(costs, &costs_at, "metricCosts", "{read-requests: 1}")?;
    Some(read_cost_map(r, costs, &costs_at))
}

/// A mapping of metric name -> whole-number cost (2.0 `metricCosts`, 3.x `x-google-quota`).
pub fn read_cost_map(r: &mut Reader, costs: &Mapping, at: &Pointer) -> MetricCosts {
    let mut found = MetricCosts::new();
    for (metric, cost) in r.entries(costs, at, "the metric costs") {
        let cost_at = at.child(metric);
        match cost.as_i64() {
            Some(n) if matches!(cost, Value::Number(_)) => {
                found.insert(metric.to_string(), (n, cost_at));
            }
            _ => r.problem(
                &cost_at,
                format!(
                    "the cost of {metric} is {}; costs are whole numbers, such as {metric}: 1",
                    shown(cost)
                ),
            ),
        }
    }
    found
}
