//! Per-operation metrics, gathered in plain Rust and handed to Envoy in batches.
//!
//! A request adds to counts kept here (no host call); the root's tick drains them into
//! Envoy stats ([`Recorder::drain`]), whose tagged names the bootstrap's tag extraction
//! turns into labels (`wasp_config::metrics`). Consumers are labelled up to a per-worker
//! limit, then folded into `other`, so a key-spraying client cannot grow the stats.

use std::collections::HashMap;

use wasp_config::metrics::{
    tagged_name, MetricsConfig, BACKEND_DURATION, DENIALS, GATEWAY_DURATION, ID_TOKEN_FETCHES,
    JWKS_FETCHES, NO_CONSUMER, OTHER_CONSUMERS, REQUESTS, REQUEST_DURATION, SAMPLES_DROPPED,
    UNKNOWN_OPERATION,
};

/// Latency samples kept between two drains per worker (4 per request: about 2,500
/// requests per tick); more are counted in `wasp_metric_samples_dropped_total`.
pub const MAX_SAMPLES: usize = 10_000;

/// How an Envoy stat is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
}

/// One change for Envoy: add `value` to a counter, or record it as a histogram sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    pub kind: Kind,
    pub name: String,
    pub value: u64,
}

/// What a finished request contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished<'a> {
    /// Gateway operation index; `None`: no operation matched.
    pub operation: Option<usize>,
    /// The response's status (0: none, the client went away).
    pub status: u16,
    /// `project:<number>` once a key named one.
    pub consumer: Option<&'a str>,
    /// The reason, when the filter answered itself.
    pub denial: Option<&'a str>,
    pub total_ms: u64,
    /// From the request going on to the response's end; `None`: never went on.
    pub backend_ms: Option<u64>,
    /// Time the gateway's stages held the request before it went on.
    pub gateway_ms: Option<u64>,
}

/// A response status's class label (`2xx`); `none` without a response.
pub fn code_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

/// Index of the `unknown` operation label (after the real ones).
fn operation_slot(operations: usize, operation: Option<usize>) -> usize {
    operation.filter(|&i| i < operations).unwrap_or(operations)
}

/// A consumer label, without copying the name on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ConsumerLabel {
    None,
    Other,
    Known(usize),
}

