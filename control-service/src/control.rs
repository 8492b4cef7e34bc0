//! The three Service Control calls — Check, AllocateQuota, Report — as plain functions of
//! the request, the loaded service configs, the key store, the quota windows and the
//! current time (passed in). `http.rs` only moves bytes in and out.
//!
//! Decisions (documented for gateway authors):
//! - Unknown service in the path: HTTP 404 `NOT_FOUND` (Google answers 403/404 for a
//!   service it does not manage; ESPv2 turns any non-5xx into a 500 for the client).
//! - Check with `api_key:<key>`: unknown **or revoked** key -> `CheckError API_KEY_INVALID`
//!   ("API key not valid. Please pass a valid API key."), as Google does for deleted keys;
//!   a valid key -> `check_info.consumer_info` with the key's project number.
//! - AllocateQuota: costs from `quota_metrics` (or, when empty, the config's costs for
//!   `method_name`); a cost of 0 or less counts 1 (as ESPv2); every limit on a charged
//!   metric is charged in the consumer project's current minute; exceeding -> `QuotaError
//!   RESOURCE_EXHAUSTED` and nothing is consumed (see `quota.rs`).
//! - A failing key database or Redis -> HTTP 503, so gateways apply their fail-open policy.

use crate::consumer::{parse_consumer, Consumer};
use crate::key_cache::KeyCache;
use crate::metrics::ControlMetrics;
use crate::quota::{
    allocation_key, counter_name, window_of, Allocation, Charge, Outcome, QuotaWindows,
};
use crate::reports::ReportLog;
use crate::store::{key_hash, KeyInfo, KeyStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wasp_config::control::ControlConfig;
use wasp_servicecontrol::check_error::Code as CheckCode;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;
use wasp_servicecontrol::check_response::{CheckInfo, ConsumerInfo};
use wasp_servicecontrol::quota_error::Code as QuotaCode;
use wasp_servicecontrol::quota_operation::QuotaMode;
use wasp_servicecontrol::{
    AllocateQuotaRequest, AllocateQuotaResponse, CheckError, CheckRequest, CheckResponse,
    MetricValue, MetricValueSet, QuotaError, ReportRequest, ReportResponse, Status,
};

/// Google's text for a bad API key (ESPv2 shows it to the client).
pub const API_KEY_INVALID_MESSAGE: &str = "API key not valid. Please pass a valid API key.";
/// Metric Google returns with a granted allocation: units used per quota metric.
const QUOTA_USED_METRIC: &str = "serviceruntime.googleapis.com/api/consumer/quota_used_count";
/// google.rpc.Code values used in `Status`.
const RPC_INVALID_ARGUMENT: i32 = 3;
const RPC_RESOURCE_EXHAUSTED: i32 = 8;

/// A call that gets no protobuf answer, but an HTTP error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The service is not configured here (404).
    UnknownService(String),
    /// The request is malformed (400).
    InvalidArgument(String),
    /// A backing store failed (503): gateways fail open or closed by their policy.
    Unavailable(String),
}

impl CallError {
    pub fn http_status(&self) -> u16 {
        match self {
            CallError::UnknownService(_) => 404,
            CallError::InvalidArgument(_) => 400,
            CallError::Unavailable(_) => 503,
        }
    }

    /// The `google.rpc.Code` name for the JSON error body.
    pub fn status_name(&self) -> &'static str {
        match self {
            CallError::UnknownService(_) => "NOT_FOUND",
            CallError::InvalidArgument(_) => "INVALID_ARGUMENT",
            CallError::Unavailable(_) => "UNAVAILABLE",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CallError::UnknownService(m)
            | CallError::InvalidArgument(m)
            | CallError::Unavailable(m) => m,
        }
    }
}

impl From<StoreError> for CallError {
    fn from(e: StoreError) -> Self {
        CallError::Unavailable(e.to_string())
    }
}

/// The loaded control configs by service name.
type Services = HashMap<String, Arc<ControlConfig>>;

/// Everything the three calls need.
pub struct ControlService {
    /// Swapped whole by [`ControlService::replace_configs`]; a call holds the `Arc` of its
    /// service's config, so a reload never changes a call half-way.
    services: RwLock<Arc<Services>>,
    keys: Arc<dyn KeyStore>,
    windows: Arc<dyn QuotaWindows>,
    reports: Arc<ReportLog>,
    metrics: ControlMetrics,
    key_cache: KeyCache,
}

