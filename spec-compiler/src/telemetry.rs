//! Metrics and tracing options, and what they add to the bootstrap: the tag extraction that
//! turns the filter's tagged stat names into Prometheus labels, and Envoy's OpenTelemetry
//! tracer with its collector cluster.

use clap::Args;
use serde_json::{json, Value};
use wasp_config::metrics::{tag_regex, MetricsConfig, ENVOY_NAMESPACE, TAGS};

use crate::backend::Backend;
use crate::errors::Diagnostic;

/// The collector's cluster (`--tracing otlp=HOST:PORT`).
pub const OTLP_CLUSTER: &str = "wasp-otlp";

/// `--tracing-*` and `--*-metrics` flags.
#[derive(Debug, Clone, Args)]
pub struct TelemetryFlags {
    /// Record no per-operation metrics (`wasp_requests_total` and the rest).
    #[arg(long)]
    pub disable_operation_metrics: bool,
    /// Distinct consumers each Envoy worker labels metrics with; the rest count as `other`.
    #[arg(long, default_value_t = MetricsConfig::default().max_consumers, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub metrics_max_consumers: u32,
    /// Send spans to an OpenTelemetry collector over OTLP/HTTP: `otlp=HOST:PORT` (its
    /// /v1/traces, usually port 4318); W3C traceparent goes on to the backend.
    #[arg(long, value_name = "otlp=HOST:PORT")]
    pub tracing: Option<String>,
    /// Share of requests without a sampled traceparent that start a trace (0.0 to 1.0;
    /// ESPv2's --tracing_sample_rate default).
    #[arg(long, default_value_t = 0.001)]
    pub tracing_sample_rate: f64,
}

impl Default for TelemetryFlags {
    fn default() -> Self {
        TelemetryFlags {
            disable_operation_metrics: false,
            metrics_max_consumers: MetricsConfig::default().max_consumers,
            tracing: None,
            tracing_sample_rate: 0.001,
        }
    }
}

impl TelemetryFlags {
    /// What the filter config says about metrics.
    pub fn metrics(&self) -> Option<MetricsConfig> {
        (!self.disable_operation_metrics).then_some(MetricsConfig {
            max_consumers: self.metrics_max_consumers,
        })
    }

    /// The collector `--tracing` names, checked.
    pub fn collector(&self) -> Result<Option<Backend>, Diagnostic> {
        let Some(text) = &self.tracing else {
            return Ok(None);
        };
        let address = text.strip_prefix("otlp=").ok_or_else(|| {
            Diagnostic::option(
                "--tracing",
                format!("\"{text}\" names no exporter; write otlp=HOST:PORT (an OpenTelemetry collector's OTLP/HTTP port, usually 4318)"),
            )
        })?;
        if !(0.0..=1.0).contains(&self.tracing_sample_rate) {
            return Err(Diagnostic::option(
                "--tracing-sample-rate",
                format!(
                    "{} is not a share of requests; give a number from 0.0 to 1.0",
                    self.tracing_sample_rate
                ),
            ));
        }
        Backend::parse(&format!("http://{address}"))
            .map(Some)
            .map_err(|e| {
                Diagnostic::option(
                    "--tracing",
                    format!("otlp={address}: {e}; write otlp=HOST:PORT"),
                )
            })
    }

    pub fn hashed(&self) -> String {
        format!("{self:?}")
    }
}

/// The bootstrap's `stats_config`: one tag per [`TAGS`] entry, so Envoy strips the
/// segments from the filter's stat names and exports them as labels.
pub fn stats_config() -> Value {
    let tags: Vec<Value> = TAGS
        .iter()
        .map(|tag| json!({ "tag_name": tag, "regex": format!("^{ENVOY_NAMESPACE}\\.wasp_.*{}", tag_regex(tag)) }))
        .collect();
    json!({ "stats_tags": tags, "use_all_default_tags": true })
}

/// The HCM's `tracing`: Envoy's OpenTelemetry tracer exporting to [`OTLP_CLUSTER`], the
/// span named by the matched operation (the filter state the filter writes), the time the
/// gateway's own stages took as tags.
pub fn hcm_tracing(
    flags: &TelemetryFlags,
    collector: &Backend,
    service_name: &str,
    config_id: &str,
) -> Value {
    let percent = flags.tracing_sample_rate * 100.0;
    json!({
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "http_service": {
                    "http_uri": {
                        "uri": format!("http://{}/v1/traces", collector.authority()),
                        "cluster": OTLP_CLUSTER,
                        "timeout": "1s",
                    },
                },
                "service_name": service_name,
            },
        },
        "random_sampling": { "value": percent },
        "operation": format!("%FILTER_STATE({}:PLAIN)%", wasm_state(wasp_config::OPERATION_PROPERTY)),
        "custom_tags": [
            custom_tag("wasp.operation", wasp_config::OPERATION_PROPERTY),
            custom_tag("wasp.consumer", wasp_config::CONSUMER_PROPERTY),
            custom_tag("wasp.denial", wasp_config::DENIAL_PROPERTY),
            custom_tag("wasp.stages", wasp_config::STAGES_PROPERTY),
            json!({ "tag": "wasp.config_id", "literal": { "value": config_id } }),
        ],
    })
}

/// Envoy's name for a filter state the wasm filter set.
fn wasm_state(property: &str) -> String {
    format!("wasm.{property}")
}

fn custom_tag(tag: &str, property: &str) -> Value {
    json!({ "tag": tag, "value": format!("%FILTER_STATE({}:PLAIN)%", wasm_state(property)) })
}
