//! Reports: every request leaves a [`ReportRecord`]; records are aggregated per (operation,
//! verified key, response code) — Google's client merges same-signature operations the same
//! way — and sent as one ReportRequest when the batch is full or the flush interval passed.
//! Each aggregated operation carries `request_count` (the number of requests it stands for),
//! latency distributions (ESPv2's 29 exponential buckets, growth 2, scale 1e-6 s) and size
//! distributions (8 buckets, growth 10, scale 1). The consumer (`api_key:<key>`) is set only
//! for a key Check verified. Every request also leaves its `endpoints_log` entry
//! ([`crate::request_log`]) in its aggregate, so Cloud Logging sees each one. Memory is bounded
//! by `max_operations` aggregates and [`MAX_LOG_ENTRIES`] entries per batch (a batch that
//! reaches either is sent). Not sent (yet): ESPv2's by-consumer operation copies.

use crate::callout::{CallKind, Callout, CalloutResult};
use crate::config::ControlClientConfig;
use crate::policy::{classify, should_retry, Transport};
use crate::request_log::{log_entry, Finished, RequestLog, ServiceFacts};
use crate::timestamp;
use std::collections::BTreeMap;
use wasp_servicecontrol::distribution::{BucketOption, ExponentialBuckets};
use wasp_servicecontrol::{
    Distribution, LogEntry, Message, MetricValue, MetricValueSet, Operation, ReportRequest,
};

/// ESPv2's operation name for requests no operation matched (404 / 405).
pub const UNKNOWN_OPERATION: &str = "<Unknown Operation Name>";

/// Log entries one batch holds at most before it is sent.
pub const MAX_LOG_ENTRIES: usize = 1_000;

const PRODUCER: &str = "serviceruntime.googleapis.com/api/producer/";
const CONSUMER: &str = "serviceruntime.googleapis.com/api/consumer/";

/// What one finished request contributes to reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub operation: String,
    /// The key, only when Check verified it.
    pub verified_key: Option<String>,
    pub response_code: u16,
    /// Unix milliseconds when the request arrived and when its response ended.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Time spent in the backend, when there was one.
    pub backend_latency_ms: Option<u64>,
    pub request_size: u64,
    pub response_size: u64,
    /// `/credential_id` of a caller without a verified key that presented a verified JWT
    /// ([`crate::request_log::jwt_credential_id`]).
    pub jwt_credential: Option<String>,
    /// What its log entry says.
    pub log: RequestLog,
}

/// (operation, verified key, response code, JWT credential): what the labels are made of.
type AggregateKey = (String, Option<String>, u16, Option<String>);

#[derive(Debug, Clone)]
struct Aggregate {
    requests: i64,
    start_ms: u64,
    end_ms: u64,
    total_latency: Histogram,
    backend_latency: Histogram,
    request_sizes: Histogram,
    response_sizes: Histogram,
    log_entries: Vec<LogEntry>,
}

impl Aggregate {
    fn new(record: &ReportRecord) -> Aggregate {
        Aggregate {
            requests: 0,
            start_ms: record.start_ms,
            end_ms: record.end_ms,
            total_latency: Histogram::latency(),
            backend_latency: Histogram::latency(),
            request_sizes: Histogram::size(),
            response_sizes: Histogram::size(),
            log_entries: Vec::new(),
        }
    }

    fn add(&mut self, record: &ReportRecord, entry: LogEntry) {
        self.log_entries.push(entry);
        self.requests = self.requests.saturating_add(1);
        self.start_ms = self.start_ms.min(record.start_ms);
        self.end_ms = self.end_ms.max(record.end_ms);
        let total_ms = record.end_ms.saturating_sub(record.start_ms);
        self.total_latency.add(total_ms as f64 / 1000.0);
        if let Some(backend_ms) = record.backend_latency_ms {
            self.backend_latency.add(backend_ms as f64 / 1000.0);
        }
        self.request_sizes.add(record.request_size as f64);
        self.response_sizes.add(record.response_size as f64);
    }
}

