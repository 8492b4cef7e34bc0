//! Reports kept durably: one row per (service, operation, consumer, response code, minute)
//! with the requests, the errors among them, the request and response bytes, and the latency
//! histogram the gateways sent (Service Control's exponential-bucket `Distribution`, merged
//! bucket by bucket). Rows older than the retention period are deleted as new minutes
//! arrive. Survives a restart; the admin API reads it by time range
//! (`GET /admin/reports/minutes?from=&to=`).
//!
//! This module turns reported operations into rows and adds rows up (plain Rust); a
//! [`MinuteStore`] (SQLite or Postgres) keeps them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use wasp_servicecontrol::metric_value::Value;
use wasp_servicecontrol::{Distribution, Operation};

use crate::reported::{request_count, response_code};
use crate::store::StoreError;

const PRODUCER: &str = "serviceruntime.googleapis.com/api/producer/";

fn distribution<'a>(operation: &'a Operation, metric: &str) -> Option<&'a Distribution> {
    let name = format!("{PRODUCER}{metric}");
    operation
        .metric_value_sets
        .iter()
        .find(|set| set.metric_name == name)?
        .metric_values
        .iter()
        .find_map(|value| match &value.value {
            Some(Value::DistributionValue(d)) => Some(d),
            _ => None,
        })
}

fn bytes(operation: &Operation, metric: &str) -> i64 {
    distribution(operation, metric).map_or(0, |d| (d.mean * d.count as f64).round() as i64)
}

/// A latency histogram as reported: counts per bucket (underflow first, overflow last) of
/// exponential buckets `scale * growth^i` seconds, their count and sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    pub count: i64,
    pub sum_seconds: f64,
    pub growth_factor: f64,
    pub scale_seconds: f64,
    pub bucket_counts: Vec<i64>,
}

impl LatencyHistogram {
    fn from_distribution(d: &Distribution) -> LatencyHistogram {
        let (growth_factor, scale_seconds) = match &d.bucket_option {
            Some(wasp_servicecontrol::distribution::BucketOption::ExponentialBuckets(e)) => {
                (e.growth_factor, e.scale)
            }
            _ => (0.0, 0.0),
        };
        LatencyHistogram {
            count: d.count,
            sum_seconds: d.mean * d.count as f64,
            growth_factor,
            scale_seconds,
            bucket_counts: d.bucket_counts.clone(),
        }
    }

    /// From its stored JSON; a text that does not read counts as empty.
    pub fn from_stored(text: &str) -> LatencyHistogram {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// As stored: JSON text.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Adds `other`; buckets of a different shape are left out (count and sum still add).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_seconds += other.sum_seconds;
        let same_shape = self.bucket_counts.len() == other.bucket_counts.len()
            && self.growth_factor == other.growth_factor
            && self.scale_seconds == other.scale_seconds;
        if same_shape {
            for (mine, theirs) in self.bucket_counts.iter_mut().zip(&other.bucket_counts) {
                *mine = mine.saturating_add(*theirs);
            }
        }
    }
}

/// A key's totals as a store reads them back (the histogram still as its stored JSON).
pub struct StoredTotals {
    pub requests: i64,
    pub errors: i64,
    pub request_bytes: i64,
    pub response_bytes: i64,
    pub latency: String,
}

/// One minute of one (service, operation, consumer, response code).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteRow {
    pub service: String,
    pub operation: String,
    pub consumer: String,
    pub response_code: String,
    /// Unix seconds at the start of the minute.
    pub minute: i64,
    pub requests: i64,
    /// Requests answered 400 or above.
    pub errors: i64,
    pub request_bytes: i64,
    pub response_bytes: i64,
    pub latency: LatencyHistogram,
}

impl MinuteRow {
    /// The row one reported operation adds to: its minute is the operation's start (else `now`).
    pub fn from_operation(
        service: &str,
        operation: &Operation,
        consumer: &str,
        now: i64,
    ) -> MinuteRow {
        let at = operation.start_time.as_ref().map_or(now, |t| t.seconds);
        let code = response_code(operation);
        let requests = i64::try_from(request_count(operation)).unwrap_or(i64::MAX);
        let errors = if code.parse::<u16>().is_ok_and(|c| c >= 400) {
            requests
        } else {
            0
        };
        MinuteRow {
            service: service.to_string(),
            operation: operation.operation_name.clone(),
            consumer: consumer.to_string(),
            response_code: code,
            minute: at - at.rem_euclid(60),
            requests,
            errors,
            request_bytes: bytes(operation, "request_sizes"),
            response_bytes: bytes(operation, "response_sizes"),
            latency: distribution(operation, "total_latencies")
                .map(LatencyHistogram::from_distribution)
                .unwrap_or_default(),
        }
    }

    /// What a store writes back for this row's key: the totals it holds (`None`: a new key)
    /// with this row added.
    pub fn added_to(&self, stored: Option<StoredTotals>) -> MinuteRow {
        let mut total = MinuteRow {
            requests: 0,
            errors: 0,
            request_bytes: 0,
            response_bytes: 0,
            latency: LatencyHistogram::default(),
            ..self.clone()
        };
        if let Some(stored) = stored {
            total.requests = stored.requests;
            total.errors = stored.errors;
            total.request_bytes = stored.request_bytes;
            total.response_bytes = stored.response_bytes;
            total.latency = LatencyHistogram::from_stored(&stored.latency);
        }
        total.absorb(self);
        total
    }

    /// The row's identity: (service, operation, consumer, response code, minute).
    pub fn key(&self) -> (&str, &str, &str, &str, i64) {
        (
            &self.service,
            &self.operation,
            &self.consumer,
            &self.response_code,
            self.minute,
        )
    }

