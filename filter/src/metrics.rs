//! Per-operation metrics, gathered in plain Rust and handed to Envoy in batches.
//!
//! A request adds to counts kept here (no host call); the root's tick drains them into
//! Envoy counters ([`Recorder::drain`]), whose tagged names the bootstrap's tag extraction
//! turns into labels (`wasp_config::metrics`). Latencies are counted into fixed buckets
//! here and exported as a Prometheus histogram made of counters (`_bucket{le}`, `_sum`,
//! `_count`): an Envoy histogram would take one host call per sample. Consumers are
//! labelled up to a per-worker limit, then folded into `other`, so a key-spraying client
//! cannot grow the stats.

use std::collections::HashMap;

use wasp_config::metrics::{
    tagged_name, MetricsConfig, BACKEND_DURATION, DENIALS, GATEWAY_TIME, ID_TOKEN_FETCHES,
    JWKS_FETCHES, LATENCY_BUCKETS_MS, NO_CONSUMER, OTHER_CONSUMERS, REQUESTS, REQUEST_DURATION,
    UNKNOWN_OPERATION,
};

/// A counter the recorder has handed out, by its index in [`Recorder::name`].
pub type Series = usize;

/// What a drain hands Envoy: counters new since the last drain (define them; they start
/// at 0) and the increments of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    pub new: Vec<(Series, String)>,
    pub increments: Vec<(Series, u64)>,
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

/// The latency histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Latency {
    Request,
    Backend,
}

impl Latency {
    fn metric(self) -> &'static str {
        match self {
            Latency::Request => REQUEST_DURATION,
            Latency::Backend => BACKEND_DURATION,
        }
    }
}

/// Every counter a request or fetch may touch, by what it counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Requests(usize, &'static str, ConsumerLabel),
    Denials(usize, String),
    GatewayTime(usize),
    Jwks(String, bool),
    IdTokens(bool),
}

/// One worker's metrics. Each counter gets a [`Series`] index and its name once; a
/// request only adds to numbers found by one small-key lookup.
#[derive(Debug)]
pub struct Recorder {
    /// Operation labels by gateway index, then `unknown`.
    operations: Vec<String>,
    max_consumers: usize,
    /// Consumer labels handed out so far (at most `max_consumers`), and their names.
    consumer_ids: HashMap<String, usize>,
    consumer_names: Vec<String>,
    series: HashMap<Key, Series>,
    /// The first of a histogram's counters (a bucket each, `+Inf` last, the sum, the
    /// count), by (histogram, operation slot).
    histograms: HashMap<(Latency, usize), Series>,
    /// By series: its name, and what it gained since the last drain.
    names: Vec<String>,
    pending: Vec<u64>,
    /// Series with something pending, and those not handed out yet.
    changed: Vec<Series>,
    new_from: Series,
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
            series: HashMap::new(),
            histograms: HashMap::new(),
            names: Vec::new(),
            pending: Vec::new(),
            changed: Vec::new(),
            new_from: 0,
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

    fn operation(&self, slot: usize) -> &str {
        self.operations
            .get(slot)
            .map_or(UNKNOWN_OPERATION, String::as_str)
    }

    /// A new series named `name`.
    fn open(&mut self, name: String) -> Series {
        self.names.push(name);
        self.pending.push(0);
        self.names.len().saturating_sub(1)
    }

    fn add(&mut self, series: Series, value: u64) {
        if let Some(pending) = self.pending.get_mut(series) {
            if *pending == 0 && value > 0 {
                self.changed.push(series);
            }
            *pending = pending.saturating_add(value);
        }
    }

    fn name_of(&self, key: &Key) -> String {
        let result = |ok: bool| if ok { "ok" } else { "failed" };
        match key {
            Key::Requests(slot, class, consumer) => tagged_name(
                REQUESTS,
                &[
                    ("operation", self.operation(*slot)),
                    ("code_class", class),
                    ("consumer", self.consumer_name(*consumer)),
                ],
            ),
            Key::Denials(slot, reason) => tagged_name(
                DENIALS,
                &[("operation", self.operation(*slot)), ("reason", reason)],
            ),
            Key::GatewayTime(slot) => {
                tagged_name(GATEWAY_TIME, &[("operation", self.operation(*slot))])
            }
            Key::Jwks(provider, ok) => tagged_name(
                JWKS_FETCHES,
                &[("provider", provider), ("result", result(*ok))],
            ),
            Key::IdTokens(ok) => tagged_name(ID_TOKEN_FETCHES, &[("result", result(*ok))]),
        }
    }

    fn count(&mut self, key: Key, value: u64) {
        let series = match self.series.get(&key) {
            Some(&series) => series,
            None => {
                let series = self.open(self.name_of(&key));
                self.series.insert(key, series);
                series
            }
        };
        self.add(series, value);
    }

