//! Quotas: `x-google-management` (metrics and per-minute limits, top level) and
//! `x-google-quota.metricCosts` (per operation) -> `control.json`
//! (`wasp_config::control::ControlConfig`), which the control service enforces.
//!
//! As Service Management checks them: metrics are `INT64` / `DELTA`, the only limit unit is
//! `1/min/{project}` with an integer `values.STANDARD`, and every limit and cost names a
//! declared metric. Costs are integers; ESPv2 charges 1 for a cost of 0 or less.

use crate::errors::{Diagnostic, Diagnostics};
use crate::pointer::Pointer;
use crate::source::describe;
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use wasp_config::control::{
    ControlConfig, OperationCosts, QuotaLimit, QuotaMetric, CONTROL_SCHEMA_VERSION,
};

/// The one limit unit Cloud Endpoints supports.
pub const LIMIT_UNIT: &str = "1/min/{project}";

/// `x-google-management` of one file, each piece with where it was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Management {
    pub metrics: Vec<(QuotaMetric, Pointer)>,
    pub limits: Vec<(QuotaLimit, Pointer)>,
}

/// An operation's `x-google-quota.metricCosts`: metric -> (cost, where).
pub type MetricCosts = BTreeMap<String, (i64, Pointer)>;

struct Reader<'a> {
    file: &'a str,
    problems: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn problem(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(self.file, pointer, message));
    }

    fn mapping<'v>(
        &mut self,
        value: &'v Value,
        at: &Pointer,
        what: &str,
        example: &str,
    ) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            other => {
                self.problem(
                    at,
                    format!(
                        "{what} must be a mapping such as {example}, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn list<'v>(&mut self, value: &'v Value, at: &Pointer, what: &str) -> Option<&'v [Value]> {
        match value {
            Value::Sequence(items) => Some(items),
            other => {
                self.problem(
                    at,
                    format!("{what} must be a list, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// A required non-empty string field.
    fn name(&mut self, entry: &Mapping, key: &str, at: &Pointer, example: &str) -> Option<String> {
        match entry.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.problem(
                    &at.child(key),
                    format!(
                        "{key} must be a non-empty string such as {example}, not {}",
                        describe(other)
                    ),
                );
                None
            }
            None => {
                self.problem(at, format!("this entry has no {key}; add {key}: {example}"));
                None
            }
        }
    }

    /// An optional string field that must equal `expected` when present.
    fn fixed(&mut self, entry: &Mapping, key: &str, expected: &str, at: &Pointer) -> bool {
        match entry.get(key) {
            None => true,
            Some(Value::String(s)) if s == expected => true,
            Some(_) => {
                self.problem(
                    &at.child(key),
                    format!("{key} must be {expected} (the only value Cloud Endpoints supports)"),
                );
                false
            }
        }
    }

    fn display_name(&mut self, entry: &Mapping, at: &Pointer) -> Option<Option<String>> {
        match entry.get("displayName") {
            None => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(other) => {
                self.problem(
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

    fn metric(&mut self, value: &Value, at: &Pointer) -> Option<QuotaMetric> {
        let entry = self.mapping(
            value,
            at,
            "a metric",
            "{name: read-requests, valueType: INT64, metricKind: DELTA}",
        )?;
        let name = self.name(entry, "name", at, "read-requests");
        let display_name = self.display_name(entry, at);
        let value_type = self.fixed(entry, "valueType", "INT64", at);
        let kind = self.fixed(entry, "metricKind", "DELTA", at);
        (value_type && kind).then_some(())?;
        Some(QuotaMetric {
            name: name?,
            display_name: display_name?,
        })
    }

    fn limit(&mut self, value: &Value, at: &Pointer) -> Option<QuotaLimit> {
        let example = "{name: read-limit, metric: read-requests, unit: 1/min/{project}, values: {STANDARD: 1000}}";
        let entry = self.mapping(value, at, "a quota limit", example)?;
        let name = self.name(entry, "name", at, "read-requests-limit");
        let metric = self.name(entry, "metric", at, "read-requests");
        let display_name = self.display_name(entry, at);
        let unit_ok = match entry.get("unit") {
            Some(Value::String(u)) if u == LIMIT_UNIT => true,
            Some(Value::String(u)) => {
                self.problem(&at.child("unit"), format!("unit {u:?} is not supported; Cloud Endpoints limits are per minute per project: write unit: \"{LIMIT_UNIT}\""));
                false
            }
            Some(other) => {
                self.problem(
                    &at.child("unit"),
                    format!(
                        "unit must be the string \"{LIMIT_UNIT}\", not {}",
                        describe(other)
                    ),
                );
                false
            }
            None => {
                self.problem(
                    at,
                    format!("this limit has no unit; add unit: \"{LIMIT_UNIT}\""),
                );
                false
            }
        };
        let per_minute = self.standard_value(entry, at);
        unit_ok.then_some(())?;
        Some(QuotaLimit {
            name: name?,
            metric: metric?,
            per_minute: per_minute?,
            display_name: display_name?,
        })
    }

    fn standard_value(&mut self, entry: &Mapping, at: &Pointer) -> Option<i64> {
        let fix = "write values: {STANDARD: 1000} (calls per minute per project)";
        let Some(values) = entry.get("values") else {
            self.problem(at, format!("this limit has no values; {fix}"));
            return None;
        };
        let values = self.mapping(values, &at.child("values"), "values", "{STANDARD: 1000}")?;
        let at = at.child("values").child("STANDARD");
        match values.get("STANDARD") {
            Some(Value::Number(n)) => {
                match n.as_i64() {
                    Some(v) if v >= 0 => Some(v),
                    _ => {
                        self.problem(&at, format!("STANDARD is {n}; the limit must be a whole number of calls, 0 or more"));
                        None
                    }
                }
            }
            Some(other) => {
                self.problem(
                    &at,
                    format!(
                        "STANDARD must be a whole number, not {}; {fix}",
                        describe(other)
                    ),
                );
                None
            }
            None => {
                self.problem(&at, format!("values has no STANDARD; {fix}"));
                None
            }
        }
    }
}

/// Reads `x-google-management` of one document (absent: `None`).
pub fn read_management(
    file: &str,
    top: &Mapping,
    problems: &mut Diagnostics,
) -> Option<Management> {
    let value = top.get("x-google-management")?;
    let at = Pointer::root().child("x-google-management");
    let mut reader = Reader { file, problems };
    let block = reader.mapping(
        value,
        &at,
        "x-google-management",
        "{metrics: [...], quota: {limits: [...]}}",
    )?;
    let mut management = Management::default();
    if let Some(metrics) = block.get("metrics") {
        let metrics_at = at.child("metrics");
        for (i, metric) in reader
            .list(metrics, &metrics_at, "metrics")
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let metric_at = metrics_at.child(&i.to_string());
            if let Some(metric) = reader.metric(metric, &metric_at) {
                management.metrics.push((metric, metric_at));
            }
        }
    }
    if let Some(quota) = block.get("quota") {
        let quota_at = at.child("quota");
        let limits = reader
            .mapping(quota, &quota_at, "quota", "{limits: [...]}")
            .and_then(|q| q.get("limits"));
        if let Some(limits) = limits {
            let limits_at = quota_at.child("limits");
            for (i, limit) in reader
                .list(limits, &limits_at, "limits")
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let limit_at = limits_at.child(&i.to_string());
                if let Some(limit) = reader.limit(limit, &limit_at) {
                    management.limits.push((limit, limit_at));
                }
            }
        }
    }
    Some(management)
}

/// Reads an operation's `x-google-quota` (absent: `None`).
pub fn read_metric_costs(
    file: &str,
    operation: &Mapping,
    at: &Pointer,
    problems: &mut Diagnostics,
) -> Option<MetricCosts> {
    let value = operation.get("x-google-quota")?;
    let at = at.child("x-google-quota");
    let mut reader = Reader { file, problems };
    let example = "{metricCosts: {read-requests: 1}}";
    let quota = reader.mapping(value, &at, "x-google-quota", example)?;
    let costs_at = at.child("metricCosts");
    let Some(costs) = quota.get("metricCosts") else {
        reader.problem(
            &at,
            format!("x-google-quota has no metricCosts; write x-google-quota: {example}"),
        );
        return None;
    };
    let costs = reader.mapping(costs, &costs_at, "metricCosts", "{read-requests: 1}")?;
    let mut found = MetricCosts::new();
    for (metric, cost) in costs {
        let Value::String(metric) = metric else {
            reader.problem(
                &costs_at,
                format!(
                    "a metric name is {}; use the name of a metric in x-google-management",
                    describe(metric)
                ),
            );
            continue;
        };
        let cost_at = costs_at.child(metric);
        match cost {
            Value::Number(n) if n.as_i64().is_some() => {
                found.insert(metric.clone(), (n.as_i64().unwrap_or(1), cost_at));
            }
            other => {
                let shown = match other {
                    Value::Number(n) => n.to_string(),
                    v => describe(v).to_string(),
                };
                reader.problem(&cost_at, format!("the cost of {metric} is {shown}; costs are whole numbers, such as {metric}: 1"));
            }
        }
    }
    Some(found)
}

/// The project that owns the service: `--producer-project-id`, else the project in a
/// `<api>.endpoints.<project>.cloud.goog` service name.
pub fn producer_project(service_name: &str, flag: Option<&str>) -> Option<String> {
    if let Some(project) = flag {
        return Some(project.to_string());
    }
    let rest = service_name.strip_suffix(".cloud.goog")?;
    let (_, project) = rest.rsplit_once(".endpoints.")?;
    (!project.is_empty() && !project.contains('.')).then(|| project.to_string())
}

/// One operation's costs, by operation name, from the file that defines it.
pub struct OperationQuota<'a> {
    pub file: &'a str,
    pub operation: String,
    pub costs: &'a MetricCosts,
}

/// The service's control config, or every problem: metrics or limits declared twice, and
/// limits or costs on metrics no file declares.
pub fn control_config(
    service_name: &str,
    producer_project_id: String,
    files: &[(&str, &Management)],
    operations: &[OperationQuota],
) -> Result<ControlConfig, Diagnostics> {
    let mut problems = Diagnostics::new();
    let mut metrics: Vec<QuotaMetric> = Vec::new();
    let mut limits: Vec<QuotaLimit> = Vec::new();
    for (file, management) in files {
        for (metric, at) in &management.metrics {
            if metrics.iter().any(|m| m.name == metric.name) {
                problems.push(Diagnostic::new(
                    file,
                    &at.child("name"),
                    format!(
                        "metric {:?} is declared twice; give each metric its own name",
                        metric.name
                    ),
                ));
            } else {
                metrics.push(metric.clone());
            }
        }
    }
    let declared: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    let fix_undeclared = |metric: &str| {
        if declared.is_empty() {
            format!("metric {metric:?} is not declared; add it to x-google-management.metrics (name: {metric}, valueType: INT64, metricKind: DELTA)")
        } else {
            format!("metric {metric:?} is not declared (declared: {}); add it to x-google-management.metrics or fix the name", declared.join(", "))
        }
    };
    for (file, management) in files {
        for (limit, at) in &management.limits {
            if !declared.contains(&limit.metric.as_str()) {
                problems.push(Diagnostic::new(
                    file,
                    &at.child("metric"),
                    fix_undeclared(&limit.metric),
                ));
            } else if limits.iter().any(|l| l.name == limit.name) {
                problems.push(Diagnostic::new(file, &at.child("name"), format!("quota limit {:?} is declared twice; limit names are unique within the service", limit.name)));
            } else {
                limits.push(limit.clone());
            }
        }
    }
    let mut costs = Vec::with_capacity(operations.len());
    for op in operations {
        for (metric, (_, at)) in op.costs {
            if !declared.contains(&metric.as_str()) {
                problems.push(Diagnostic::new(op.file, at, fix_undeclared(metric)));
            }
        }
        if !op.costs.is_empty() {
            costs.push(OperationCosts {
                operation: op.operation.clone(),
                metric_costs: op
                    .costs
                    .iter()
                    .map(|(m, (cost, _))| (m.clone(), *cost))
                    .collect(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let config = ControlConfig {
        version: CONTROL_SCHEMA_VERSION,
        service_name: service_name.to_string(),
        producer_project_id,
        metrics,
        limits,
        operations: costs,
    };
    config.validate().map_err(|e| {
        vec![Diagnostic::option(
            "wasp (internal error)",
            format!("the control config does not validate: {e}; please report this with the spec"),
        )]
    })?;
    Ok(config)
}
