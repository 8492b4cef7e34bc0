//! What gateways reported: request counts per service, operation, consumer and response
//! code, plus the most recent operations, kept in memory and served on `GET /admin/reports`;
//! per-minute rows kept durably when configured ([`ReportMinutes`]).

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use wasp_servicecontrol::Operation;

use crate::report_minutes::ReportMinutes;
use crate::reported::{request_count, response_code};

/// How many recent operations are kept for inspection.
pub const RECENT_CAPACITY: usize = 1000;

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

/// The report log: counts since start in memory, and per-minute rows in the key database
/// when durable ([`ReportMinutes`]).
#[derive(Default)]
pub struct ReportLog {
    inner: Mutex<Inner>,
    minutes: Option<ReportMinutes>,
}

impl ReportLog {
    pub fn new() -> ReportLog {
        ReportLog::default()
    }

    /// A log that also keeps per-minute rows in `minutes`.
    pub fn durable(minutes: ReportMinutes) -> ReportLog {
        ReportLog {
            minutes: Some(minutes),
            ..ReportLog::default()
        }
    }

    /// The durable per-minute rows, when kept.
    pub fn minutes(&self) -> Option<&ReportMinutes> {
        self.minutes.as_ref()
    }

    /// Records a report's operations (each with its resolved consumer): durably first, all
    /// or none, so a failure the gateway retries counts nothing twice.
    pub async fn record_all(
        &self,
        service: &str,
        operations: Vec<(&Operation, String)>,
        now: i64,
    ) -> Result<(), String> {
        if let Some(minutes) = &self.minutes {
            minutes
                .record(service, &operations, now)
                .await
                .map_err(|e| format!("cannot store the report: {e}"))?;
        }
        for (operation, consumer) in operations {
            self.record(service, operation, consumer, now);
        }
        Ok(())
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
    use crate::reported::{PRODUCER_REQUEST_COUNT, RESPONSE_CODE_LABEL};
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