    fn sample(&mut self, latency: Latency, slot: usize, ms: u64) {
        let first = match self.histograms.get(&(latency, slot)) {
            Some(&first) => first,
            None => {
                let first = self.names.len();
                let metric = latency.metric();
                let operation = self.operation(slot).to_string();
                let bounds = LATENCY_BUCKETS_MS.iter().map(u64::to_string);
                let names: Vec<String> = bounds
                    .chain(["+Inf".to_string()])
                    .map(|le| {
                        tagged_name(
                            &format!("{metric}_bucket"),
                            &[("operation", &operation), ("le", &le)],
                        )
                    })
                    .chain(["_sum", "_count"].map(|suffix| {
                        tagged_name(&format!("{metric}{suffix}"), &[("operation", &operation)])
                    }))
                    .collect();
                for name in names {
                    self.open(name);
                }
                self.histograms.insert((latency, slot), first);
                first
            }
        };
        // Cumulative buckets: every bound at or above the value counts it.
        let from = LATENCY_BUCKETS_MS
            .iter()
            .position(|&le| ms <= le)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        for bucket in from..=LATENCY_BUCKETS_MS.len() {
            self.add(first.saturating_add(bucket), 1);
        }
        let sum = first
            .saturating_add(LATENCY_BUCKETS_MS.len())
            .saturating_add(1);
        self.add(sum, ms);
        self.add(sum.saturating_add(1), 1);
    }

    pub fn finished(&mut self, request: &Finished) {
        let slot = operation_slot(self.operations.len().saturating_sub(1), request.operation);
        let consumer = self.consumer_label(request.consumer);
        self.count(Key::Requests(slot, code_class(request.status), consumer), 1);
        if let Some(reason) = request.denial {
            self.count(Key::Denials(slot, reason.to_string()), 1);
        }
        self.sample(Latency::Request, slot, request.total_ms);
        if let Some(ms) = request.backend_ms {
            self.sample(Latency::Backend, slot, ms);
        }
        if let Some(ms) = request.gateway_ms {
            self.count(Key::GatewayTime(slot), ms);
        }
    }

    /// A JWKS or discovery fetch for `provider` ended.
    pub fn jwks_fetch(&mut self, provider: &str, ok: bool) {
        self.count(Key::Jwks(provider.to_string(), ok), 1);
    }

    /// An ID-token fetch ended.
    pub fn id_token_fetch(&mut self, ok: bool) {
        self.count(Key::IdTokens(ok), 1);
    }

