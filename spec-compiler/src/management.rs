//! Quotas across the spec files -> `control.json` (`wasp_config::control::ControlConfig`),
//! which the control service enforces: metrics and limits declared once in the service,
//! every limit and cost naming a declared metric. ESPv2 charges 1 for a cost of 0 or less.

use crate::errors::{Diagnostic, Diagnostics};
use crate::model::{Format, Management, MetricCosts};
use crate::pointer::Pointer;
use wasp_config::control::{
    ControlConfig, OperationCosts, QuotaLimit, QuotaMetric, CONTROL_SCHEMA_VERSION,
};

/// One file's quota declarations.
pub struct FileQuota<'a> {
    pub file: &'a str,
    pub format: Format,
    pub management: &'a Management,
}

/// Where an entry's name is written: 2.0 lists have a `name` field, 3.x maps key by name.
fn name_pointer(format: Format, entry: &Pointer) -> Pointer {
    match format {
        Format::Swagger2 => entry.child("name"),
        Format::OpenApi3 => entry.clone(),
    }
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
#[derive(Debug, Clone, PartialEq)]
pub struct OperationQuota {
    pub file: String,
    pub format: Format,
    pub operation: String,
    pub costs: MetricCosts,
}

/// The service's control config, or every problem: metrics or limits declared twice, and
/// limits or costs on metrics no file declares.
pub fn control_config(
    service_name: &str,
    producer_project_id: String,
    files: &[FileQuota],
    operations: &[OperationQuota],
) -> Result<ControlConfig, Diagnostics> {
    let mut problems = Diagnostics::new();
    let mut metrics: Vec<QuotaMetric> = Vec::new();
    let mut limits: Vec<QuotaLimit> = Vec::new();
    for quota in files {
        for (metric, at) in &quota.management.metrics {
            if metrics.iter().any(|m| m.name == metric.name) {
                problems.push(Diagnostic::new(
                    quota.file,
                    &name_pointer(quota.format, at),
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
    let fix_undeclared = |metric: &str, format: Format| {
        if declared.is_empty() {
            format!(
                "metric {metric:?} is not declared; add it to {}",
                format.metrics_field(metric)
            )
        } else {
            format!(
                "metric {metric:?} is not declared (declared: {}); add it to {} or fix the name",
                declared.join(", "),
                format.metrics_field(metric)
            )
        }
    };
    for quota in files {
        for (limit, at) in &quota.management.limits {
            if !declared.contains(&limit.metric.as_str()) {
                problems.push(Diagnostic::new(
                    quota.file,
                    &at.child("metric"),
                    fix_undeclared(&limit.metric, quota.format),
                ));
            } else if limits.iter().any(|l| l.name == limit.name) {
                problems.push(Diagnostic::new(quota.file, &name_pointer(quota.format, at), format!("quota limit {:?} is declared twice; limit names are unique within the service", limit.name)));
            } else {
                limits.push(limit.clone());
            }
        }
    }
    let mut costs = Vec::with_capacity(operations.len());
    for op in operations {
        for (metric, (_, at)) in &op.costs {
            if !declared.contains(&metric.as_str()) {
                problems.push(Diagnostic::new(
                    &op.file,
                    at,
                    fix_undeclared(metric, op.format),
                ));
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
