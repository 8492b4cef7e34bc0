//! The API-key / quota / report stage as the filter uses it. The decisions (key extraction,
//! Check, AllocateQuota, caches, retries, fail policy, batching) are `wasp-control-client`'s
//! flow; this module holds what the adapter keeps around them: what each request leaves for
//! its report and the caller's address.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::client_headers::EXTERNAL_ADDRESS;
use crate::head::first;

use wasp_config::service_control::{ControlClientConfig, OperationControl};
use wasp_control_client::check::KeyState;
use wasp_control_client::flow::Counters;
use wasp_control_client::report::UNKNOWN_OPERATION;
use wasp_control_client::request_log::{jwt_credential_id, RequestLog};
use wasp_control_client::ReportRecord;

/// What a request leaves for its report, filled in as its stages run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The matched operation; `None`: ESPv2's `<Unknown Operation Name>` (404, 405, ...).
    pub operation: Option<String>,
    /// Unix ms: request headers seen, request let through to the backend, response headers.
    pub start_ms: u64,
    pub forwarded_ms: Option<u64>,
    pub response_ms: Option<u64>,
    /// The response's `:status`, read with its headers.
    pub response_code: Option<u16>,
    /// The verified JWT's payload (the user-info value), for the `/credential_id` label.
    pub userinfo: Option<String>,
    /// Unix ms: the JWT stage and the Service Control stage done (for the trace's timings).
    pub jwt_done_ms: Option<u64>,
    pub control_done_ms: Option<u64>,
    /// The matched operation's gateway index, for metrics.
    pub operation_index: Option<usize>,
    /// `project:<number>` once a key named the consumer, for metrics.
    pub consumer: Option<String>,
    /// What the request's `endpoints_log` entry says; the adapter fills it along the way.
    pub log: RequestLog,
}

impl Trace {
    pub fn new(start_ms: u64) -> Trace {
        Trace {
            start_ms,
            ..Trace::default()
        }
    }

    /// How long each of the gateway's stages held the request, for the trace span:
    /// `jwt=0ms service_control=12ms id_token=0ms total=12ms`. A stage that did not run
    /// took 0.
    pub fn stages(&self) -> String {
        let jwt = self.jwt_done_ms.unwrap_or(self.start_ms);
        let control = self.control_done_ms.unwrap_or(jwt);
        let end = self.forwarded_ms.unwrap_or(control);
        format!(
            "jwt={}ms service_control={}ms id_token={}ms total={}ms",
            jwt.saturating_sub(self.start_ms),
            control.saturating_sub(jwt),
            end.saturating_sub(control),
            end.saturating_sub(self.start_ms)
        )
    }

    /// Envoy's `response.code_details` when the trace alone tells it: a request the filter let
    /// through whose response headers carried a 2xx came from the backend (Envoy makes no 2xx
    /// local reply on wasp's routes), `via_upstream`. `None`: ask Envoy (a property read).
    pub fn known_code_detail(&self) -> Option<&'static str> {
        let from_backend = self.forwarded_ms.is_some()
            && self.response_ms.is_some()
            && self.response_code.is_some_and(|c| (200..300).contains(&c));
        from_backend.then_some("via_upstream")
    }

    /// The report record once the response ended. Backend latency is counted from the moment
    /// the request went on to the response headers, and only when the backend answered.
    pub fn record(
        &self,
        response_code: u16,
        end_ms: u64,
        request_size: u64,
        response_size: u64,
    ) -> ReportRecord {
        let backend_latency_ms = match (self.forwarded_ms, self.response_ms) {
            (Some(forwarded), Some(response)) => Some(response.saturating_sub(forwarded)),
            _ => None,
        };
        ReportRecord {
            operation: self
                .operation
                .clone()
                .unwrap_or_else(|| UNKNOWN_OPERATION.to_string()),
            // Reports name the consumer only for a key Check verified.
            verified_key: match self.log.key_state {
                Some(KeyState::Verified) => self.log.api_key.clone(),
                _ => None,
            },
            response_code,
            start_ms: self.start_ms,
            end_ms: end_ms.max(self.start_ms),
            backend_latency_ms,
            request_size,
            response_size,
            jwt_credential: self.userinfo.as_deref().and_then(jwt_credential_id),
            log: self.log.clone(),
        }
    }

    /// The head facts the log entry names: method, path without its query, referer, and the
    /// caller when the head says who it is ([`CallerSources::from_head`]).
    pub fn note_head(&mut self, headers: &[(String, String)], sources: CallerSources) {
        if let Some(ip) = sources.from_head(headers) {
            self.log.caller_ip = ip;
        }
        for (name, value) in headers {
            match name.as_str() {
                ":method" => self.log.method = value.clone(),
                ":path" => {
                    let path = value.split(['?', '#']).next().unwrap_or_default();
                    self.log.path = path.to_string();
                }
                "referer" if self.log.referer.is_empty() => self.log.referer = value.clone(),
                _ => {}
            }
        }
    }

    /// What the API-key stage found.
    pub fn note_key(&mut self, state: KeyState, key: Option<&str>, caller_ip: &str) {
        self.log.key_state = Some(state);
        self.log.api_key = key.map(str::to_string);
        self.log.caller_ip = caller_ip.to_string();
    }
}

