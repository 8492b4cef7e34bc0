//! What gateways reported: request counts per service, operation, consumer and response
//! code, plus the most recent operations, kept in memory and served on `GET /admin/reports`.
//!
//! Gateways aggregate: one reported operation may stand for several requests. The count
//! of an operation is its `serviceruntime.googleapis.com/api/producer/request_count`
//! value when present; an operation carrying only `by_consumer` metrics is ESPv2's
//! per-consumer copy of another operation and counts 0; anything else counts 1.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use wasp_servicecontrol::Operation;

/// How many recent operations are kept for inspection.
pub const RECENT_CAPACITY: usize = 1000;

const PRODUCER_REQUEST_COUNT: &str = "serviceruntime.googleapis.com/api/producer/request_count";
const RESPONSE_CODE_LABEL: &str = "/response_code";

/// One reported operation, as kept and shown. `consumer` never holds an API key: keys
/// are replaced by their project (`project:<id>`) or by `api_key:unrecognized`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedOperation {
    pub service: String,
    pub operation_id: String,
    pub operation: String,
    pub consumer: String,
    pub response_code: String,
    pub requests: u64,
    /// Unix seconds when the report arrived.
    pub received_at: i64,
}

/// Requests counted under one (service, operation, consumer, response code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportCount {
    pub service: String,
    pub operation: String,
    pub consumer: String,
    pub response_code: String,
    pub requests: u64,
}

/// The admin view of everything reported since start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportSummary {
    pub operations: u64,
    pub requests: u64,
    pub counts: Vec<ReportCount>,
    pub recent: Vec<RecordedOperation>,
}

type CountKey = (String, String, String, String);

#[derive(Default)]
struct Inner {
    operations: u64,
    requests: u64,
    counts: BTreeMap<CountKey, u64>,
    recent: VecDeque<RecordedOperation>,
}

/// The in-memory report log.
#[derive(Default)]
pub struct ReportLog {
    inner: Mutex<Inner>,
}

/// How many requests one reported operation stands for.
pub fn request_count(operation: &Operation) -> u64 {
    let producer = operation
        .metric_value_sets
        .iter()
        .find(|set| set.metric_name == PRODUCER_REQUEST_COUNT);
    if let Some(set) = producer {
        return u64::try_from(set.int64_sum()).unwrap_or(0);
    }
    let by_consumer_only = !operation.metric_value_sets.is_empty()
        && operation
            .metric_value_sets
            .iter()
            .all(|set| set.metric_name.contains("/by_consumer/"));
    u64::from(!by_consumer_only)
}

/// The response code of an operation: the `/response_code` label, else the status of
/// its first log entry's HTTP request, else `unknown`.
pub fn response_code(operation: &Operation) -> String {
    if let Some(code) = operation.labels.get(RESPONSE_CODE_LABEL) {
        return code.clone();
    }
    operation
        .log_entries
        .iter()
        .find_map(|entry| entry.http_request.as_ref().map(|http| http.status))
        .filter(|status| *status != 0)
        .map_or_else(|| "unknown".to_string(), |status| status.to_string())
}

impl ReportLog {
    pub fn new() -> ReportLog {
        ReportLog::default()
    }

    /// Records one operation; `consumer` is already resolved (no plaintext key).
    pub fn record(&self, service: &str, operation: &Operation, consumer: String, now: i64) {
        let recorded = RecordedOperation {
            service: service.to_string(),
            operation_id: operation.operation_id.clone(),
            operation: operation.operation_name.clone(),
            consumer,
            response_code: response_code(operation),
            requests: request_count(operation),
            received_at: now,
        };
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.operations += 1;
        inner.requests += recorded.requests;
        let key = (
            recorded.service.clone(),
            recorded.operation.clone(),
            recorded.consumer.clone(),
            recorded.response_code.clone(),
        );
        *inner.counts.entry(key).or_insert(0) += recorded.requests;
        if inner.recent.len() == RECENT_CAPACITY {
            inner.recent.pop_front();
        }
        inner.recent.push_back(recorded);
    }

    /// Everything recorded so far.
    pub fn summary(&self) -> ReportSummary {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ReportSummary {
            operations: inner.operations,
            requests: inner.requests,
            counts: inner
                .counts
                .iter()
                .map(
                    |((service, operation, consumer, response_code), requests)| ReportCount {
                        service: service.clone(),
                        operation: operation.clone(),
                        consumer: consumer.clone(),
                        response_code: response_code.clone(),
                        requests: *requests,
                    },
                )
                .collect(),
            recent: inner.recent.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_servicecontrol::{HttpRequest, LogEntry, MetricValueSet};

    fn op(name: &str, code: Option<&str>, metrics: Vec<MetricValueSet>) -> Operation {
        let mut operation = Operation {
            operation_name: name.into(),
            metric_value_sets: metrics,
            ..Default::default()
        };
        if let Some(code) = code {
            operation
                .labels
                .insert(RESPONSE_CODE_LABEL.into(), code.into());
        }
        operation
    }

    #[test]
    fn counts_aggregated_operations_by_their_request_count() {
        let log = ReportLog::new();
        log.record(
            "s",
            &op(
                "A",
                Some("200"),
                vec![MetricValueSet::int64(PRODUCER_REQUEST_COUNT, 5)],
            ),
            "project:p".into(),
            1,
        );
        log.record("s", &op("A", Some("200"), vec![]), "project:p".into(), 2);
        log.record("s", &op("A", Some("429"), vec![]), "project:p".into(), 3);
        let by_consumer = MetricValueSet::int64(
            "serviceruntime.googleapis.com/api/consumer/by_consumer/request_count",
            1,
        );
        log.record(
            "s",
            &op("A", Some("200"), vec![by_consumer]),
            "project:p".into(),
            4,
        );

        let summary = log.summary();
        assert_eq!(summary.operations, 4);
        assert_eq!(summary.requests, 7);
        let ok = summary
            .counts
            .iter()
            .find(|c| c.response_code == "200")
            .unwrap();
        assert_eq!(ok.requests, 6);
        assert_eq!(summary.recent.len(), 4);
    }

    #[test]
    fn response_code_falls_back_to_the_log_entry() {
        let mut operation = op("A", None, vec![]);
        assert_eq!(response_code(&operation), "unknown");
        operation.log_entries.push(LogEntry {
            http_request: Some(HttpRequest {
                status: 404,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(response_code(&operation), "404");
    }

    #[test]
    fn recent_is_bounded() {
        let log = ReportLog::new();
        for i in 0..(RECENT_CAPACITY + 5) {
            log.record(
                "s",
                &op(&format!("op{i}"), Some("200"), vec![]),
                String::new(),
                0,
            );
        }
        let summary = log.summary();
        assert_eq!(summary.recent.len(), RECENT_CAPACITY);
        assert_eq!(summary.recent[0].operation, "op5");
    }
}
