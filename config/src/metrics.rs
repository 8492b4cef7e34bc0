//! The filter's metrics as Envoy stats: their names, the tags a name carries, and the
//! regexes the generated bootstrap gives Envoy's tag extraction, so `/stats/prometheus`
//! shows `wasp_requests_total{operation="...",code_class="2xx",consumer="..."}`.
//!
//! The latency histograms are Prometheus histograms made of counters: `<name>_bucket`
//! (with `le`), `<name>_sum` and `<name>_count`.
//!
//! A tagged name is the metric's base name followed by one `.<tag>=<value>;` segment per
//! tag, in [`TAGS`] order. Each tag's regex captures its whole segment (which Envoy then
//! removes from the name) and the value. Values never contain `;` ([`tag_value`]).

use serde::{Deserialize, Serialize};

/// Requests answered, by operation, response code class and consumer.
pub const REQUESTS: &str = "wasp_requests_total";
/// Requests the filter answered itself, by operation and reason (`jwt_missing`, ...).
pub const DENIALS: &str = "wasp_denials_total";
/// Time from the request's headers to the end of its response, by operation (ms).
pub const REQUEST_DURATION: &str = "wasp_request_duration_milliseconds";
/// Time from the request going on to the end of the backend's response, by operation (ms).
pub const BACKEND_DURATION: &str = "wasp_backend_duration_milliseconds";
/// Time the gateway's own stages (JWT keys, Check, quota, ID token) held requests that went
/// on, in ms, summed: over `wasp_backend_duration_milliseconds_count`, the mean per request.
pub const GATEWAY_TIME: &str = "wasp_gateway_time_milliseconds_total";
/// JWKS and discovery fetches, by provider and result (`ok`, `failed`).
pub const JWKS_FETCHES: &str = "wasp_jwks_fetches_total";
/// ID-token fetches (metadata server or IAM), by result.
pub const ID_TOKEN_FETCHES: &str = "wasp_id_token_fetches_total";
/// The upper bounds (ms) of the latency histograms' buckets; `+Inf` follows.
pub const LATENCY_BUCKETS_MS: [u64; 14] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/// Every tag a wasp stat name may carry, in the order segments are written.
pub const TAGS: [&str; 7] = [
    "operation",
    "code_class",
    "consumer",
    "reason",
    "provider",
    "result",
    "le",
];

/// The namespace Envoy puts wasm-defined stats in; its Prometheus output drops it.
pub const ENVOY_NAMESPACE: &str = "wasmcustom";

/// The consumer label of requests no key identified.
pub const NO_CONSUMER: &str = "none";
/// The consumer label of every consumer past the per-worker limit.
pub const OTHER_CONSUMERS: &str = "other";
/// The operation label of requests that matched none (404, 405, ...).
pub const UNKNOWN_OPERATION: &str = "unknown";

/// What the filter records. Absent from a config: no per-operation metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Distinct consumer labels each worker keeps; later consumers count as `other`.
    pub max_consumers: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { max_consumers: 100 }
    }
}

/// `value` made safe for a tagged name: `;` (the segment end) becomes `_`.
pub fn tag_value(value: &str) -> String {
    value.replace(';', "_")
}

/// `base` with one segment per `(tag, value)`; tags must come in [`TAGS`] order.
pub fn tagged_name(base: &str, tags: &[(&str, &str)]) -> String {
    let mut name = String::from(base);
    for (tag, value) in tags {
        name.push('.');
        name.push_str(tag);
        name.push('=');
        name.push_str(&tag_value(value));
        name.push(';');
    }
    name
}

/// The regex Envoy's `stats_tags` entry for `tag` uses: group 1 is the segment removed
/// from the name, group 2 the value.
pub fn tag_regex(tag: &str) -> String {
    format!(r"(\.{tag}=([^;]*);)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// What Envoy's tag extraction does with the regexes: every tag found, the name left.
    fn extract(name: &str) -> (String, Vec<(String, String)>) {
        let mut left = name.to_string();
        let mut tags = Vec::new();
        for tag in TAGS {
            let re = Regex::new(&tag_regex(tag)).unwrap();
            if let Some(found) = re.captures(&left.clone()) {
                tags.push((tag.to_string(), found[2].to_string()));
                left = left.replacen(&found[1], "", 1);
            }
        }
        (left, tags)
    }

    #[test]
    fn every_tag_comes_back_and_the_base_name_is_left() {
        let name = tagged_name(
            REQUESTS,
            &[
                ("operation", "1.shop_example_com.ListItems"),
                ("code_class", "2xx"),
                ("consumer", "project:123"),
            ],
        );
        assert_eq!(
            name,
            "wasp_requests_total.operation=1.shop_example_com.ListItems;.code_class=2xx;.consumer=project:123;"
        );
        let (left, tags) = extract(&name);
        assert_eq!(left, REQUESTS);
        assert_eq!(
            tags,
            [
                ("operation".into(), "1.shop_example_com.ListItems".into()),
                ("code_class".into(), "2xx".into()),
                ("consumer".into(), "project:123".into()),
            ]
        );
    }

    #[test]
    fn a_value_cannot_end_its_segment_early() {
        let name = tagged_name(DENIALS, &[("operation", "a;.reason=x;"), ("reason", "r")]);
        let (left, tags) = extract(&name);
        assert_eq!(left, DENIALS);
        assert_eq!(tags[0], ("operation".into(), "a_.reason=x_".into()));
        assert_eq!(tags[1], ("reason".into(), "r".into()));
    }

    #[test]
    fn a_tag_named_like_the_end_of_another_is_not_confused() {
        // `.result=` must not match inside a provider value ending in "result".
        let name = tagged_name(JWKS_FETCHES, &[("provider", "myresult"), ("result", "ok")]);
        let (left, tags) = extract(&name);
        assert_eq!(left, JWKS_FETCHES);
        assert_eq!(
            tags,
            [
                ("provider".into(), "myresult".into()),
                ("result".into(), "ok".into())
            ]
        );
    }
}