/// Whether a request to an operation has anything for Service Control to decide: a key to
/// check (required by the operation or, for this request, by the JWT stage), quota to
/// allocate, or a key to remove. Everything else is only reported.
pub fn needs_flow(
    config: &ControlClientConfig,
    operation: Option<&OperationControl>,
    key_required: bool,
) -> bool {
    key_required
        || config.remove_api_key
        || operation.is_some_and(|op| op.api_key_required || !op.metric_costs.is_empty())
}

/// For each operation (by the gateway's index), its entry in `config.operations`.
pub fn operation_index<'a>(
    config: &ControlClientConfig,
    names: impl Iterator<Item = &'a str>,
) -> Vec<Option<usize>> {
    let by_name: HashMap<&str, usize> = config
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| (op.name.as_str(), i))
        .collect();
    names.map(|name| by_name.get(name).copied()).collect()
}

/// Body bytes of one direction, counted from the body callbacks' sizes (what ESPv2 reports as
/// request and response sizes). While the filter holds the request back, Envoy buffers and
/// each callback reports the whole buffer, so those are kept apart until it is let go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyBytes {
    passed: u64,
    /// The last size reported while paused: all of Envoy's buffer.
    buffered: u64,
}

impl BodyBytes {
    /// A body callback reported `size` bytes; `paused`: the filter holds this one back.
    pub fn chunk(&mut self, size: usize, paused: bool) {
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        if paused {
            self.buffered = size;
        } else {
            // The buffer went on when the request was resumed; this chunk is new.
            self.passed = self
                .passed
                .saturating_add(self.buffered)
                .saturating_add(size);
            self.buffered = 0;
        }
    }

    pub fn total(&self) -> u64 {
        self.passed.saturating_add(self.buffered)
    }
}

/// Where the caller's IP may be read from the head, before asking Envoy for `source.address`
/// (a property read, about 12,000 instructions, see bench/README.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerSources {
    /// `--client-ip-from-forwarded-header`: the first `Forwarded: for=` wins.
    pub forwarded: bool,
    /// The HCM uses the remote address, so `x-envoy-external-address` is Envoy's own record of
    /// the client (the address `source.address` holds; a client's copy is overwritten).
    pub envoy_external_address: bool,
    /// The HCM does not use the remote address: Envoy took the client from
    /// `X-Forwarded-For`, skipping this many entries from the right, when that gave an IP.
    pub xff_trusted_hops: Option<u32>,
}

impl CallerSources {
    /// The caller's IP as the head gives it, or `None` (then `source.address` decides).
    pub fn from_head(self, headers: &[(String, String)]) -> Option<String> {
        if let Some(ip) = self.forwarded.then(|| forwarded_for(headers)).flatten() {
            return Some(ip.to_string());
        }
        if self.envoy_external_address {
            let ip = first(headers, EXTERNAL_ADDRESS).map(str::trim);
            return ip.filter(|ip| !ip.is_empty()).map(str::to_string);
        }
        let skip = self.xff_trusted_hops?;
        xff_client(first(headers, "x-forwarded-for")?, skip).map(|ip| ip.to_string())
    }
}