    /// Adds `other` (same key) to this row.
    pub fn absorb(&mut self, other: &MinuteRow) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.request_bytes = self.request_bytes.saturating_add(other.request_bytes);
        self.response_bytes = self.response_bytes.saturating_add(other.response_bytes);
        self.latency.merge(&other.latency);
    }
}

/// One report's rows, those with one key added up, in key order: a store writes each key
/// once, and two stores writing the same keys lock them in the same order.
pub fn combined(mut rows: Vec<MinuteRow>) -> Vec<MinuteRow> {
    rows.sort_by(|a, b| a.key().cmp(&b.key()));
    let mut out: Vec<MinuteRow> = Vec::with_capacity(rows.len());
    for row in rows {
        match out.last_mut() {
            Some(last) if last.key() == row.key() => last.absorb(&row),
            _ => out.push(row),
        }
    }
    out
}

/// Where minute rows are kept.
#[async_trait]
pub trait MinuteStore: Send + Sync {
    /// Adds each row to the stored row with its key (created when missing), all or none;
    /// with `prune_before`, rows of earlier minutes are deleted in the same transaction.
    async fn add_minutes(
        &self,
        rows: &[MinuteRow],
        prune_before: Option<i64>,
    ) -> Result<(), StoreError>;

    /// The rows whose minute is in `[from, to)`, oldest first.
    async fn minutes_between(&self, from: i64, to: i64) -> Result<Vec<MinuteRow>, StoreError>;
}

/// The durable report rows: a store plus the retention period.
pub struct ReportMinutes {
    store: Arc<dyn MinuteStore>,
    retention_secs: i64,
    /// The last minute old rows were deleted for.
    pruned_at: Mutex<i64>,
}

impl ReportMinutes {
    /// Rows older than `retention_days` are deleted as new minutes arrive.
    pub fn new(store: Arc<dyn MinuteStore>, retention_days: u32) -> ReportMinutes {
        ReportMinutes {
            store,
            retention_secs: i64::from(retention_days) * 86_400,
            pruned_at: Mutex::new(i64::MIN),
        }
    }

    /// Adds the operations of one report (each with its resolved consumer), all or none.
    pub async fn record(
        &self,
        service: &str,
        operations: &[(&Operation, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        let rows = combined(
            operations
                .iter()
                .map(|(operation, consumer)| {
                    MinuteRow::from_operation(service, operation, consumer, now)
                })
                .collect(),
        );
        let this_minute = now - now.rem_euclid(60);
        let prune = {
            let pruned_at = self.pruned_at.lock().unwrap_or_else(|e| e.into_inner());
            (*pruned_at != this_minute).then_some(this_minute - self.retention_secs)
        };
        self.store.add_minutes(&rows, prune).await?;
        if prune.is_some() {
            *self.pruned_at.lock().unwrap_or_else(|e| e.into_inner()) = this_minute;
        }
        Ok(())
    }

    /// The rows whose minute is in `[from, to)`, oldest first.
    pub async fn between(&self, from: i64, to: i64) -> Result<Vec<MinuteRow>, StoreError> {
        self.store.minutes_between(from, to).await
    }
}

/// Reported operations as the gateways send them, for tests of the stores too.
#[cfg(test)]
pub mod fixtures {
    use super::PRODUCER;
    use wasp_servicecontrol::distribution::{BucketOption, ExponentialBuckets};
    use wasp_servicecontrol::metric_value::Value;
    use wasp_servicecontrol::{Distribution, MetricValue, MetricValueSet, Operation, Timestamp};

    pub fn dist_set(metric: &str, count: i64, mean: f64, buckets: Vec<i64>) -> MetricValueSet {
        MetricValueSet {
            metric_name: format!("{PRODUCER}{metric}"),
            metric_values: vec![MetricValue {
                value: Some(Value::DistributionValue(Distribution {
                    count,
                    mean,
                    bucket_counts: buckets,
                    bucket_option: Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
                        num_finite_buckets: 2,
                        growth_factor: 2.0,
                        scale: 1e-3,
                    })),
                    ..Distribution::default()
                })),
                ..MetricValue::default()
            }],
        }
    }

    pub fn reported(code: &str, start: i64, requests: i64, latency_buckets: Vec<i64>) -> Operation {
        let mut op = Operation {
            operation_name: "1.shop.List".into(),
            start_time: Some(Timestamp {
                seconds: start,
                nanos: 0,
            }),
            metric_value_sets: vec![
                MetricValueSet::int64(format!("{PRODUCER}request_count"), requests),
                dist_set("total_latencies", requests, 0.002, latency_buckets),
                dist_set("request_sizes", requests, 100.0, vec![]),
                dist_set("response_sizes", requests, 50.0, vec![]),
            ],
            ..Operation::default()
        };
        op.labels.insert("/response_code".into(), code.into());
        op
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::reported;
    use super::*;

    #[test]
    fn one_reports_rows_of_one_key_are_added_up_in_key_order() {
        let now = 1_800_000_030;
        let row = |code: &str, requests| {
            MinuteRow::from_operation("s", &reported(code, now, requests, vec![0, 1]), "c", now)
        };
        let rows = combined(vec![row("503", 1), row("200", 2), row("200", 3)]);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].response_code.as_str(), rows[0].requests),
            ("200", 5)
        );
        assert_eq!(rows[0].latency.bucket_counts, [0, 2]);
        assert_eq!((rows[1].response_code.as_str(), rows[1].errors), ("503", 1));
    }
}
