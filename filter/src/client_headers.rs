//! Request headers a client must not be able to send as-is: the ones the gateway, Envoy
//! or a backend trusts because only a proxy should set them. Removed before the request is
//! matched to a route, so neither Envoy's router nor the backend ever acts on a forged copy.
//!
//! Envoy strips most `x-envoy-*` headers itself, but only from requests it classifies as
//! external, and that classification depends on `use_remote_address`, the trusted hops and
//! `internal_address_config` (CVE-2024-45806 was a gap in exactly this). Some it never
//! strips (`x-envoy-original-path`, which the access log prints). So the filter removes an
//! explicit list whatever the listener's settings; each entry is tested through Envoy.

use std::sync::LazyLock;

use wasp_config::INTERNAL_HEADER_PREFIX;

use crate::backend_auth::FORWARDED_AUTHORIZATION;
use crate::method_override;

/// The headers the gateway generates for the backend, named with the configured prefix
/// (ESPv2's `--generated_header_prefix`, default `X-Endpoint-`), lower case: the user info
/// after a verified JWT, the consumer after a verified Check, the operation name when
/// configured. A backend may trust them, so a client's copies never pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedHeaders {
    pub userinfo: String,
    pub consumer_type: String,
    pub consumer_number: String,
    pub operation_name: String,
}

impl GeneratedHeaders {
    pub fn with_prefix(prefix: &str) -> GeneratedHeaders {
        let name = |suffix: &str| format!("{prefix}{suffix}").to_ascii_lowercase();
        GeneratedHeaders {
            userinfo: name("API-UserInfo"),
            consumer_type: name("API-Consumer-Type"),
            consumer_number: name("API-Consumer-Number"),
            operation_name: name("Api-Operation-Name"),
        }
    }

    /// One of the consumer headers the API-key stage sets.
    pub fn is_consumer(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.consumer_type)
            || name.eq_ignore_ascii_case(&self.consumer_number)
    }

    fn contains(&self, name: &str) -> bool {
        self.is_consumer(name)
            || name.eq_ignore_ascii_case(&self.userinfo)
            || name.eq_ignore_ascii_case(&self.operation_name)
    }
}

impl Default for GeneratedHeaders {
    fn default() -> GeneratedHeaders {
        GeneratedHeaders::with_prefix(wasp_config::DEFAULT_GENERATED_HEADER_PREFIX)
    }
}

/// The generated headers under ESPv2's default names, removed whatever the prefix.
static DEFAULT_GENERATED: LazyLock<GeneratedHeaders> = LazyLock::new(GeneratedHeaders::default);

/// Method-override spellings the gateway does not interpret. A backend framework that
/// honours one would run the request as a method the gateway did not authorize.
pub const UNINTERPRETED_OVERRIDES: [&str; 2] = ["x-http-method", "x-method-override"];

/// `x-envoy-*` request headers Envoy's router or tracing acts on, or that carry what a
/// trusted proxy decided (a backend or the access log believes them).
pub const ENVOY_HEADERS: [&str; 24] = [
    // What the access log prints as the requested path (set by the filter itself when it
    // translates the path).
    ORIGINAL_PATH,
    "x-envoy-original-url",
    "x-envoy-original-host",
    "x-envoy-decorator-operation",
    // The router's timeouts, retries and hedging: a client could hold connections open or
    // multiply its load on the backend.
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-max-retries",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-upstream-stream-duration-ms",
    "x-envoy-is-timeout-retry",
    "x-envoy-attempt-count",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-force-trace",
    // Who the caller is, as a trusted proxy would say.
    "x-envoy-internal",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
    "x-envoy-ip-tags",
    "x-envoy-original-dst-host",
];

/// The client address as Envoy determined it. Removed unless the listener uses the
/// connection's remote address, in which case Envoy has just written it itself.
pub const EXTERNAL_ADDRESS: &str = "x-envoy-external-address";

/// The path the client asked for, when the backend gets another.
pub const ORIGINAL_PATH: &str = "x-envoy-original-path";