/// One worker's metrics since the last drain.
#[derive(Debug)]
pub struct Recorder {
    /// Operation labels by gateway index, then `unknown`.
    operations: Vec<String>,
    max_consumers: usize,
    /// Consumer labels handed out so far (at most `max_consumers`), and their names.
    consumer_ids: HashMap<String, usize>,
    consumer_names: Vec<String>,
    requests: HashMap<(usize, &'static str, ConsumerLabel), u64>,
    denials: HashMap<(usize, String), u64>,
    /// (metric, operation slot, value) histogram samples.
    samples: Vec<(&'static str, usize, u64)>,
    dropped: u64,
    jwks: HashMap<(String, bool), u64>,
    id_tokens: HashMap<bool, u64>,
}

impl Recorder {
    pub fn new<'a>(config: &MetricsConfig, operations: impl Iterator<Item = &'a str>) -> Recorder {
        let mut operations: Vec<String> = operations.map(str::to_string).collect();
        operations.push(UNKNOWN_OPERATION.to_string());
        Recorder {
            operations,
            max_consumers: usize::try_from(config.max_consumers).unwrap_or(usize::MAX),
            consumer_ids: HashMap::new(),
            consumer_names: Vec::new(),
            requests: HashMap::new(),
            denials: HashMap::new(),
            samples: Vec::new(),
            dropped: 0,
            jwks: HashMap::new(),
            id_tokens: HashMap::new(),
        }
    }

    /// The consumer's label: its own while under the limit (or already labelled), else `other`.
    fn consumer_label(&mut self, consumer: Option<&str>) -> ConsumerLabel {
        let Some(consumer) = consumer else {
            return ConsumerLabel::None;
        };
        if let Some(&id) = self.consumer_ids.get(consumer) {
            return ConsumerLabel::Known(id);
        }
        if self.consumer_names.len() < self.max_consumers {
            let id = self.consumer_names.len();
            self.consumer_names.push(consumer.to_string());
            self.consumer_ids.insert(consumer.to_string(), id);
            return ConsumerLabel::Known(id);
        }
        ConsumerLabel::Other
    }

    fn consumer_name(&self, label: ConsumerLabel) -> &str {
        match label {
            ConsumerLabel::None => NO_CONSUMER,
            ConsumerLabel::Other => OTHER_CONSUMERS,
            ConsumerLabel::Known(id) => self
                .consumer_names
                .get(id)
                .map_or(OTHER_CONSUMERS, String::as_str),
        }
    }

    fn sample(&mut self, metric: &'static str, slot: usize, value: u64) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push((metric, slot, value));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub fn finished(&mut self, request: &Finished) {
        let slot = operation_slot(self.operations.len().saturating_sub(1), request.operation);
        let consumer = self.consumer_label(request.consumer);
        let count = self
            .requests
            .entry((slot, code_class(request.status), consumer))
            .or_default();
        *count = count.saturating_add(1);
        if let Some(reason) = request.denial {
            let count = self.denials.entry((slot, reason.to_string())).or_default();
            *count = count.saturating_add(1);
        }
        self.sample(REQUEST_DURATION, slot, request.total_ms);
        if let Some(ms) = request.backend_ms {
            self.sample(BACKEND_DURATION, slot, ms);
        }
        if let Some(ms) = request.gateway_ms {
            self.sample(GATEWAY_DURATION, slot, ms);
        }
    }

    /// A JWKS or discovery fetch for `provider` ended.
    pub fn jwks_fetch(&mut self, provider: &str, ok: bool) {
        let count = self.jwks.entry((provider.to_string(), ok)).or_default();
        *count = count.saturating_add(1);
    }

    /// An ID-token fetch ended.
    pub fn id_token_fetch(&mut self, ok: bool) {
        let count = self.id_tokens.entry(ok).or_default();
        *count = count.saturating_add(1);
    }

    fn operation(&self, slot: usize) -> &str {
        self.operations
            .get(slot)
            .map_or(UNKNOWN_OPERATION, String::as_str)
    }

    /// Everything gathered since the last drain, as Envoy stat changes; starts over.
    pub fn drain(&mut self) -> Vec<Emit> {
        let counter = |name: String, value: u64| Emit {
            kind: Kind::Counter,
            name,
            value,
        };
        let result = |ok: bool| if ok { "ok" } else { "failed" };
        let mut out = Vec::new();
        for ((slot, class, consumer), value) in std::mem::take(&mut self.requests) {
            let name = tagged_name(
                REQUESTS,
                &[
                    ("operation", self.operation(slot)),
                    ("code_class", class),
                    ("consumer", self.consumer_name(consumer)),
                ],
            );
            out.push(counter(name, value));
        }
        for ((slot, reason), value) in std::mem::take(&mut self.denials) {
            let name = tagged_name(
                DENIALS,
                &[("operation", self.operation(slot)), ("reason", &reason)],
            );
            out.push(counter(name, value));
        }
        for ((provider, ok), value) in std::mem::take(&mut self.jwks) {
            let name = tagged_name(
                JWKS_FETCHES,
                &[("provider", &provider), ("result", result(ok))],
            );
            out.push(counter(name, value));
        }
        for (ok, value) in std::mem::take(&mut self.id_tokens) {
            out.push(counter(
                tagged_name(ID_TOKEN_FETCHES, &[("result", result(ok))]),
                value,
            ));
        }
        if self.dropped > 0 {
            out.push(counter(SAMPLES_DROPPED.to_string(), self.dropped));
            self.dropped = 0;
        }
        for (metric, slot, value) in std::mem::take(&mut self.samples) {
            out.push(Emit {
                kind: Kind::Histogram,
                name: tagged_name(metric, &[("operation", self.operation(slot))]),
                value,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(max_consumers: u32) -> Recorder {
        Recorder::new(
            &MetricsConfig { max_consumers },
            ["1.a.List", "1.a.Get"].into_iter(),
        )
    }

    fn ok(operation: usize, consumer: Option<&str>) -> Finished<'_> {
        Finished {
            operation: Some(operation),
            status: 200,
            consumer,
            total_ms: 7,
            backend_ms: Some(5),
            gateway_ms: Some(1),
            ..Finished::default()
        }
    }

    fn counters(emits: &[Emit]) -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = emits
            .iter()
            .filter(|e| e.kind == Kind::Counter)
            .map(|e| (e.name.clone(), e.value))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn requests_count_by_operation_class_and_consumer() {
        let mut r = recorder(10);
        r.finished(&ok(0, None));
        r.finished(&ok(0, None));
        r.finished(&ok(1, Some("project:7")));
        r.finished(&Finished {
            status: 404,
            denial: Some("not_found"),
            total_ms: 1,
            ..Finished::default()
        });
        let emits = r.drain();
        assert_eq!(
            counters(&emits),
            [
                (
                    "wasp_denials_total.operation=unknown;.reason=not_found;".into(),
                    1
                ),
                (
                    "wasp_requests_total.operation=1.a.Get;.code_class=2xx;.consumer=project:7;"
                        .into(),
                    1
                ),
                (
                    "wasp_requests_total.operation=1.a.List;.code_class=2xx;.consumer=none;".into(),
                    2
                ),
                (
                    "wasp_requests_total.operation=unknown;.code_class=4xx;.consumer=none;".into(),
                    1
                ),
            ]
        );
        let samples: Vec<(String, u64)> = emits
            .iter()
            .filter(|e| e.kind == Kind::Histogram && e.name.contains("1.a.Get"))
            .map(|e| (e.name.clone(), e.value))
            .collect();
        assert_eq!(
            samples,
            [
                (
                    "wasp_request_duration_milliseconds.operation=1.a.Get;".into(),
                    7
                ),
                (
                    "wasp_backend_duration_milliseconds.operation=1.a.Get;".into(),
                    5
                ),
                (
                    "wasp_gateway_duration_milliseconds.operation=1.a.Get;".into(),
                    1
                ),
            ]
        );
        // A denied request never went on: no backend or gateway sample.
        assert_eq!(
            emits
                .iter()
                .filter(|e| e.name.contains("unknown") && e.kind == Kind::Histogram)
                .count(),
            1
        );
        assert!(r.drain().is_empty(), "a drain starts over");
    }

    #[test]
    fn consumers_past_the_limit_fold_into_other_and_labelled_ones_stay() {
        let mut r = recorder(2);
        for consumer in [
            "project:1",
            "project:2",
            "project:3",
            "project:1",
            "project:4",
        ] {
            r.finished(&ok(0, Some(consumer)));
        }
        let labels: Vec<(String, u64)> = counters(&r.drain())
            .into_iter()
            .map(|(name, n)| (name.split(".consumer=").nth(1).unwrap_or("").to_string(), n))
            .collect();
        assert_eq!(
            labels,
            [
                ("other;".into(), 2),
                ("project:1;".into(), 2),
                ("project:2;".into(), 1)
            ]
        );
        // The labels handed out stay taken after a drain.
        r.finished(&ok(0, Some("project:5")));
        assert!(r.drain()[0].name.ends_with(".consumer=other;"));
    }

    #[test]
    fn an_operation_index_out_of_range_counts_as_unknown() {
        let mut r = recorder(1);
        r.finished(&Finished {
            operation: Some(99),
            status: 503,
            ..Finished::default()
        });
        assert_eq!(
            counters(&r.drain())[0].0,
            "wasp_requests_total.operation=unknown;.code_class=5xx;.consumer=none;"
        );
    }

    #[test]
    fn samples_past_the_limit_are_counted_as_dropped() {
        let mut r = recorder(1);
        for _ in 0..MAX_SAMPLES {
            r.finished(&Finished {
                operation: Some(0),
                status: 200,
                ..Finished::default()
            });
        }
        r.finished(&ok(0, None));
        let emits = r.drain();
        assert_eq!(
            emits.iter().filter(|e| e.kind == Kind::Histogram).count(),
            MAX_SAMPLES
        );
        assert!(counters(&emits).contains(&(SAMPLES_DROPPED.to_string(), 3)));
    }

    #[test]
    fn fetches_count_by_provider_and_result() {
        let mut r = recorder(1);
        r.jwks_fetch("idp", true);
        r.jwks_fetch("idp", false);
        r.jwks_fetch("idp", false);
        r.id_token_fetch(true);
        assert_eq!(
            counters(&r.drain()),
            [
                ("wasp_id_token_fetches_total.result=ok;".into(), 1),
                (
                    "wasp_jwks_fetches_total.provider=idp;.result=failed;".into(),
                    2
                ),
                ("wasp_jwks_fetches_total.provider=idp;.result=ok;".into(), 1),
            ]
        );
    }

    #[test]
    fn classes() {
        assert_eq!(
            [0, 101, 204, 302, 429, 503, 600].map(code_class),
            ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "none"]
        );
    }
}