/// The client Envoy reads from `X-Forwarded-For` when it does not use the connection's
/// address: the entry after skipping `skip` from the right, if it is an IP (Envoy's
/// `getLastAddressFromXFF`: too few entries, or text that is no IP, and Envoy keeps the
/// connection's address). Written as Envoy's own canonical text.
pub fn xff_client(xff: &str, skip: u32) -> Option<IpAddr> {
    let mut rest = xff;
    for _ in 0..skip {
        let (left, _) = rest.rsplit_once(',')?;
        rest = left;
    }
    if let Some((_, last)) = rest.rsplit_once(',') {
        if !last.is_empty() {
            rest = last;
        }
    }
    rest.trim().parse().ok()
}

/// The client address the first `Forwarded` header names (RFC 7239: its first element's
/// `for=`, quotes, brackets and port removed), for ESPv2's `--client_ip_from_forwarded_header`.
/// `None` when there is no such header or it names no address (`for=unknown`, `for=_hidden`).
pub fn forwarded_for(headers: &[(String, String)]) -> Option<&str> {
    let value = first(headers, "forwarded")?;
    let element = value.split(',').next()?;
    let node = element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
    })?;
    let node = node.trim_matches('"');
    let ip = match node.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => node.split(':').next().unwrap_or(node),
    };
    let looks_like_ip = !ip.is_empty()
        && ip
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    looks_like_ip.then_some(ip)
}

/// The IP of Envoy's `source.address` (`1.2.3.4:5678`, `[::1]:5678`), for the caller_ip label.
pub fn caller_ip(source_address: &str) -> &str {
    if let Some(rest) = source_address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match source_address.rsplit_once(':') {
        // One colon: IPv4 with a port. More: an IPv6 address without brackets.
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => source_address,
    }
}

/// The flow's counters as Envoy counters (shown in `/stats` as `wasmcustom.<name>`): how
/// often Service Control was asked or answered from cache, and how often its failure let a
/// request through (fail open) or stopped it (fail closed).
pub const METRICS: [&str; 8] = [
    "wasp.service_control.check_calls",
    "wasp.service_control.check_cache_hits",
    "wasp.service_control.quota_calls",
    "wasp.service_control.quota_cache_hits",
    "wasp.service_control.failed_open",
    "wasp.service_control.failed_closed",
    "wasp.service_control.rejected_calls",
    "wasp.service_control.bad_answers",
];

fn values(c: &Counters) -> [u64; METRICS.len()] {
    [
        c.check_calls,
        c.check_cache_hits,
        c.quota_calls,
        c.quota_cache_hits,
        c.failed_open,
        c.failed_closed,
        c.rejected_calls,
        c.bad_answers,
    ]
}

/// What was already added to the Envoy counters, so each export adds only what is new.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    last: [u64; METRICS.len()],
}

impl Exported {
    /// The increase of each of [`METRICS`] since the last call.
    pub fn deltas(&mut self, now: &Counters) -> [u64; METRICS.len()] {
        let now = values(now);
        let mut deltas = [0; METRICS.len()];
        for ((delta, now), last) in deltas.iter_mut().zip(now).zip(self.last.iter_mut()) {
            *delta = now.saturating_sub(*last);
            *last = now;
        }
        deltas
    }
}

