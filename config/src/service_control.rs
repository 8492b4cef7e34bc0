//! The gateway side of Service Control (`FilterConfig.service_control`): where the control
//! service is, how long to wait, what to do when it is down, cache and report sizes, and per
//! operation whether a key is required, where keys are read and what a call costs. Written by
//! `wasp compile`, read by the filter through `wasp-control-client`. ESPv2's defaults.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Service-wide Service Control settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlClientConfig {
    /// The service name (`host` of the spec), as in `/v1/services/{name}:check`.
    pub service_name: String,
    /// Sent as `service_config_id` in every request (the compiled config's id or hash).
    #[serde(default)]
    pub service_config_id: String,
    /// The quota consumer when a request carries no API key (`project:<id>`).
    pub producer_project_id: String,
    /// Where the control service is: Envoy cluster, `:authority`, path prefix.
    pub endpoint: Endpoint,
    /// `open` (ESPv2's default) or `closed` when the control service cannot be reached.
    #[serde(default)]
    pub network_fail_policy: FailPolicy,
    #[serde(default = "CallSettings::check_default")]
    pub check: CallSettings,
    #[serde(default = "CallSettings::quota_default")]
    pub quota: CallSettings,
    #[serde(default = "CallSettings::report_default")]
    pub report: CallSettings,
    #[serde(default)]
    pub check_cache: CheckCacheSettings,
    #[serde(default)]
    pub quota_settings: QuotaSettings,
    #[serde(default)]
    pub report_batch: ReportBatchSettings,
    /// Prefix of the consumer headers sent to the backend (`--generated_header_prefix`).
    #[serde(default = "default_header_prefix")]
    pub generated_header_prefix: String,
    /// Remove the API key from the request before the backend sees it (the Apigee step of
    /// seed 002). ESPv2 forwards it, so the default is off.
    #[serde(default)]
    pub remove_api_key: bool,
    /// Transport failures are logged at most once per this many seconds (with counts).
    #[serde(default = "default_failure_log_interval")]
    pub failure_log_interval_secs: u64,
    /// `servicecontrol.googleapis.com/service_agent` label value.
    #[serde(default = "default_service_agent")]
    pub service_agent: String,
    /// Per-operation settings, looked up by operation name.
    #[serde(default)]
    pub operations: Vec<OperationControl>,
}

/// Where the control service is reached through Envoy (`dispatch_http_call`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The Envoy cluster name the compiler emitted for the control service.
    pub cluster: String,
    /// `:authority` of the calls (the control service's host, e.g. `servicecontrol.googleapis.com`).
    pub authority: String,
    /// Prepended to `/v1/services/...` when the service is mounted below a path.
    #[serde(default)]
    pub path_prefix: String,
    /// A static bearer token (`wasp-control serve --control-token`). Google's service needs an
    /// OAuth access token instead, which the adapter supplies per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Send an OAuth access token from the metadata server (`id_token_source`), as ESPv2
    /// does for Google's Service Control.
    #[serde(default, skip_serializing_if = "is_false")]
    pub metadata_access_token: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What happens to a request when Check or AllocateQuota cannot reach a decision because the
/// control service is unreachable or failing (no response, timeout, HTTP 5xx).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailPolicy {
    /// Let the request through (ESPv2's `--service_control_network_fail_policy=open`).
    #[default]
    Open,
    /// Answer 503 UNAVAILABLE.
    Closed,
}

/// Timeout and retries of one kind of call. A retry happens only after a network failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSettings {
    pub timeout_ms: u64,
    pub retries: u32,
}

impl CallSettings {
    /// ESPv2: check 1000 ms, 3 retries.
    pub fn check_default() -> CallSettings {
        CallSettings {
            timeout_ms: 1000,
            retries: 3,
        }
    }
    /// ESPv2: quota 1000 ms, 1 retry.
    pub fn quota_default() -> CallSettings {
        CallSettings {
            timeout_ms: 1000,
            retries: 1,
        }
    }
    /// ESPv2: report 2000 ms, 5 retries.
    pub fn report_default() -> CallSettings {
        CallSettings {
            timeout_ms: 2000,
            retries: 5,
        }
    }
}

/// How Check results are reused (Google's client guidance: 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCacheSettings {
    /// A result (allow or deny) is reused without asking again for this long.
    pub fresh_secs: u64,
    /// After that, a result is still served while the control service fails, up to this age.
    pub keep_on_failure_secs: u64,
    /// Entries per VM; the oldest go first.
    pub max_entries: usize,
}

impl Default for CheckCacheSettings {
    fn default() -> Self {
        CheckCacheSettings {
            fresh_secs: 60,
            keep_on_failure_secs: 3600,
            max_entries: 10_000,
        }
    }
}

/// AllocateQuota behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSettings {
    /// `NORMAL` (default): a request that does not fit is denied and consumes nothing, so the
    /// limit is reached exactly. `BEST_EFFORT` is what ESPv2 sends to Google.
    pub mode: QuotaModeSetting,
    /// Keep a denial (per consumer and operation) until the end of its one-minute window.
    pub cache_denials: bool,
    /// Entries per VM in the denial cache.
    pub max_denials: usize,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            mode: QuotaModeSetting::Normal,
            cache_denials: true,
            max_denials: 10_000,
        }
    }
}