/// One VM's report batch.
#[derive(Debug, Clone)]
pub struct ReportBatcher {
    service_name: String,
    service_config_id: String,
    service_agent: String,
    producer_project_id: String,
    flush_interval_ms: u64,
    max_operations: usize,
    pending: BTreeMap<AggregateKey, Aggregate>,
    log_entries: usize,
    opened_at_ms: Option<u64>,
    /// Operation ids are `<seed>-<sequence>`: unique per VM (the adapter passes a random seed).
    id_seed: u64,
    sequence: u64,
}

impl ReportBatcher {
    pub fn new(config: &ControlClientConfig, id_seed: u64) -> ReportBatcher {
        ReportBatcher {
            service_name: config.service_name.clone(),
            service_config_id: config.service_config_id.clone(),
            service_agent: config.service_agent.clone(),
            producer_project_id: config.producer_project_id.clone(),
            flush_interval_ms: config.report_batch.flush_interval_ms,
            max_operations: config.report_batch.max_operations.max(1),
            pending: BTreeMap::new(),
            log_entries: 0,
            opened_at_ms: None,
            id_seed,
            sequence: 0,
        }
    }

    /// Adds a record. Returns a full batch to send when this record did not fit in it.
    pub fn record(&mut self, record: ReportRecord, now_ms: u64) -> Option<ReportRequest> {
        let key = (
            record.operation.clone(),
            record.verified_key.clone(),
            record.response_code,
            record
                .verified_key
                .is_none()
                .then(|| record.jwt_credential.clone())
                .flatten(),
        );
        let no_room = !self.pending.contains_key(&key) && self.pending.len() >= self.max_operations;
        let full = if no_room || self.log_entries >= MAX_LOG_ENTRIES {
            self.take()
        } else {
            None
        };
        let entry = log_entry(
            ServiceFacts {
                service_config_id: &self.service_config_id,
                service_agent: &self.service_agent,
                producer_project_id: &self.producer_project_id,
                service_name: &self.service_name,
            },
            Finished {
                operation: &record.operation,
                response_code: record.response_code,
                start_ms: record.start_ms,
                end_ms: record.end_ms,
                request_size: record.request_size,
                response_size: record.response_size,
                log: &record.log,
            },
        );
        self.opened_at_ms.get_or_insert(now_ms);
        self.log_entries = self.log_entries.saturating_add(1);
        self.pending
            .entry(key)
            .or_insert_with(|| Aggregate::new(&record))
            .add(&record, entry);
        full
    }

    /// Whether the batch holds something older than the flush interval (check on tick).
    pub fn due(&self, now_ms: u64) -> bool {
        self.opened_at_ms
            .is_some_and(|opened| now_ms >= opened.saturating_add(self.flush_interval_ms))
    }

    /// Requests waiting in the batch.
    pub fn pending_requests(&self) -> i64 {
        self.pending.values().fold(0i64, |sum, aggregate| {
            sum.saturating_add(aggregate.requests)
        })
    }

    /// Empties the batch into a ReportRequest (None when empty).
    pub fn take(&mut self) -> Option<ReportRequest> {
        self.opened_at_ms = None;
        self.log_entries = 0;
        if self.pending.is_empty() {
            return None;
        }
        let pending = std::mem::take(&mut self.pending);
        let operations = pending
            .into_iter()
            .map(|(key, aggregate)| self.operation(key, aggregate))
            .collect();
        Some(ReportRequest {
            service_name: self.service_name.clone(),
            operations,
            service_config_id: self.service_config_id.clone(),
        })
    }