/// An Envoy integer attribute (`response.code`, `request.total_size`): 8 bytes, little endian.
pub fn int_property(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    u64::try_from(i64::from_le_bytes(array)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_timings_split_the_time_before_the_request_went_on() {
        let mut trace = Trace::new(1_000);
        trace.jwt_done_ms = Some(1_002);
        trace.control_done_ms = Some(1_015);
        trace.forwarded_ms = Some(1_016);
        assert_eq!(
            trace.stages(),
            "jwt=2ms service_control=13ms id_token=1ms total=16ms"
        );
        // Stages that did not run took nothing; an open operation went on at once.
        let mut open = Trace::new(5);
        open.forwarded_ms = Some(5);
        assert_eq!(
            open.stages(),
            "jwt=0ms service_control=0ms id_token=0ms total=0ms"
        );
    }

    #[test]
    fn a_trace_reports_its_operation_key_and_backend_time() {
        let mut trace = Trace::new(1_000);
        let unknown = trace.record(404, 1_002, 80, 90);
        assert_eq!(unknown.operation, UNKNOWN_OPERATION);
        assert_eq!(unknown.backend_latency_ms, None);
        assert_eq!((unknown.start_ms, unknown.end_ms), (1_000, 1_002));
        trace.operation = Some("1.shop.List".into());
        trace.note_key(KeyState::Verified, Some("k"), "10.0.0.1");
        trace.forwarded_ms = Some(1_010);
        trace.response_ms = Some(1_040);
        let record = trace.record(200, 1_050, 100, 2_000);
        assert_eq!(record.operation, "1.shop.List");
        assert_eq!(record.verified_key.as_deref(), Some("k"));
        assert_eq!(record.backend_latency_ms, Some(30));
        assert_eq!((record.request_size, record.response_size), (100, 2_000));
        // A clock that went backwards never makes a negative latency.
        assert_eq!(trace.record(200, 10, 0, 0).end_ms, 1_000);
    }

    #[test]
    fn body_bytes_count_buffered_chunks_once() {
        let mut bytes = BodyBytes::default();
        bytes.chunk(100, false);
        bytes.chunk(50, false);
        assert_eq!(bytes.total(), 150);
        // Held back: Envoy reports its growing buffer.
        bytes.chunk(30, true);
        bytes.chunk(80, true);
        assert_eq!(bytes.total(), 230);
        // Resumed (the buffer went on), then a new chunk.
        bytes.chunk(10, false);
        assert_eq!(bytes.total(), 240);
    }

    #[test]
    fn only_keys_quota_or_key_removal_need_the_flow() {
        let mut config: ControlClientConfig = serde_json::from_str(
            r#"{"service_name": "s", "producer_project_id": "p",
                "endpoint": {"cluster": "c", "authority": "a"},
                "operations": [{"name": "1.s.Keyed", "api_key_required": true},
                               {"name": "1.s.Metered", "metric_costs": {"m": 1}},
                               {"name": "1.s.Located", "api_key_locations": [{"header": "k"}]}]}"#,
        )
        .unwrap();
        let index = operation_index(
            &config,
            ["1.s.Open", "1.s.Metered", "1.s.Keyed", "1.s.Located"].into_iter(),
        );
        assert_eq!(index, vec![None, Some(1), Some(0), Some(2)]);
        let op = |i: usize| index[i].map(|j| &config.operations[j]);
        assert!(!needs_flow(&config, op(0), false));
        assert!(
            needs_flow(&config, op(0), true),
            "the JWT stage asks for a key"
        );
        assert!(needs_flow(&config, op(1), false));
        assert!(needs_flow(&config, op(2), false));
        assert!(!needs_flow(&config, op(3), false));
        config.remove_api_key = true;
        let located = config.operations[2].clone();
        assert!(needs_flow(&config, Some(&located), false));
        assert!(needs_flow(&config, None, false));
    }

    #[test]
    fn the_first_forwarded_element_names_the_client() {
        let head = |value: &str| vec![("forwarded".to_string(), value.to_string())];
        let cases = [
            (
                "for=203.0.113.7;proto=https, for=198.51.100.1",
                Some("203.0.113.7"),
            ),
            (
                "proto=https;For=\"198.51.100.9:4711\"",
                Some("198.51.100.9"),
            ),
            ("for=\"[2001:db8::1]:4711\"", Some("2001:db8::1")),
            ("for=unknown", None),
            ("for=_hidden, for=10.0.0.1", None),
            ("by=10.0.0.1", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(forwarded_for(&head(value)), expected, "{value}");
        }
        assert_eq!(forwarded_for(&[]), None);
    }

    #[test]
    fn the_head_names_the_caller_by_forwarded_then_envoys_external_address() {
        let head = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let both = head(&[
            ("forwarded", "for=192.0.2.60"),
            ("x-envoy-external-address", "203.0.113.9"),
        ]);
        let all = CallerSources {
            forwarded: true,
            envoy_external_address: true,
            xff_trusted_hops: None,
        };
        assert_eq!(all.from_head(&both).as_deref(), Some("192.0.2.60"));
        let envoys = CallerSources {
            envoy_external_address: true,
            ..CallerSources::default()
        };
        assert_eq!(envoys.from_head(&both).as_deref(), Some("203.0.113.9"));
        // A copy Envoy did not write (the HCM does not use the remote address) says nothing.
        assert_eq!(CallerSources::default().from_head(&both), None);
        assert_eq!(
            envoys.from_head(&head(&[("x-envoy-external-address", "")])),
            None
        );
    }

    #[test]
    fn the_xff_client_is_the_one_envoy_picks() {
        let ip = |xff: &str, skip: u32| xff_client(xff, skip).map(|ip| ip.to_string());
        // ESPv2's default: two trusted hops.
        assert_eq!(
            ip("6.6.6.6, 7.7.7.7, 8.8.8.8", 2).as_deref(),
            Some("6.6.6.6")
        );
        assert_eq!(
            ip("1.1.1.1,6.6.6.6, 7.7.7.7, 8.8.8.8", 2).as_deref(),
            Some("6.6.6.6")
        );
        // Too few entries, or no IP there: Envoy keeps the connection's address.
        assert_eq!(ip("7.7.7.7, 8.8.8.8", 2), None);
        assert_eq!(ip("unknown, 7.7.7.7, 8.8.8.8", 2), None);
        assert_eq!(ip("6.6.6.6, , 8.8.8.8", 1), None);
        assert_eq!(ip("9.9.9.9", 0).as_deref(), Some("9.9.9.9"));
        // IPv6 in Envoy's canonical text; a port is no IP.
        assert_eq!(
            ip("2001:DB8:0::7, 1.1.1.1", 1).as_deref(),
            Some("2001:db8::7")
        );
        assert_eq!(ip("1.2.3.4:80", 0), None);
        let sources = CallerSources {
            xff_trusted_hops: Some(2),
            ..CallerSources::default()
        };
        let head = vec![(
            "x-forwarded-for".to_string(),
            "6.6.6.6, 7.7.7.7, 8.8.8.8".to_string(),
        )];
        assert_eq!(sources.from_head(&head).as_deref(), Some("6.6.6.6"));
        assert_eq!(sources.from_head(&[]), None);
    }

    #[test]
    fn only_a_backends_2xx_is_known_to_be_via_upstream() {
        let mut trace = Trace::new(1);
        assert_eq!(trace.known_code_detail(), None);
        trace.forwarded_ms = Some(2);
        trace.response_ms = Some(3);
        trace.response_code = Some(204);
        assert_eq!(trace.known_code_detail(), Some("via_upstream"));
        // Envoy's own 503 or 504 for a forwarded request: ask Envoy.
        trace.response_code = Some(504);
        assert_eq!(trace.known_code_detail(), None);
        // Answered by the filter: no response headers were seen on the way back.
        let mut replied = Trace::new(1);
        replied.response_code = Some(200);
        assert_eq!(replied.known_code_detail(), None);
    }

    #[test]
    fn caller_ips_lose_their_port() {
        assert_eq!(caller_ip("10.0.0.7:54321"), "10.0.0.7");
        assert_eq!(caller_ip("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(caller_ip("2001:db8::1"), "2001:db8::1");
        assert_eq!(caller_ip("10.0.0.7"), "10.0.0.7");
        assert_eq!(caller_ip(""), "");
        assert_eq!(caller_ip("[broken"), "broken");
    }

    #[test]
    fn counters_are_exported_as_increments() {
        let mut exported = Exported::default();
        let mut counters = Counters {
            check_calls: 3,
            failed_open: 1,
            ..Counters::default()
        };
        assert_eq!(exported.deltas(&counters), [3, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(exported.deltas(&counters), [0; 8]);
        counters.check_calls = 5;
        counters.rejected_calls = 2;
        counters.bad_answers = 1;
        assert_eq!(exported.deltas(&counters), [2, 0, 0, 0, 0, 0, 2, 1]);
    }

    #[test]
    fn integer_attributes_are_little_endian_int64() {
        assert_eq!(int_property(&200i64.to_le_bytes()), Some(200));
        assert_eq!(int_property(&(-1i64).to_le_bytes()), None);
        assert_eq!(int_property(b"200"), None);
    }
}