/// What an API key turned out to be.
enum KeyState {
    Valid(KeyInfo),
    Invalid,
}

/// Indexes configs by service; two configs for one service are refused.
fn index(configs: Vec<ControlConfig>) -> Result<Services, String> {
    let mut services = HashMap::new();
    for config in configs {
        let name = config.service_name.clone();
        if services.insert(name.clone(), Arc::new(config)).is_some() {
            return Err(format!(
                "service {name} is configured twice; pass each control config once"
            ));
        }
    }
    Ok(services)
}

impl ControlService {
    /// Fails when two configs name the same service.
    pub fn new(
        configs: Vec<ControlConfig>,
        keys: Arc<dyn KeyStore>,
        windows: Arc<dyn QuotaWindows>,
        reports: Arc<ReportLog>,
    ) -> Result<ControlService, String> {
        Ok(ControlService {
            services: RwLock::new(Arc::new(index(configs)?)),
            keys,
            windows,
            reports,
            metrics: ControlMetrics::default(),
            key_cache: KeyCache::new(Duration::ZERO),
        })
    }

    /// Reuses each key lookup for `bound` (`--key-cache-seconds`): a revocation applies
    /// here within it. Zero (the default) asks the database on every call.
    pub fn with_key_cache(mut self, bound: Duration) -> ControlService {
        self.key_cache = KeyCache::new(bound);
        self
    }

    /// Serves `configs` from the next call on; keys, quota windows and reports stay as they
    /// are. Refused (nothing changes) when two configs name the same service. Returns the
    /// service names now served.
    pub fn replace_configs(&self, configs: Vec<ControlConfig>) -> Result<Vec<String>, String> {
        let services = index(configs)?;
        let mut names: Vec<String> = services.keys().cloned().collect();
        names.sort();
        *self.services.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(services);
        Ok(names)
    }