/// The `QuotaOperation.quota_mode` sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuotaModeSetting {
    Normal,
    BestEffort,
}

/// How reports are batched per VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportBatchSettings {
    /// A batch is sent at least this often (from `on_tick`) when it holds anything.
    pub flush_interval_ms: u64,
    /// A batch is sent at once when it holds this many distinct operations; memory is bounded
    /// by it.
    pub max_operations: usize,
}

impl Default for ReportBatchSettings {
    fn default() -> Self {
        ReportBatchSettings {
            flush_interval_ms: 1000,
            max_operations: 1000,
        }
    }
}

/// Per-operation Service Control settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationControl {
    /// The operation selector, `1.<api>.<OperationId>`.
    pub name: String,
    /// A key is required and checked (see `requiredness.rs`). When false no Check is made,
    /// even if a key is sent (ESPv2): the key only selects the quota consumer.
    #[serde(default)]
    pub api_key_required: bool,
    /// Where keys are read from; empty means ESPv2's defaults (query `key`, query `api_key`,
    /// header `x-api-key`). Custom locations replace the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_key_locations: Vec<KeyLocation>,
    /// `x-google-quota.metricCosts`; empty means no AllocateQuota.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metric_costs: BTreeMap<String, i64>,
}

/// One place an API key may be sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLocation {
    /// A query parameter (name compared case-sensitively, as ESPv2).
    Query(String),
    /// A request header (name compared case-insensitively).
    Header(String),
}

fn default_header_prefix() -> String {
    "X-Endpoint-".into()
}

fn default_failure_log_interval() -> u64 {
    60
}

fn default_service_agent() -> String {
    concat!("wasp/", env!("CARGO_PKG_VERSION")).into()
}

impl ControlClientConfig {
    /// Parses a config and checks what serde cannot.
    pub fn from_json(bytes: &[u8]) -> Result<ControlClientConfig, String> {
        let config: ControlClientConfig = serde_json::from_slice(bytes)
            .map_err(|e| format!("control client config is not valid JSON for this schema: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Names must be non-empty and unique; timeouts must be positive (Envoy treats a zero
    /// callout timeout as "wait forever").
    pub fn validate(&self) -> Result<(), String> {
        if self.service_name.is_empty() {
            return Err("control client config has an empty service_name".into());
        }
        if self.endpoint.cluster.is_empty() || self.endpoint.authority.is_empty() {
            return Err("control client endpoint needs a cluster and an authority".into());
        }
        for (what, call) in [
            ("check", self.check),
            ("quota", self.quota),
            ("report", self.report),
        ] {
            if call.timeout_ms == 0 {
                return Err(format!(
                    "{what}.timeout_ms is 0; Envoy would wait forever, give a positive timeout"
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for op in &self.operations {
            if !names.insert(op.name.as_str()) {
                return Err(format!("operation {} is configured twice", op.name));
            }
        }
        Ok(())
    }

    /// The settings of an operation, if it has any.
    pub fn operation(&self, name: &str) -> Option<&OperationControl> {
        self.operations.iter().find(|op| op.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"service_name": "shop.example.com", "producer_project_id": "p",
        "endpoint": {"cluster": "control", "authority": "control.local"},
        "operations": [{"name": "1.shop.Read", "api_key_required": true,
                        "api_key_locations": [{"header": "x-shop-key"}], "metric_costs": {"reads": 3}}]}"#;

    #[test]
    fn defaults_are_espv2s() {
        let config = ControlClientConfig::from_json(MINIMAL.as_bytes()).unwrap();
        assert_eq!(config.network_fail_policy, FailPolicy::Open);
        assert_eq!((config.check.timeout_ms, config.check.retries), (1000, 3));
        assert_eq!((config.quota.timeout_ms, config.quota.retries), (1000, 1));
        assert_eq!((config.report.timeout_ms, config.report.retries), (2000, 5));
        assert_eq!(config.check_cache.fresh_secs, 60);
        assert_eq!(config.generated_header_prefix, "X-Endpoint-");
        assert!(!config.remove_api_key);
        let op = config.operation("1.shop.Read").unwrap();
        assert_eq!(
            op.api_key_locations,
            vec![KeyLocation::Header("x-shop-key".into())]
        );
        assert_eq!(op.metric_costs["reads"], 3);
    }

    #[test]
    fn rejects_zero_timeouts_and_duplicate_operations() {
        let zero = MINIMAL.replace(
            r#""producer_project_id": "p","#,
            r#""producer_project_id": "p", "quota": {"timeout_ms": 0, "retries": 1},"#,
        );
        assert!(ControlClientConfig::from_json(zero.as_bytes())
            .unwrap_err()
            .contains("quota.timeout_ms is 0"));
        let mut config = ControlClientConfig::from_json(MINIMAL.as_bytes()).unwrap();
        config.operations.push(config.operations[0].clone());
        assert!(config.validate().unwrap_err().contains("configured twice"));
    }

    #[test]
    fn fail_policy_spelling() {
        let closed = MINIMAL.replace(
            r#""producer_project_id": "p","#,
            r#""producer_project_id": "p", "network_fail_policy": "closed","#,
        );
        let config = ControlClientConfig::from_json(closed.as_bytes()).unwrap();
        assert_eq!(config.network_fail_policy, FailPolicy::Closed);
    }
}