    /// The counters opened and the increments gathered since the last drain; starts over.
    pub fn drain(&mut self) -> Drained {
        let new = (self.new_from..self.names.len())
            .zip(self.names.iter().skip(self.new_from))
            .map(|(series, name)| (series, name.clone()))
            .collect();
        self.new_from = self.names.len();
        let mut increments = Vec::with_capacity(self.changed.len());
        for series in std::mem::take(&mut self.changed) {
            if let Some(pending) = self.pending.get_mut(series) {
                increments.push((series, std::mem::take(pending)));
            }
        }
        Drained { new, increments }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What Envoy's counters hold after the drains it was handed: by name.
    #[derive(Default)]
    struct Envoy {
        names: BTreeMap<Series, String>,
        counters: BTreeMap<String, u64>,
    }

    impl Envoy {
        /// Applies one drain; returns how many increments it carried.
        fn take(&mut self, r: &mut Recorder) -> usize {
            let drained = r.drain();
            for (series, name) in drained.new {
                self.counters.insert(name.clone(), 0);
                self.names.insert(series, name);
            }
            for (series, value) in &drained.increments {
                let name = &self.names[series];
                *self.counters.get_mut(name).unwrap() += value;
            }
            drained.increments.len()
        }

        /// The counters whose name starts with `prefix`.
        fn with(&self, prefix: &str) -> Vec<(String, u64)> {
            self.counters
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, n)| (name.clone(), *n))
                .collect()
        }
    }

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

    fn timed(ms: u64) -> Finished<'static> {
        Finished {
            operation: Some(0),
            status: 200,
            total_ms: ms,
            ..Finished::default()
        }
    }

    #[test]
    fn requests_count_by_operation_class_and_consumer() {
        let (mut r, mut envoy) = (recorder(10), Envoy::default());
        r.finished(&ok(0, None));
        r.finished(&ok(0, None));
        r.finished(&ok(1, Some("project:7")));
        r.finished(&Finished {
            status: 404,
            denial: Some("not_found"),
            total_ms: 1,
            ..Finished::default()
        });
        envoy.take(&mut r);
        let row = |name: &str, n: u64| (name.to_string(), n);
        assert_eq!(
            envoy.with("wasp_requests_total"),
            [
                row(
                    "wasp_requests_total.operation=1.a.Get;.code_class=2xx;.consumer=project:7;",
                    1
                ),
                row(
                    "wasp_requests_total.operation=1.a.List;.code_class=2xx;.consumer=none;",
                    2
                ),
                row(
                    "wasp_requests_total.operation=unknown;.code_class=4xx;.consumer=none;",
                    1
                ),
            ]
        );
        assert_eq!(
            envoy.with("wasp_denials_total"),
            [row(
                "wasp_denials_total.operation=unknown;.reason=not_found;",
                1
            )]
        );
        assert_eq!(
            envoy.with("wasp_gateway_time"),
            [
                row("wasp_gateway_time_milliseconds_total.operation=1.a.Get;", 1),
                row(
                    "wasp_gateway_time_milliseconds_total.operation=1.a.List;",
                    2
                ),
            ]
        );
        // A denied request never went on: no backend time.
        assert!(envoy
            .with("wasp_backend_duration_milliseconds")
            .iter()
            .all(|(name, _)| !name.contains("unknown")));
        assert_eq!(envoy.take(&mut r), 0, "a drain starts over");
    }

    #[test]
    fn latencies_are_cumulative_buckets_with_a_sum_and_a_count() {
        let (mut r, mut envoy) = (recorder(1), Envoy::default());
        for ms in [0, 3, 3, 40, 60_000] {
            r.finished(&timed(ms));
        }
        envoy.take(&mut r);
        let buckets = envoy.with("wasp_request_duration_milliseconds_bucket");
        let le = |bound: &str| {
            buckets
                .iter()
                .find(|(name, _)| name.ends_with(&format!(".le={bound};")))
                .map(|(_, n)| *n)
        };
        assert_eq!(
            buckets.len(),
            LATENCY_BUCKETS_MS.len() + 1,
            "every bucket, zeros too"
        );
        assert_eq!(
            [
                le("1"),
                le("2"),
                le("5"),
                le("25"),
                le("50"),
                le("30000"),
                le("+Inf")
            ],
            [
                Some(1),
                Some(1),
                Some(3),
                Some(3),
                Some(4),
                Some(4),
                Some(5)
            ]
        );
        assert_eq!(
            envoy.with("wasp_request_duration_milliseconds_sum"),
            [(
                "wasp_request_duration_milliseconds_sum.operation=1.a.List;".into(),
                60_046
            )]
        );
        assert_eq!(
            envoy.with("wasp_request_duration_milliseconds_count"),
            [(
                "wasp_request_duration_milliseconds_count.operation=1.a.List;".into(),
                5
            )]
        );
        // A later drain carries only what changed: 3 ms touches le=5 and up, the sum, the
        // count, and the request counter.
        r.finished(&timed(3));
        let increments = envoy.take(&mut r);
        assert_eq!(increments, LATENCY_BUCKETS_MS.len() + 1 - 2 + 2 + 1);
        assert_eq!(
            envoy.with("wasp_request_duration_milliseconds_count")[0].1,
            6
        );
    }

    #[test]
    fn consumers_past_the_limit_fold_into_other_and_labelled_ones_stay() {
        let (mut r, mut envoy) = (recorder(2), Envoy::default());
        for consumer in [
            "project:1",
            "project:2",
            "project:3",
            "project:1",
            "project:4",
        ] {
            r.finished(&ok(0, Some(consumer)));
        }
        envoy.take(&mut r);
        let labels = |envoy: &Envoy| -> Vec<(String, u64)> {
            envoy
                .with("wasp_requests_total")
                .into_iter()
                .map(|(name, n)| (name.split(".consumer=").nth(1).unwrap_or("").to_string(), n))
                .collect()
        };
        assert_eq!(
            labels(&envoy),
            [
                ("other;".into(), 2),
                ("project:1;".into(), 2),
                ("project:2;".into(), 1)
            ]
        );
        // The labels handed out stay taken after a drain.
        r.finished(&ok(0, Some("project:5")));
        envoy.take(&mut r);
        assert_eq!(labels(&envoy)[0], ("other;".into(), 3));
    }

    #[test]
    fn an_operation_index_out_of_range_counts_as_unknown() {
        let (mut r, mut envoy) = (recorder(1), Envoy::default());
        r.finished(&Finished {
            operation: Some(99),
            status: 503,
            ..Finished::default()
        });
        envoy.take(&mut r);
        assert_eq!(
            envoy.with("wasp_requests_total"),
            [(
                "wasp_requests_total.operation=unknown;.code_class=5xx;.consumer=none;".into(),
                1
            )]
        );
    }

    #[test]
    fn fetches_count_by_provider_and_result() {
        let (mut r, mut envoy) = (recorder(1), Envoy::default());
        r.jwks_fetch("idp", true);
        r.jwks_fetch("idp", false);
        r.jwks_fetch("idp", false);
        r.id_token_fetch(true);
        envoy.take(&mut r);
        assert_eq!(
            [envoy.with("wasp_id_token"), envoy.with("wasp_jwks")].concat(),
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