    /// The service names served now, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.current().keys().cloned().collect();
        names.sort();
        names
    }

    fn current(&self) -> Arc<Services> {
        Arc::clone(&self.services.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn keys(&self) -> &Arc<dyn KeyStore> {
        &self.keys
    }

    pub fn reports(&self) -> &Arc<ReportLog> {
        &self.reports
    }

    /// Its own calls, denials and store latency (`GET /metrics`).
    pub fn metrics(&self) -> &ControlMetrics {
        &self.metrics
    }

    /// The config of the service named in the path; the body may repeat the name but
    /// must not contradict it.
    fn service(
        &self,
        path_service: &str,
        body_service: &str,
    ) -> Result<Arc<ControlConfig>, CallError> {
        let config = self.current().get(path_service).cloned().ok_or_else(|| {
            CallError::UnknownService(format!(
                "service {path_service:?} is not configured on this control service"
            ))
        })?;
        if !body_service.is_empty() && body_service != path_service {
            return Err(CallError::InvalidArgument(format!(
                "service_name {body_service:?} in the body does not match {path_service:?} in the path"
            )));
        }
        Ok(config)
    }

    async fn key_state(&self, key: &str) -> Result<KeyState, CallError> {
        // Store latency is the database's: a lookup the cache answered is not timed.
        let hash = key_hash(key);
        let found = self
            .key_cache
            .get_or_load(&hash, Instant::now(), || async {
                let started = Instant::now();
                let found = self.keys.lookup_hash(&hash).await;
                self.metrics.store("keys", started.elapsed());
                found
            })
            .await;
        Ok(match found? {
            Some(info) if !info.is_revoked() => KeyState::Valid(info),
            _ => KeyState::Invalid,
        })
    }

    /// `services/{name}:check`.
    pub async fn check(
        &self,
        path_service: &str,
        request: &CheckRequest,
    ) -> Result<CheckResponse, CallError> {
        let config = self.service(path_service, &request.service_name)?;
        let operation = request.operation.as_ref().ok_or_else(|| {
            CallError::InvalidArgument("CheckRequest.operation is required".into())
        })?;
        let mut response = CheckResponse {
            operation_id: operation.operation_id.clone(),
            service_config_id: request.service_config_id.clone(),
            ..CheckResponse::default()
        };
        let consumer =
            parse_consumer(&operation.consumer_id).map_err(CallError::InvalidArgument)?;
        let project_number = match consumer {
            Consumer::ApiKey(key) => match self.key_state(key).await? {
                KeyState::Valid(info) => Some(info.project_number),
                KeyState::Invalid => {
                    response.check_errors.push(check_error(
                        CheckCode::ApiKeyInvalid,
                        API_KEY_INVALID_MESSAGE,
                    ));
                    None
                }
            },
            Consumer::Project(id) => match self.keys.project_number(id).await? {
                Some(number) => Some(number),
                None if id == config.producer_project_id => None,
                None => {
                    let detail = format!("project {id:?} is not known to this control service");
                    response
                        .check_errors
                        .push(check_error(CheckCode::ProjectInvalid, &detail));
                    None
                }
            },
            Consumer::ProjectNumber(number) => match self.keys.project_id(number).await? {
                Some(_) => Some(number),
                None => {
                    let detail =
                        format!("project number {number} is not known to this control service");
                    response
                        .check_errors
                        .push(check_error(CheckCode::ProjectInvalid, &detail));
                    None
                }
            },
            Consumer::Anonymous => None,
        };
        if let Some(number) = project_number {
            response.check_info = Some(CheckInfo {
                unused_arguments: Vec::new(),
                consumer_info: Some(ConsumerInfo {
                    project_number: number,
                    r#type: ConsumerType::Project as i32,
                    consumer_number: number,
                }),
            });
        }
        Ok(response)
    }

    /// `services/{name}:allocateQuota`. `now` is unix seconds.
    pub async fn allocate_quota(
        &self,
        path_service: &str,
        request: &AllocateQuotaRequest,
        now: i64,
    ) -> Result<AllocateQuotaResponse, CallError> {
        let config = self.service(path_service, &request.service_name)?;
        let operation = request.allocate_operation.as_ref().ok_or_else(|| {
            CallError::InvalidArgument("AllocateQuotaRequest.allocate_operation is required".into())
        })?;
        let mut response = AllocateQuotaResponse {
            operation_id: operation.operation_id.clone(),
            service_config_id: request.service_config_id.clone(),
            ..AllocateQuotaResponse::default()
        };
        let consumer =
            match parse_consumer(&operation.consumer_id).map_err(CallError::InvalidArgument)? {
                Consumer::ApiKey(key) => match self.key_state(key).await? {
                    KeyState::Valid(info) => format!("project:{}", info.project_id),
                    KeyState::Invalid => {
                        response.allocate_errors.push(QuotaError {
                            code: QuotaCode::ApiKeyInvalid as i32,
                            subject: String::new(),
                            description: API_KEY_INVALID_MESSAGE.into(),
                            status: Some(Status {
                                code: RPC_INVALID_ARGUMENT,
                                message: API_KEY_INVALID_MESSAGE.into(),
                                details: vec![],
                            }),
                        });
                        return Ok(response);
                    }
                },
                Consumer::Project(id) => format!("project:{id}"),
                Consumer::ProjectNumber(number) => match self.keys.project_id(number).await? {
                    Some(id) => format!("project:{id}"),
                    None => format!("project_number:{number}"),
                },
                Consumer::Anonymous => {
                    return Err(CallError::InvalidArgument(
                        "QuotaOperation.consumer_id is required".into(),
                    ));
                }
            };
        let costs = requested_costs(&config, operation).map_err(CallError::InvalidArgument)?;
        let charged = charges(&config, &consumer, &costs, window_of(now));
        let allocation = Allocation {
            charges: charged.iter().map(|(charge, _)| charge.clone()).collect(),
            commit: operation.quota_mode() != QuotaMode::CheckOnly,
            key: (!operation.operation_id.is_empty())
                .then(|| allocation_key(path_service, &consumer, &operation.operation_id)),
        };
        let started = Instant::now();
        let allocated = self.windows.allocate(&allocation).await;
        self.metrics.store("quota", started.elapsed());
        let outcome = allocated.map_err(|e| CallError::Unavailable(e.to_string()))?;
        match outcome {
            Outcome::Granted => {
                if !costs.is_empty() {
                    response.quota_metrics.push(MetricValueSet {
                        metric_name: QUOTA_USED_METRIC.into(),
                        metric_values: costs
                            .iter()
                            .map(|(metric, cost)| {
                                let mut value = MetricValue::int64(*cost);
                                value.labels.insert("/quota_name".into(), metric.clone());
                                value
                            })
                            .collect(),
                    });
                }
            }
            Outcome::Exhausted { index, .. } => {
                let limit = charged.get(index).map(|(_, limit)| *limit);
                let description = exhausted_description(&config, limit, &consumer);
                response.allocate_errors.push(QuotaError {
                    code: QuotaCode::ResourceExhausted as i32,
                    subject: consumer.clone(),
                    description: description.clone(),
                    status: Some(Status {
                        code: RPC_RESOURCE_EXHAUSTED,
                        message: description,
                        details: vec![],
                    }),
                });
            }
        }
        Ok(response)
    }

    /// `services/{name}:report`. Records every operation; keys are reduced to their
    /// project so reports never hold a plaintext key.
    pub async fn report(
        &self,
        path_service: &str,
        request: &ReportRequest,
        now: i64,
    ) -> Result<ReportResponse, CallError> {
        self.service(path_service, &request.service_name)?;
        let mut resolved = Vec::with_capacity(request.operations.len());
        for operation in &request.operations {
            let consumer = match parse_consumer(&operation.consumer_id) {
                Ok(Consumer::ApiKey(key)) => match self.key_state(key).await? {
                    KeyState::Valid(info) => format!("project:{}", info.project_id),
                    KeyState::Invalid => "api_key:unrecognized".into(),
                },
                Ok(Consumer::Project(id)) => format!("project:{id}"),
                Ok(Consumer::ProjectNumber(number)) => format!("project_number:{number}"),
                Ok(Consumer::Anonymous) => String::new(),
                Err(_) => "invalid".into(),
            };
            resolved.push((operation, consumer));
        }
        self.reports
            .record_all(path_service, resolved, now)
            .await
            .map_err(CallError::Unavailable)?;
        Ok(ReportResponse {
            service_config_id: request.service_config_id.clone(),
            ..ReportResponse::default()
        })
    }
}

fn check_error(code: CheckCode, detail: &str) -> CheckError {
    CheckError {
        code: code as i32,
        subject: String::new(),
        detail: detail.to_string(),
        status: Some(Status {
            code: RPC_INVALID_ARGUMENT,
            message: detail.to_string(),
            details: vec![],
        }),
    }
}

/// Metric -> cost for this request: `quota_metrics` when given (every metric must be
/// declared), else the config's costs for `method_name`. Costs of 0 or less count 1.
fn requested_costs(
    config: &ControlConfig,
    operation: &wasp_servicecontrol::QuotaOperation,
) -> Result<BTreeMap<String, i64>, String> {
    let mut costs = BTreeMap::new();
    if operation.quota_metrics.is_empty() {
        if let Some(configured) = config.costs_of(&operation.method_name) {
            for (metric, cost) in configured {
                costs.insert(metric.clone(), (*cost).max(1));
            }
        }
        return Ok(costs);
    }
    for set in &operation.quota_metrics {
        if !config.has_metric(&set.metric_name) {
            return Err(format!(
                "quota metric {:?} is not declared for service {}; declare it in x-google-management.metrics",
                set.metric_name, config.service_name
            ));
        }
        let cost = set.int64_sum().max(1);
        let slot = costs.entry(set.metric_name.clone()).or_insert(0i64);
        *slot = slot.saturating_add(cost);
    }
    Ok(costs)
}

/// One charge per limit on a charged metric, paired with that limit.
fn charges<'a>(
    config: &'a ControlConfig,
    consumer: &str,
    costs: &BTreeMap<String, i64>,
    window: i64,
) -> Vec<(Charge, &'a wasp_config::control::QuotaLimit)> {
    costs
        .iter()
        .flat_map(|(metric, cost)| {
            config
                .limits
                .iter()
                .filter(move |limit| limit.metric == *metric)
                .map(move |limit| {
                    let charge = Charge {
                        counter: counter_name(&config.service_name, &limit.name, consumer),
                        window,
                        cost: *cost,
                        limit: limit.per_minute,
                    };
                    (charge, limit)
                })
        })
        .collect()
}

