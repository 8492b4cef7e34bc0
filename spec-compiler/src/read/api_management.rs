//! OpenAPI 3 `x-google-api-management` (document root): quota `metrics` and
//! `quota.limits` as maps keyed by name, named `backends`, `apiName`, `allowCors`.
//!
//! Against 2.0's `x-google-management`: metrics drop `valueType`/`metricKind` (always
//! INT64 DELTA), limits drop `unit` (always per minute per project) and write `values`
//! as the number itself. Every backend sets `jwtAudience` or `disableAuth`, as Cloud
//! Endpoints and API Gateway require.

use crate::model::{BackendRule, Level, Management};
use crate::pointer::Pointer;
use crate::read::backend_rule::{read_rule, OPENAPI3_BACKEND};
use crate::read::quota::{read_display_name, read_limit_value};
use crate::read::read_api_name;
use crate::read::yaml::{describe, Reader};
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use wasp_config::control::{QuotaLimit, QuotaMetric};

const FIELDS: [&str; 5] = ["metrics", "quota", "backends", "apiName", "allowCors"];

/// API Gateway features wasp does not build.
const UNSUPPORTED: [(&str, &str); 2] = [
    ("ai", "API Gateway's AI model routing"),
    ("mcp", "API Gateway's MCP server"),
];

/// What `x-google-api-management` holds.
#[derive(Debug, Clone, Default)]
pub struct ApiManagement {
    pub management: Management,
    /// Backends by name; `x-google-backend` names them. Read with `Level::Top`; the
    /// reference sets the level.
    pub backends: BTreeMap<String, BackendRule>,
    pub api_name: Option<(String, Pointer)>,
    /// Where `allowCors: true` was written.
    pub allow_cors: Option<Pointer>,
}

/// Reads the block at `at`; `None` when it is not a mapping (reported).
pub fn read_api_management(r: &mut Reader, value: &Value, at: &Pointer) -> Option<ApiManagement> {
    let block = match value {
        Value::Null => &Mapping::new(),
        other => r.mapping(
            other,
            at,
            "x-google-api-management",
            "{metrics: {...}, quota: {limits: {...}}, backends: {...}}",
        )?,
    };
    let mut found = ApiManagement::default();
    for (key, feature) in UNSUPPORTED {
        if block.contains_key(key) {
            r.problem(
                &at.child(key),
                format!("{key} ({feature}) is not supported by wasp; remove it"),
            );
        }
    }
    let known: Vec<&str> = FIELDS
        .iter()
        .chain(UNSUPPORTED.iter().map(|(k, _)| k))
        .copied()
        .collect();
    r.known_keys(block, at, "x-google-api-management", &known, true);
    if let Some(metrics) = block.get("metrics") {
        found.management.metrics = read_metrics(r, metrics, &at.child("metrics"));
    }
    if let Some(quota) = block.get("quota") {
        found.management.limits = read_limits(r, quota, &at.child("quota"));
    }
    if let Some(backends) = block.get("backends") {
        found.backends = read_backends(r, backends, &at.child("backends"));
    }
    if let Some(name) = block.get("apiName") {
        found.api_name = read_api_name(r, name, &at.child("apiName"), "apiName");
    }
    if r.bool(block, "allowCors", at) == Some(Some(true)) {
        found.allow_cors = Some(at.child("allowCors"));
    }
    Some(found)
}

/// `metrics: {read-requests: {displayName: Read requests}}`.
fn read_metrics(r: &mut Reader, value: &Value, at: &Pointer) -> Vec<(QuotaMetric, Pointer)> {
    let Some(metrics) = r.mapping(
        value,
        at,
        "metrics",
        "{read-requests: {displayName: Read requests}}",
    ) else {
        return Vec::new();
    };
    let mut found = Vec::with_capacity(metrics.len());
    for (name, metric) in r.entries(metrics, at, "metrics") {
        let metric_at = at.child(name);
        if !is_named(r, name, &metric_at, "a metric") {
            continue;
        }
        let empty = Mapping::new();
        let entry = match metric {
            Value::Null => &empty,
            other => match r.mapping(
                other,
                &metric_at,
                "a metric",
                "{displayName: Read requests}",
            ) {
                Some(entry) => entry,
                None => continue,
            },
        };
        for dropped in ["valueType", "metricKind"] {
            if entry.contains_key(dropped) {
                r.problem(&metric_at.child(dropped), format!("{dropped} is not written in OpenAPI 3 (every metric is an INT64 DELTA counter); remove it"));
            }
        }
        r.known_keys(
            entry,
            &metric_at,
            "a metric",
            &["displayName", "valueType", "metricKind"],
            false,
        );
        if let Some(display_name) = read_display_name(r, entry, &metric_at) {
            found.push((
                QuotaMetric {
                    name: name.to_string(),
                    display_name,
                },
                metric_at,
            ));
        }
    }
    found
}