    fn operation(&mut self, key: AggregateKey, aggregate: Aggregate) -> Operation {
        let (name, verified_key, code, jwt_credential) = key;
        self.sequence = self.sequence.wrapping_add(1);
        let mut labels = BTreeMap::new();
        labels.insert("/protocol".to_string(), "http".to_string());
        labels.insert("/response_code".to_string(), code.to_string());
        let class = format!("{}xx", code / 100);
        if code >= 400 {
            labels.insert("/error_type".to_string(), class.clone());
        }
        labels.insert("/response_code_class".to_string(), class);
        labels.insert(
            "servicecontrol.googleapis.com/api_method".to_string(),
            name.clone(),
        );
        labels.insert(
            "servicecontrol.googleapis.com/service_agent".to_string(),
            self.service_agent.clone(),
        );
        if let Some(key) = &verified_key {
            labels.insert("/credential_id".to_string(), format!("apikey:{key}"));
        } else if let Some(credential) = jwt_credential {
            labels.insert("/credential_id".to_string(), credential);
        }
        let mut metrics = vec![
            MetricValueSet::int64(format!("{PRODUCER}request_count"), aggregate.requests),
            distribution_set(
                format!("{PRODUCER}total_latencies"),
                &aggregate.total_latency,
            ),
            distribution_set(format!("{PRODUCER}request_sizes"), &aggregate.request_sizes),
            distribution_set(
                format!("{PRODUCER}response_sizes"),
                &aggregate.response_sizes,
            ),
        ];
        if aggregate.backend_latency.count > 0 {
            metrics.push(distribution_set(
                format!("{PRODUCER}backend_latencies"),
                &aggregate.backend_latency,
            ));
        }
        if verified_key.is_some() {
            metrics.push(MetricValueSet::int64(
                format!("{CONSUMER}request_count"),
                aggregate.requests,
            ));
            metrics.push(distribution_set(
                format!("{CONSUMER}total_latencies"),
                &aggregate.total_latency,
            ));
        }
        Operation {
            operation_id: format!("{:016x}-{:08x}", self.id_seed, self.sequence),
            operation_name: name,
            consumer_id: verified_key
                .map(|key| format!("api_key:{key}"))
                .unwrap_or_default(),
            start_time: Some(timestamp(aggregate.start_ms)),
            end_time: Some(timestamp(aggregate.end_ms)),
            labels,
            metric_value_sets: metrics,
            log_entries: aggregate.log_entries,
            ..Operation::default()
        }
    }
}

fn distribution_set(name: String, histogram: &Histogram) -> MetricValueSet {
    MetricValueSet {
        metric_name: name,
        metric_values: vec![MetricValue {
            value: Some(wasp_servicecontrol::metric_value::Value::DistributionValue(
                histogram.to_distribution(),
            )),
            ..MetricValue::default()
        }],
    }
}

/// An exponential-bucket histogram with running mean and squared deviation (Welford).
#[derive(Debug, Clone)]
struct Histogram {
    count: i64,
    mean: f64,
    min: f64,
    max: f64,
    squared_deviation: f64,
    finite_buckets: usize,
    growth: f64,
    scale: f64,
    /// Underflow, the finite buckets, overflow.
    buckets: Vec<i64>,
}

impl Histogram {
    fn new(finite_buckets: usize, growth: f64, scale: f64) -> Histogram {
        Histogram {
            count: 0,
            mean: 0.0,
            min: 0.0,
            max: 0.0,
            squared_deviation: 0.0,
            finite_buckets,
            growth,
            scale,
            buckets: vec![0; finite_buckets.saturating_add(2)],
        }
    }

    fn latency() -> Histogram {
        Histogram::new(29, 2.0, 1e-6)
    }

    fn size() -> Histogram {
        Histogram::new(8, 10.0, 1.0)
    }

    fn add(&mut self, value: f64) {
        self.count = self.count.saturating_add(1);
        if self.count == 1 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.squared_deviation += delta * (value - self.mean);
        let index = self.bucket_of(value);
        if let Some(bucket) = self.buckets.get_mut(index) {
            *bucket = bucket.saturating_add(1);
        }
    }

    /// 0 below `scale`; i for [scale*growth^(i-1), scale*growth^i); the last for overflow.
    fn bucket_of(&self, value: f64) -> usize {
        let mut bound = self.scale;
        let mut index = 0;
        while index <= self.finite_buckets && value >= bound {
            bound *= self.growth;
            index = index.saturating_add(1);
        }
        index
    }