/// Google's wording: "Quota exceeded for quota metric '...' and limit '...' of service '...' for consumer '...'."
fn exhausted_description(
    config: &ControlConfig,
    limit: Option<&wasp_config::control::QuotaLimit>,
    consumer: &str,
) -> String {
    let Some(limit) = limit else {
        return format!(
            "Quota exceeded for service '{}' for consumer '{consumer}'.",
            config.service_name
        );
    };
    let metric = config
        .metrics
        .iter()
        .find(|m| m.name == limit.metric)
        .and_then(|m| m.display_name.clone())
        .unwrap_or_else(|| limit.metric.clone());
    let limit_name = limit.display_name.clone().unwrap_or_else(|| {
        format!(
            "{} ({} per minute per project)",
            limit.name, limit.per_minute
        )
    });
    format!(
        "Quota exceeded for quota metric '{metric}' and limit '{limit_name}' of service '{}' for consumer '{consumer}'.",
        config.service_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::MemoryWindows;
    use wasp_config::control::{OperationCosts, QuotaLimit, QuotaMetric, CONTROL_SCHEMA_VERSION};
    use wasp_servicecontrol::QuotaOperation;

    async fn service() -> (tempfile::TempDir, ControlService, String) {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::sqlite_store::SqliteStore::open(&dir.path().join("k.db")).unwrap();
        let key = keys.create("acme", Some(5), 0).await.unwrap().key;
        let config = ControlConfig {
            version: CONTROL_SCHEMA_VERSION,
            service_name: "s".into(),
            producer_project_id: "prod".into(),
            metrics: vec![QuotaMetric {
                name: "m".into(),
                display_name: None,
            }],
            limits: vec![QuotaLimit {
                name: "l".into(),
                metric: "m".into(),
                per_minute: 5,
                display_name: None,
            }],
            operations: vec![OperationCosts {
                operation: "op".into(),
                metric_costs: [("m".to_string(), 5)].into(),
            }],
        };
        let control = ControlService::new(
            vec![config],
            Arc::new(keys),
            Arc::new(MemoryWindows::new()),
            Arc::new(ReportLog::new()),
        )
        .unwrap();
        (dir, control, key)
    }

    fn by_method(key: &str) -> AllocateQuotaRequest {
        AllocateQuotaRequest {
            service_name: "s".into(),
            allocate_operation: Some(QuotaOperation {
                method_name: "op".into(),
                consumer_id: format!("api_key:{key}"),
                ..Default::default()
            }),
            service_config_id: String::new(),
        }
    }

    #[tokio::test]
    async fn the_window_resets_on_the_next_minute() {
        let (_dir, control, key) = service().await;
        let request = by_method(&key);
        let minute = 1_700_000_040; // a multiple of 60
        assert!(control
            .allocate_quota("s", &request, minute)
            .await
            .unwrap()
            .allocate_errors
            .is_empty());
        let denied = control
            .allocate_quota("s", &request, minute + 59)
            .await
            .unwrap();
        assert_eq!(
            denied.allocate_errors[0].code(),
            QuotaCode::ResourceExhausted
        );
        assert!(denied.allocate_errors[0]
            .description
            .contains("limit 'l (5 per minute per project)'"));
        assert!(control
            .allocate_quota("s", &request, minute + 60)
            .await
            .unwrap()
            .allocate_errors
            .is_empty());
    }

    #[tokio::test]
    async fn operations_without_costs_are_granted_without_charging() {
        let (_dir, control, key) = service().await;
        let mut request = by_method(&key);
        if let Some(op) = request.allocate_operation.as_mut() {
            op.method_name = "free".into();
        }
        for _ in 0..10 {
            let response = control.allocate_quota("s", &request, 0).await.unwrap();
            assert!(response.allocate_errors.is_empty() && response.quota_metrics.is_empty());
        }
    }

    #[tokio::test]
    async fn duplicate_services_are_rejected() {
        let (_dir, control, _) = service().await;
        let config = (**control.current().values().next().unwrap()).clone();
        let keys = control.keys().clone();
        let error = ControlService::new(
            vec![config.clone(), config],
            keys,
            Arc::new(MemoryWindows::new()),
            Arc::new(ReportLog::new()),
        )
        .err()
        .unwrap();
        assert!(error.contains("configured twice"));
    }

    #[tokio::test]
    async fn check_without_operation_is_invalid() {
        let (_dir, control, _) = service().await;
        let request = CheckRequest {
            service_name: "s".into(),
            ..Default::default()
        };
        assert!(matches!(
            control.check("s", &request).await,
            Err(CallError::InvalidArgument(_))
        ));
        assert!(matches!(
            control.check("t", &request).await,
            Err(CallError::UnknownService(_))
        ));
    }
}