/// `quota: {limits: {read-limit: {metric: read-requests, values: 1000}}}`.
fn read_limits(r: &mut Reader, value: &Value, at: &Pointer) -> Vec<(QuotaLimit, Pointer)> {
    let example = "{limits: {read-limit: {metric: read-requests, values: 1000}}}";
    let Some(quota) = r.mapping(value, at, "quota", example) else {
        return Vec::new();
    };
    r.known_keys(quota, at, "quota", &["limits"], false);
    let Some(limits) = quota.get("limits") else {
        return Vec::new();
    };
    let limits_at = at.child("limits");
    let Some(limits) = r.mapping(
        limits,
        &limits_at,
        "limits",
        "{read-limit: {metric: read-requests, values: 1000}}",
    ) else {
        return Vec::new();
    };
    let mut found = Vec::with_capacity(limits.len());
    for (name, limit) in r.entries(limits, &limits_at, "limits") {
        let limit_at = limits_at.child(name);
        if !is_named(r, name, &limit_at, "a quota limit") {
            continue;
        }
        if let Some(limit) = read_limit(r, name, limit, &limit_at) {
            found.push((limit, limit_at));
        }
    }
    found
}

fn read_limit(r: &mut Reader, name: &str, value: &Value, at: &Pointer) -> Option<QuotaLimit> {
    let entry = r.mapping(
        value,
        at,
        "a quota limit",
        "{metric: read-requests, values: 1000}",
    )?;
    if entry.contains_key("unit") {
        r.problem(&at.child("unit"), "unit is not written in OpenAPI 3 (every limit counts per minute per consumer project); remove it");
    }
    r.known_keys(
        entry,
        at,
        "a quota limit",
        &["metric", "values", "displayName", "unit"],
        false,
    );
    let metric = r.required_string(entry, "metric", at, "read-requests");
    let display_name = read_display_name(r, entry, at);
    let values_at = at.child("values");
    let per_minute = match entry.get("values") {
        None => {
            r.problem(at, "this limit has no values; write values: 1000 (calls per minute per consumer project)");
            None
        }
        Some(Value::Mapping(_)) => {
            r.problem(&values_at, "in OpenAPI 3, values is the number itself; write values: 1000 instead of values: {STANDARD: 1000}");
            None
        }
        Some(value @ Value::Number(_)) => read_limit_value(r, value, &values_at, "values"),
        Some(other) => {
            r.problem(
                &values_at,
                format!(
                    "values must be a whole number such as 1000, not {}",
                    describe(other)
                ),
            );
            None
        }
    };
    Some(QuotaLimit {
        name: name.to_string(),
        metric: metric?,
        per_minute: per_minute?,
        display_name: display_name?,
    })
}

/// `backends: {name: {address, jwtAudience | disableAuth, pathTranslation, deadline, protocol}}`.
fn read_backends(r: &mut Reader, value: &Value, at: &Pointer) -> BTreeMap<String, BackendRule> {
    let mut found = BTreeMap::new();
    let Some(backends) = r.mapping(value, at, "backends", "{my-backend: {address: https://backend.example.com, jwtAudience: https://backend.example.com}}") else {
        return found;
    };
    for (name, backend) in r.entries(backends, at, "backends") {
        let backend_at = at.child(name);
        if !is_named(r, name, &backend_at, "a backend") {
            continue;
        }
        let Some(rule) = read_rule(r, backend, &backend_at, Level::Top, &OPENAPI3_BACKEND) else {
            continue;
        };
        if rule.jwt_audience.is_none() && !rule.disable_auth {
            let audience = rule
                .address
                .as_ref()
                .map_or("https://backend.example.com", |a| a.text.as_str());
            let fix = match rule.address {
                Some(_) => format!("write jwtAudience: {audience} to send an ID token for the backend (the audience 2.0 defaults to), or disableAuth: true to send none"),
                None => "a backend without an address goes to --backend, which gets no ID token: write disableAuth: true".to_string(),
            };
            // Reported; kept so the operations naming it draw no second problem.
            r.problem(&backend_at, format!("backend {name:?} sets neither jwtAudience nor disableAuth, and Cloud Endpoints and API Gateway require one; {fix}"));
        }
        found.insert(name.to_string(), rule);
    }
    found
}

/// A map key used as a name (metric, limit, backend) must say something.
fn is_named(r: &mut Reader, name: &str, at: &Pointer, what: &str) -> bool {
    if name.trim().is_empty() {
        r.problem(
            at,
            format!("{what} is named by an empty key; give it a name such as read-requests"),
        );
        return false;
    }
    true
}