    fn to_distribution(&self) -> Distribution {
        Distribution {
            count: self.count,
            mean: self.mean,
            minimum: self.min,
            maximum: self.max,
            sum_of_squared_deviation: self.squared_deviation,
            bucket_counts: self.buckets.clone(),
            bucket_option: Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
                num_finite_buckets: i32::try_from(self.finite_buckets).unwrap_or(i32::MAX),
                growth_factor: self.growth,
                scale: self.scale,
            })),
        }
    }
}

/// Sending one batch, with retries on network failures (report: 2 s, 5 retries).
#[derive(Debug, Clone)]
pub struct Delivery {
    callout: Callout,
}

/// What to do after a report call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStep {
    Delivered,
    Retry(Callout),
    /// Given up; the batch is dropped (reports never affect requests). Log the reason.
    Dropped(String),
}

impl Delivery {
    pub fn new(config: &ControlClientConfig, request: &ReportRequest) -> Delivery {
        Delivery {
            callout: Callout::new(config, CallKind::Report, request.encode_to_vec()),
        }
    }

    /// The call to make now.
    pub fn callout(&self) -> &Callout {
        &self.callout
    }

    pub fn on_result(
        &mut self,
        config: &ControlClientConfig,
        result: CalloutResult,
    ) -> DeliveryStep {
        match classify(result) {
            // A 200 was accepted; its body (even an oversized one) says nothing more.
            Transport::Answer(_) | Transport::BadAnswer(_) => DeliveryStep::Delivered,
            Transport::Rejected(reply) => DeliveryStep::Dropped(reply.message),
            Transport::NetworkFailure(detail) => {
                if should_retry(config.report, self.callout.attempt) {
                    self.callout = self.callout.retry();
                    DeliveryStep::Retry(self.callout.clone())
                } else {
                    DeliveryStep::Dropped(detail)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(operation: &str, key: Option<&str>, code: u16, start: u64, end: u64) -> ReportRecord {
        ReportRecord {
            operation: operation.into(),
            verified_key: key.map(str::to_string),
            response_code: code,
            start_ms: start,
            end_ms: end,
            backend_latency_ms: None,
            request_size: 100,
            response_size: 2000,
            jwt_credential: None,
            log: Default::default(),
        }
    }

    fn count(op: &Operation, metric: &str) -> Option<i64> {
        op.metric_value_sets
            .iter()
            .find(|set| set.metric_name.ends_with(metric))
            .map(MetricValueSet::int64_sum)
    }

    #[test]
    fn aggregates_by_operation_key_and_code() {
        let config = crate::test_config();
        let mut batcher = ReportBatcher::new(&config, 0xabc);
        for (key, code) in [
            (Some("k"), 200),
            (Some("k"), 200),
            (None, 200),
            (Some("k"), 429),
        ] {
            assert!(batcher
                .record(record("1.s.Read", key, code, 1000, 1010), 1010)
                .is_none());
        }
        assert_eq!(batcher.pending_requests(), 4);
        let request = batcher.take().unwrap();
        assert_eq!(request.service_name, config.service_name);
        assert_eq!(request.operations.len(), 3);
        let ok_with_key = request
            .operations
            .iter()
            .find(|op| op.consumer_id == "api_key:k" && op.labels["/response_code"] == "200")
            .unwrap();
        assert_eq!(count(ok_with_key, "producer/request_count"), Some(2));
        assert_eq!(count(ok_with_key, "consumer/request_count"), Some(2));
        assert_eq!(ok_with_key.labels["/credential_id"], "apikey:k");
        assert_eq!(ok_with_key.labels["/response_code_class"], "2xx");
        let anonymous = request
            .operations
            .iter()
            .find(|op| op.consumer_id.is_empty())
            .unwrap();
        assert_eq!(count(anonymous, "consumer/request_count"), None);
        let throttled = request
            .operations
            .iter()
            .find(|op| op.labels["/response_code"] == "429")
            .unwrap();
        assert_eq!(throttled.labels["/error_type"], "4xx");
        let ids: std::collections::HashSet<_> = request
            .operations
            .iter()
            .map(|op| op.operation_id.clone())
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(batcher.take().is_none());
    }

    #[test]
    fn flushes_by_interval() {
        let config = crate::test_config();
        let mut batcher = ReportBatcher::new(&config, 1);
        assert!(!batcher.due(0));
        batcher.record(record("op", None, 200, 0, 5), 10_000);
        assert!(!batcher.due(10_999));
        assert!(batcher.due(11_000));
        batcher.take();
        assert!(!batcher.due(20_000));
    }

    #[test]
    fn bounded_by_max_operations() {
        let mut config = crate::test_config();
        config.report_batch.max_operations = 2;
        let mut batcher = ReportBatcher::new(&config, 1);
        assert!(batcher.record(record("a", None, 200, 0, 1), 1).is_none());
        assert!(batcher.record(record("b", None, 200, 0, 1), 1).is_none());
        // Same aggregate: no growth.
        assert!(batcher.record(record("b", None, 200, 0, 1), 1).is_none());
        let full = batcher.record(record("c", None, 200, 0, 1), 2).unwrap();
        assert_eq!(full.operations.len(), 2);
        assert_eq!(batcher.pending_requests(), 1);
    }

    #[test]
    fn latency_distribution() {
        let config = crate::test_config();
        let mut batcher = ReportBatcher::new(&config, 1);
        batcher.record(record("op", None, 200, 0, 10), 10);
        batcher.record(record("op", None, 200, 0, 30), 30);
        let request = batcher.take().unwrap();
        let set = request.operations[0]
            .metric_value_sets
            .iter()
            .find(|s| s.metric_name.ends_with("producer/total_latencies"))
            .unwrap();
        let Some(wasp_servicecontrol::metric_value::Value::DistributionValue(d)) =
            &set.metric_values[0].value
        else {
            panic!("not a distribution");
        };
        assert_eq!(d.count, 2);
        assert!((d.mean - 0.02).abs() < 1e-12);
        assert!((d.minimum - 0.01).abs() < 1e-12 && (d.maximum - 0.03).abs() < 1e-12);
        assert!((d.sum_of_squared_deviation - 0.0002).abs() < 1e-12);
        assert_eq!(d.bucket_counts.len(), 31);
        assert_eq!(d.bucket_counts.iter().sum::<i64>(), 2);
        // 0.01 s = 1e4 us: 2^13 <= 1e4 < 2^14 -> bucket 14; 0.03 s: 2^14 <= 3e4 < 2^15 -> 15.
        assert_eq!(d.bucket_counts[14], 1);
        assert_eq!(d.bucket_counts[15], 1);
    }

    #[test]
    fn histogram_edges() {
        let h = Histogram::size();
        assert_eq!(h.bucket_of(0.0), 0);
        assert_eq!(h.bucket_of(1.0), 1);
        assert_eq!(h.bucket_of(9.0), 1);
        assert_eq!(h.bucket_of(10.0), 2);
        assert_eq!(h.bucket_of(1e12), 9);
    }

    #[test]
    fn delivery_retries_network_failures_then_drops() {
        let config = crate::test_config();
        let mut batcher = ReportBatcher::new(&config, 1);
        batcher.record(record("op", None, 200, 0, 1), 1);
        let mut delivery = Delivery::new(&config, &batcher.take().unwrap());
        assert_eq!(delivery.callout().kind, CallKind::Report);
        let down = || CalloutResult::Failed("connect".into());
        for attempt in 2..=6 {
            match delivery.on_result(&config, down()) {
                DeliveryStep::Retry(callout) => assert_eq!(callout.attempt, attempt),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            delivery.on_result(&config, down()),
            DeliveryStep::Dropped(_)
        ));
        let mut rejected = Delivery::new(&config, &ReportRequest::default());
        assert!(matches!(
            rejected.on_result(
                &config,
                CalloutResult::Response {
                    status: Some(401),
                    body: vec![]
                }
            ),
            DeliveryStep::Dropped(_)
        ));
        let mut ok = Delivery::new(&config, &ReportRequest::default());
        assert_eq!(
            ok.on_result(
                &config,
                CalloutResult::Response {
                    status: Some(200),
                    body: vec![]
                }
            ),
            DeliveryStep::Delivered
        );
    }
}