/// Distinct header names to remove, as sent. `envoy_sets_external_address`: the
/// listener's `use_remote_address` is on, so `x-envoy-external-address` is Envoy's.
/// `generated`: the configured names of the gateway's own headers (the default names are
/// removed too, so a backend still reading them is never fooled).
pub fn to_strip<'h>(
    headers: &'h [(String, String)],
    envoy_sets_external_address: bool,
    generated: &GeneratedHeaders,
) -> Vec<&'h str> {
    let mut found: Vec<&str> = Vec::new();
    for (name, _) in headers {
        if (is_spoofable(name, envoy_sets_external_address) || generated.contains(name))
            && !found.iter().any(|seen| seen.eq_ignore_ascii_case(name))
        {
            found.push(name);
        }
    }
    found
}

/// The internal prefix, `X-Forwarded-Authorization` and the generated headers under their
/// default names (only the filter sets them), every method override (the one applied is
/// dropped after use) and Envoy's own headers.
fn is_spoofable(name: &str, envoy_sets_external_address: bool) -> bool {
    // Every name here starts with `x-`: most of a request's headers are decided by that
    // (this runs for every header of every request).
    if !starts_with_ignoring_case(name, "x-") {
        return false;
    }
    let named = |list: &[&str]| list.iter().any(|h| name.eq_ignore_ascii_case(h));
    if starts_with_ignoring_case(name, "x-envoy-") {
        return named(&ENVOY_HEADERS)
            || (!envoy_sets_external_address && name.eq_ignore_ascii_case(EXTERNAL_ADDRESS));
    }
    starts_with_ignoring_case(name, INTERNAL_HEADER_PREFIX)
        || named(&[FORWARDED_AUTHORIZATION, method_override::HEADER])
        || named(&UNINTERPRETED_OVERRIDES)
        || DEFAULT_GENERATED.contains(name)
}

fn starts_with_ignoring_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "v".to_string()))
            .collect()
    }

    #[test]
    fn every_listed_header_is_stripped_in_any_case() {
        let mut names: Vec<String> = ENVOY_HEADERS.iter().map(|h| h.to_string()).collect();
        names.extend(UNINTERPRETED_OVERRIDES.iter().map(|h| h.to_uppercase()));
        let defaults = GeneratedHeaders::default();
        names.push(defaults.consumer_type.clone());
        names.push(defaults.consumer_number.clone());
        names.push("X-Forwarded-Authorization".into());
        names.push("X-Endpoint-Api-Operation-Name".into());
        names.push("x-wasp-route".into());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            to_strip(&headers(&refs), true, &GeneratedHeaders::default()),
            refs
        );
    }

    #[test]
    fn the_external_address_is_kept_only_when_envoy_wrote_it() {
        let sent = headers(&["x-envoy-external-address"]);
        let generated = GeneratedHeaders::default();
        assert_eq!(
            to_strip(&sent, false, &generated),
            vec!["x-envoy-external-address"]
        );
        assert!(to_strip(&sent, true, &generated).is_empty());
    }

    #[test]
    fn ordinary_and_unlisted_headers_pass_and_duplicates_are_named_once() {
        let sent = headers(&[
            "x-forwarded-for",
            "x-envoy-",
            "x-envoy-custom-app-header",
            "x-request-id",
            "X-Method-Override",
            "x-method-override",
        ]);
        assert_eq!(
            to_strip(&sent, false, &GeneratedHeaders::default()),
            vec!["X-Method-Override"]
        );
    }

    #[test]
    fn a_custom_prefix_strips_its_names_and_the_default_ones() {
        let generated = GeneratedHeaders::with_prefix("Gw-");
        assert_eq!(generated.userinfo, "gw-api-userinfo");
        assert_eq!(generated.operation_name, "gw-api-operation-name");
        let sent = headers(&[
            "Gw-API-UserInfo",
            "gw-api-consumer-number",
            "x-endpoint-api-userinfo",
            "gw-other",
        ]);
        assert_eq!(
            to_strip(&sent, false, &generated),
            vec![
                "Gw-API-UserInfo",
                "gw-api-consumer-number",
                "x-endpoint-api-userinfo"
            ]
        );
        assert!(generated.is_consumer("GW-API-CONSUMER-TYPE"));
        // The default names are ESPv2's, the one the JWT crate documents among them.
        assert_eq!(
            GeneratedHeaders::default().userinfo,
            wasp_jwt::userinfo::USERINFO_HEADER
        );
    }
}
