//! wasp-control's own metrics, for Prometheus on `GET /metrics`: the Service Control calls
//! it answered (by method and outcome), their latency, the denials by Google's error code,
//! and how long its stores took (the key database, the quota windows).

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// How a call ended: answered with no error in it, answered with a denial (a Check or
/// quota error the gateway turns into a 4xx), or refused (the HTTP error's status name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Ok,
    Denied,
    Error(&'a str),
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabels {
    method: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: String,
}

/// 100 us to about 3 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

pub struct ControlMetrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    durations: Family<MethodLabel, Histogram, fn() -> Histogram>,
    denials: Family<DenialLabels, Counter>,
    stores: Family<StoreLabel, Histogram, fn() -> Histogram>,
}

impl Default for ControlMetrics {
    fn default() -> Self {
        let calls = Family::<CallLabels, Counter>::default();
        let durations = Family::new_with_constructor(latency as fn() -> Histogram);
        let denials = Family::<DenialLabels, Counter>::default();
        let stores = Family::new_with_constructor(latency as fn() -> Histogram);
        let mut registry = Registry::default();
        registry.register(
            "wasp_control_calls",
            "Service Control calls answered, by method and outcome (ok, denied, or the error)",
            calls.clone(),
        );
        registry.register_with_unit(
            "wasp_control_call_duration",
            "Time to answer a Service Control call, by method",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "wasp_control_denials",
            "Check and quota errors answered, by method and Google's error code",
            denials.clone(),
        );
        registry.register_with_unit(
            "wasp_control_store_duration",
            "Time a store took per call: keys (the key database), quota (the windows)",
            Unit::Seconds,
            stores.clone(),
        );
        ControlMetrics {
            registry,
            calls,
            durations,
            denials,
            stores,
        }
    }
}

impl ControlMetrics {
    /// One answered call: `method` is `check`, `allocateQuota` or `report`.
    pub fn call(&self, method: &str, outcome: Outcome, took: Duration) {
        let outcome = match outcome {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error(status) => status,
        };
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// A Check or quota error in an answer, by its code's name (`ApiKeyInvalid`).
    pub fn denial(&self, method: &str, code: &str) {
        self.denials
            .get_or_create(&DenialLabels {
                method: method.to_string(),
                code: snake_case(code),
            })
            .inc();
    }

    /// How long one store call took.
    pub fn store(&self, store: &str, took: Duration) {
        self.stores
            .get_or_create(&StoreLabel {
                store: store.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// `ApiKeyInvalid` -> `api_key_invalid`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_denials_and_stores_render_in_the_prometheus_text_format() {
        let metrics = ControlMetrics::default();
        metrics.call("check", Outcome::Ok, Duration::from_micros(150));
        metrics.call("check", Outcome::Denied, Duration::from_micros(150));
        metrics.call(
            "allocateQuota",
            Outcome::Error("UNAVAILABLE"),
            Duration::ZERO,
        );
        metrics.denial("check", "ApiKeyInvalid");
        metrics.store("keys", Duration::from_micros(50));
        let text = metrics.render();
        for line in [
            "wasp_control_calls_total{method=\"check\",outcome=\"ok\"} 1",
            "wasp_control_calls_total{method=\"check\",outcome=\"denied\"} 1",
            "wasp_control_calls_total{method=\"allocateQuota\",outcome=\"UNAVAILABLE\"} 1",
            "wasp_control_denials_total{method=\"check\",code=\"api_key_invalid\"} 1",
            "wasp_control_call_duration_seconds_count{method=\"check\"} 2",
            "wasp_control_store_duration_seconds_count{store=\"keys\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    #[test]
    fn code_names_become_snake_case() {
        assert_eq!(snake_case("ResourceExhausted"), "resource_exhausted");
        assert_eq!(snake_case("ApiKeyInvalid"), "api_key_invalid");
    }
}
