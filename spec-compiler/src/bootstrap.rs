//! The Envoy bootstrap (`envoy.yaml`): one listener whose HTTP connection
//! manager is hardened like ESPv2's, Envoy's CORS filter when a preset is set,
//! the wasm filter carrying the compiled config, one route per filter route id
//! (deadline, Host rewrite), the backend clusters (TLS, HTTP/2) and the
//! metadata-server cluster when backend auth needs ID tokens.
//!
//! Built as a `serde_json::Value` and written as YAML; nothing here reads the
//! spec, so the bootstrap shape can be read (and changed) in one place.

use crate::backend::Backend;
use crate::cors::CorsPolicy;
use crate::edge::EdgeOptions;
use crate::routes::RoutePlan;
use crate::telemetry::{self, TelemetryFlags};
use crate::upstreams::{Upstream, UpstreamRole};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use wasp_config::ROUTE_HEADER;

/// The access-log line: who called what, the outcome, the client address (as the
/// trusted hops determine it: the `caller_ip` Service Control gets) and the operation the
/// filter matched (from the filter state it sets; `-` when none matched). The path is the
/// one the client sent: the filter removes a client's `x-envoy-original-path` and sets its
/// own when it translates the path.
pub const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%ms client=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% operation=%FILTER_STATE(wasm.wasp.operation:PLAIN)% upstream=%UPSTREAM_HOST% user_agent=\"%REQ(USER-AGENT)%\" request_id=%REQ(X-REQUEST-ID)%\n";

/// The body of the final catch-all route, ESPv2's unknown-path reply. Only
/// reached when the filter chose no route (it answers unknown paths itself).
pub const NOT_DEFINED_BODY: &str =
    r#"{"code":404,"message":"The current request is not defined by this API."}"#;

/// The message of the 503 Envoy sends while the filter VM is failed and reloading.
pub const FILTER_FAILED_MESSAGE: &str =
    "UNAVAILABLE: the API gateway filter failed and is restarting; retry the request";

/// ESPv2's global stream idle timeout; a route's idle timeout is never shorter.
const STREAM_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Envoy's name of the CORS filter, also the key of its per-route policy.
const CORS_FILTER: &str = "envoy.filters.http.cors";
/// Large enough that Envoy's circuit breakers never shape a benchmark.
const CIRCUIT_BREAKER_LIMIT: u32 = 1_000_000;

/// Options that shape the bootstrap but not the filter config.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// Path of the wasm module as Envoy will see it.
    pub wasm: String,
    /// How Envoy normalizes paths before the filter matches them.
    pub paths: PathHandling,
    /// CA bundle used to verify https backends.
    pub root_certs: String,
    /// `--ssl-backend-client-cert-path`: https backends get `client.crt`/`client.key` from
    /// this directory (mutual TLS).
    pub backend_client_cert_dir: Option<String>,
    /// `--ssl-backend-client-cipher-suites`: TLS 1.2 ciphers offered to https backends.
    pub backend_cipher_suites: Option<String>,
    /// `--service-control-client-cert-path`: an https Service Control endpoint gets
    /// `client.crt`/`client.key` from this directory (wasp-control's client-certificate auth).
    pub service_control_client_cert_dir: Option<String>,
    /// Where the client address comes from: the listener connection, or `X-Forwarded-For`.
    pub client_address: ClientAddress,
    /// Which addresses of a backend's DNS name Envoy uses (`--backend-dns-lookup-family`).
    pub backend_dns_lookup_family: DnsLookupFamily,
    /// `--access-log-format`, `--access-log-path`.
    pub access_log: AccessLog,
    /// Per-operation metrics and tracing.
    pub telemetry: TelemetryFlags,
}

/// The access log's shape and where it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLog {
    pub format: AccessLogFormat,
    /// A file (as Envoy sees the path); stdout when `None`.
    pub path: Option<String>,
}

/// `--access-log-format` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    /// One text line, [`ACCESS_LOG_FORMAT`].
    #[default]
    Text,
    /// One JSON object per line, [`access_log_json`]'s fields.
    Json,
}

/// The JSON access log's fields: what a request was (method, path without the query,
/// operation), who sent it (client address, consumer), what it got (code, flags, details,
/// the filter's denial reason, sizes, total and backend latency) and which config and
/// request and trace id served it. Never a query, token or key: the path is `REQ_WITHOUT_QUERY` and
/// no credential header is named.
pub fn access_log_json(config_id: &str) -> Value {
    json!({
        "start_time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "response_code_details": "%RESPONSE_CODE_DETAILS%",
        "bytes_received": "%BYTES_RECEIVED%",
        "bytes_sent": "%BYTES_SENT%",
        "duration_ms": "%DURATION%",
        "backend_ms": "%COMMON_DURATION(US_TX_BEG:US_RX_END:ms)%",
        "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
        "operation": "%FILTER_STATE(wasm.wasp.operation:PLAIN)%",
        "consumer": "%FILTER_STATE(wasm.wasp.consumer:PLAIN)%",
        "denial": "%FILTER_STATE(wasm.wasp.denial:PLAIN)%",
        "upstream": "%UPSTREAM_HOST%",
        "user_agent": "%REQ(USER-AGENT)%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        // The tracer's trace id (`--tracing`); null without a tracer.
        "trace_id": "%TRACE_ID%",
        "config_id": config_id,
    })
}

/// ESPv2's `--backend_dns_lookup_family` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsLookupFamily {
    Auto,
    #[value(name = "v4only")]
    V4Only,
    #[value(name = "v6only")]
    V6Only,
    /// IPv4 when the name has one, else IPv6 (ESPv2's default).
    #[default]
    #[value(name = "v4preferred")]
    V4Preferred,
    All,
}

impl DnsLookupFamily {
    fn envoy_name(self) -> &'static str {
        match self {
            DnsLookupFamily::Auto => "AUTO",
            DnsLookupFamily::V4Only => "V4_ONLY",
            DnsLookupFamily::V6Only => "V6_ONLY",
            DnsLookupFamily::V4Preferred => "V4_PREFERRED",
            DnsLookupFamily::All => "ALL",
        }
    }
}

/// ESPv2's path options; by default Envoy normalizes (RFC 3986: `%4A` -> `J`, `.`/`..`
/// resolved), merges `//` and keeps `%2F` as it is, and the filter matches the result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathHandling {
    /// `--disable-normalize-path`.
    pub disable_normalize_path: bool,
    /// `--disable-merge-slashes-in-path`.
    pub disable_merge_slashes: bool,
    /// `--disallow-escaped-slashes-in-path`: redirect (307) `%2F`/`%5C` to their unescaped
    /// form instead of keeping them.
    pub disallow_escaped_slashes: bool,
    /// `--disallow-colon-in-wildcard-path-segment`: the filter's `*`/`**` match no `:`.
    pub disallow_colon_in_wildcard: bool,
}

/// How Envoy determines the client address, which becomes the Service Control
/// `caller_ip` (and so what IP-restricted keys are checked against) and the access log's
/// `client=`. ESPv2's flags `--envoy_use_remote_address` and `--envoy_xff_num_trusted_hops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    /// Use the connection's peer (appending it to `X-Forwarded-For`) rather than the
    /// last `X-Forwarded-For` entry.
    pub use_remote_address: bool,
    /// Proxies in front whose `X-Forwarded-For` entries are trusted. The client address is
    /// the entry this many places from the right: with fewer proxies really in front, the
    /// client chooses it.
    pub xff_num_trusted_hops: u32,
    /// The filter takes the Service Control caller IP from `Forwarded: for=` when sent
    /// (`--client-ip-from-forwarded-header`); Envoy's own address (and the log) is unchanged.
    pub from_forwarded_header: bool,
}

impl Default for ClientAddress {
    /// ESPv2's defaults, made for running behind Google's two load-balancer hops.
    fn default() -> ClientAddress {
        ClientAddress {
            use_remote_address: false,
            xff_num_trusted_hops: 2,
            from_forwarded_header: false,
        }
    }
}

/// What the compile decided, for the bootstrap to render.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub routes: &'a [RoutePlan],
    /// Every cluster: the routes' backends, then the filter's callout origins.
    pub upstreams: &'a [Upstream],
    /// `--cors-preset` policy: Envoy's CORS filter answers preflights.
    pub cors: Option<&'a CorsPolicy>,
    /// Health path, underscores, HSTS and added headers.
    pub edge: &'a EdgeOptions,
    /// The config's id (its hash), for the JSON access log.
    pub config_id: &'a str,
    /// The service's name, for the tracer.
    pub service_name: &'a str,
    /// The route id a request without the route header takes (`own_routes`); `None`: the
    /// filter pins every request and an unpinned one gets the 404.
    pub default_route: Option<&'a str>,
}

/// The whole bootstrap. `filter_json` is the compact filter config text.
pub fn bootstrap(options: &BootstrapOptions, filter_json: &str, plan: &Plan) -> Value {
    let clusters: Vec<Value> = plan
        .upstreams
        .iter()
        .map(|upstream| envoy_cluster(upstream, options))
        .collect();
    let mut document = json!({
        "node": { "id": "wasp", "cluster": "wasp" },
        "admin": { "address": socket_address(options.admin) },
        "static_resources": {
            "listeners": [listener(options, filter_json, plan)],
            "clusters": clusters,
        },
    });
    if options.telemetry.metrics().is_some() {
        document["stats_config"] = telemetry::stats_config();
    }
    document
}

/// An Envoy Duration string with millisecond precision (`1.5s`, `15s`).
pub fn duration(ms: u64) -> String {
    match ms % 1000 {
        0 => format!("{}s", ms / 1000),
        frac => format!("{}.{frac:03}s", ms / 1000),
    }
}

fn socket_address(address: SocketAddr) -> Value {
    json!({ "socket_address": { "address": address.ip().to_string(), "port_value": address.port() } })
}

fn listener(options: &BootstrapOptions, filter_json: &str, plan: &Plan) -> Value {
    let mut chain = json!({
        "filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": http_connection_manager(options, filter_json, plan),
        }],
    });
    if let Some(tls) = &plan.edge.tls {
        chain["transport_socket"] = tls.transport_socket();
    }
    let mut listener = json!({
        "name": "wasp",
        "address": socket_address(options.listen),
        "filter_chains": [chain],
    });
    if let Some(limit) = plan.edge.connection_buffer_limit_bytes {
        listener["per_connection_buffer_limit_bytes"] = json!(limit);
    }
    listener
}

/// ESPv2's HCM settings (espv2-behaviour.md 1.3).
fn http_connection_manager(options: &BootstrapOptions, filter_json: &str, plan: &Plan) -> Value {
    let escaped_slashes = if options.paths.disallow_escaped_slashes {
        "UNESCAPE_AND_REDIRECT"
    } else {
        "KEEP_UNCHANGED"
    };
    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress_http",
        "codec_type": "AUTO",
        "normalize_path": !options.paths.disable_normalize_path,
        "merge_slashes": !options.paths.disable_merge_slashes,
        "path_with_escaped_slashes_action": escaped_slashes,
        "common_http_protocol_options": { "headers_with_underscores_action": plan.edge.underscores_action() },
        "stream_idle_timeout": "300s",
        "use_remote_address": options.client_address.use_remote_address,
        "xff_num_trusted_hops": options.client_address.xff_num_trusted_hops,
        // Explicit and empty: no peer is internal, so Envoy treats every request as
        // external and strips its x-envoy-* headers (the filter strips its list too).
        // Envoy before 1.36 trusted RFC 1918 and loopback peers when this was unset.
        "internal_address_config": { "unix_sockets": false, "cidr_ranges": [] },
        // A request id for the access log and the backend's logs; costs one
        // random UUID per request.
        "generate_request_id": true,
        "upgrade_configs": [{ "upgrade_type": "websocket" }],
        "access_log": [access_log(&options.access_log, plan.config_id)],
        "local_reply_config": local_reply_config(),
        "route_config": route_config(plan),
        "http_filters": http_filters(options, filter_json, plan),
    });
    let collector = plan
        .upstreams
        .iter()
        .find(|u| u.role == UpstreamRole::Tracing);
    if let Some(collector) = collector {
        hcm["tracing"] = telemetry::hcm_tracing(
            &options.telemetry,
            &collector.backend,
            plan.service_name,
            plan.config_id,
        );
    }
    hcm
}

/// ESPv2's order: CORS (answers preflights before anything needs credentials),
/// the health check (`--healthz`: probes need no credentials), then the wasm
/// filter, then the router; `--enable-response-compression`'s compressors sit before
/// the wasm filter, so they compress the backend's answers and the filter's own replies. With `--dependency-error-behavior block-init-on-any-error`
/// the health check comes after the filter, which answers the probe 503 until ready.
fn http_filters(options: &BootstrapOptions, filter_json: &str, plan: &Plan) -> Vec<Value> {
    let mut filters = Vec::with_capacity(4);
    if plan.cors.is_some() {
        filters.push(json!({
            "name": CORS_FILTER,
            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
        }));
    }
    if plan.edge.block_until_ready {
        filters.extend(plan.edge.compressor_filters());
        filters.push(wasm_filter(options, filter_json));
        filters.extend(plan.edge.health_check_filter());
    } else {
        filters.extend(plan.edge.health_check_filter());
        filters.extend(plan.edge.compressor_filters());
        filters.push(wasm_filter(options, filter_json));
    }
    filters.push(router_filter());
    filters
}

/// The HCM's access logger: text or JSON, to stdout or a file.
fn access_log(log: &AccessLog, config_id: &str) -> Value {
    let mut format = match log.format {
        AccessLogFormat::Text => {
            json!({ "text_format_source": { "inline_string": ACCESS_LOG_FORMAT } })
        }
        AccessLogFormat::Json => json!({ "json_format": access_log_json(config_id) }),
    };
    // %REQ_WITHOUT_QUERY%: the query may carry API keys and JWTs.
    format["formatters"] = json!([{
        "name": "envoy.formatter.req_without_query",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery",
        },
    }]);
    match &log.path {
        None => json!({
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": format,
            },
        }),
        Some(path) => json!({
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": path,
                "log_format": format,
            },
        }),
    }
}

/// ESPv2 rewrites every Envoy-generated local reply (upstream 503/504, no
/// route, stream timeouts) to `{"code":N,"message":"..."}`. The wasm filter's
/// own replies are already that JSON and must pass untouched.
///
/// There is deliberately no top-level `body_format`: it would apply to every
/// local reply, the filter's included. Instead each mapper matches only replies
/// Envoy made itself:
/// - `response_flag_filter` with no flags matches any reply carrying a response
///   flag (UF, UH, UT, URX, NR, SI, DPE, ...). Envoy sets a flag whenever it
///   fails a stream itself; a module's `send_http_response` sets none, and
///   neither does a route's `direct_response` (our 404 body is already JSON).
/// - a reply with details `wasm_fail_stream` (a crashed filter VM, 503 with an
///   empty body) carries no flag, so a CEL filter on `response.code_details`
///   catches it.
///
/// Checked against Envoy 1.40 with a probe module: its own JSON 429 passed
/// untouched, its panic gave the 503 JSON below, an unreachable backend the
/// 503 JSON with Envoy's message.
fn local_reply_config() -> Value {
    let json_body = json!({
        "json_format": { "code": "%RESPONSE_CODE%", "message": "%LOCAL_REPLY_BODY%" },
        "content_type": "application/json",
    });
    json!({
        "mappers": [
            {
                "filter": { "response_flag_filter": {} },
                "body_format_override": json_body,
            },
            // The escaped-slash redirect (`--disallow-escaped-slashes-in-path`) carries no
            // flag; ESPv2 answers it `{"code":307,"message":""}`. The filter never sends 307.
            {
                "filter": { "status_code_filter": { "comparison": {
                    "op": "EQ",
                    "value": { "default_value": 307, "runtime_key": "wasp.local_reply.redirect_status" },
                }}},
                "body_format_override": json_body,
            },
            {
                "filter": { "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                        "expression": "response.code_details == 'wasm_fail_stream'",
                    },
                }},
                // Envoy's reply has no body; say what happened instead of "".
                "body_format_override": {
                    "json_format": { "code": "%RESPONSE_CODE%", "message": FILTER_FAILED_MESSAGE },
                    "content_type": "application/json",
                },
            },
        ],
    })
}

/// One route per filter route id, chosen by the header the filter sets, then the
/// catch-all: the default route where the routes are wasp's (its operations need no
/// header, so Envoy routes them once), else the 404.
fn route_config(plan: &Plan) -> Value {
    let default = plan
        .default_route
        .and_then(|id| plan.routes.iter().find(|r| r.id == id));
    let mut routes: Vec<Value> = plan
        .routes
        .iter()
        .filter(|r| Some(r.id.as_str()) != plan.default_route)
        .map(backend_route)
        .collect();
    match default {
        // A route entry on every path: Envoy's CORS filter acts on each request.
        Some(route) => routes.push(default_route(route)),
        None => {
            if let (Some(_), Some(first)) = (plan.cors, plan.routes.first()) {
                routes.push(cors_route(first));
            }
            routes.push(json!({
                "name": "not-defined",
                "match": { "prefix": "/" },
                "direct_response": { "status": 404, "body": { "inline_string": NOT_DEFINED_BODY } },
                "response_headers_to_add": [{
                    "header": { "key": "content-type", "value": "application/json" },
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }],
            }));
        }
    }
    let mut virtual_host = json!({ "name": "wasp", "domains": ["*"], "routes": routes });
    // Applied by the router to every route's request and response (`--add-*-header`, HSTS).
    let (requests, responses) = (
        plan.edge.request_headers_to_add(),
        plan.edge.response_headers_to_add(),
    );
    if !requests.is_empty() {
        virtual_host["request_headers_to_add"] = json!(requests);
    }
    if !responses.is_empty() {
        virtual_host["response_headers_to_add"] = json!(responses);
    }
    // On the virtual host, so it applies whichever route is selected: the CORS
    // filter runs before the wasm filter has picked the backend route.
    if let Some(cors) = plan.cors {
        virtual_host["typed_per_filter_config"] = json!({ CORS_FILTER: cors.envoy_policy() });
    }
    json!({ "name": "wasp", "virtual_hosts": [virtual_host] })
}

/// Envoy's CORS filter runs before the wasm filter has chosen a backend route,
/// and it ignores a request whose route has no route entry, as the final 404
/// `direct_response` has none. So with a preset, a request carrying `Origin`
/// matches this route first: the CORS filter answers valid preflights and
/// decorates responses. It forwards nothing itself: the wasm filter then
/// either replies locally or sets the route header, which re-selects a backend
/// route above this one.
fn cors_route(first: &RoutePlan) -> Value {
    json!({
        "name": "cors",
        "match": {
            "prefix": "/",
            "headers": [{ "name": "origin", "present_match": true }],
        },
        "route": { "cluster": first.cluster, "timeout": duration(first.timeout_ms) },
    })
}

fn backend_route(route: &RoutePlan) -> Value {
    json!({
        "name": format!("route-{}", route.id),
        "match": {
            "prefix": "/",
            "headers": [{ "name": ROUTE_HEADER, "string_match": { "exact": route.id } }],
        },
        "route": route_action(route),
        "request_headers_to_remove": [ROUTE_HEADER],
    })
}

/// The route of every request the filter lets through without the route header. Only the
/// filter lets a request through (it answers unknown paths itself; a failed VM is a 503),
/// and Envoy strips a client's route header, so it is reached by its operations alone.
fn default_route(route: &RoutePlan) -> Value {
    json!({
        "name": format!("route-{}", route.id),
        "match": { "prefix": "/" },
        "route": route_action(route),
    })
}

/// `timeout` is the deadline (overrun: Envoy's 504 "upstream request
/// timeout", made JSON by the local-reply mapper); `idle_timeout` as ESPv2:
/// max(deadline + 1 s, the global stream idle timeout).
fn route_action(route: &RoutePlan) -> Value {
    let idle_ms = (route.timeout_ms + 1_000).max(STREAM_IDLE_TIMEOUT_MS);
    let mut action = json!({
        "cluster": route.cluster,
        "timeout": duration(route.timeout_ms),
        "idle_timeout": duration(idle_ms),
        "retry_policy": { "retry_on": "reset,connect-failure,refused-stream", "num_retries": 1 },
    });
    // A remote backend (Cloud Run, a load balancer) routes by Host.
    if let Some(host) = &route.host_rewrite {
        action["host_rewrite_literal"] = json!(host);
    }
    action
}

fn wasm_filter(options: &BootstrapOptions, filter_json: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "wasp",
                "root_id": "wasp",
                "failure_policy": "FAIL_RELOAD",
                "reload_config": { "backoff": { "base_interval": "1s", "max_interval": "10s" } },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": filter_json,
                },
                "vm_config": {
                    "vm_id": "wasp",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": options.wasm } },
                },
            },
        },
    })
}

fn router_filter() -> Value {
    json!({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            "suppress_envoy_headers": true,
        },
    })
}

/// One upstream as an Envoy cluster (also what `--target envoy-gateway` patches in).
pub fn envoy_cluster(upstream: &Upstream, options: &BootstrapOptions) -> Value {
    let mut rendered = cluster(&upstream.name, &upstream.backend, &options.root_certs);
    if upstream.role.is_callout() {
        // Callouts are small; a cold request waits on them, so fail fast (the filter
        // retries). ESPv2's service-control-cluster does the same.
        rendered["connect_timeout"] = json!("5s");
        if upstream.role == UpstreamRole::ServiceControl && upstream.backend.tls {
            if let Some(dir) = &options.service_control_client_cert_dir {
                add_client_certificate(&mut rendered, dir);
            }
        }
        return rendered;
    }
    if upstream.backend.tls {
        add_backend_client_tls(&mut rendered, options);
    }
    if rendered.get("dns_lookup_family").is_some() {
        rendered["dns_lookup_family"] = json!(options.backend_dns_lookup_family.envoy_name());
    }
    rendered
}

fn cluster(name: &str, backend: &Backend, root_certs: &str) -> Value {
    let mut cluster = json!({
        "name": name,
        "connect_timeout": "20s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                "socket_address": { "address": backend.host, "port_value": backend.port },
            }}}]}],
        },
        "circuit_breakers": { "thresholds": [{
            "priority": "DEFAULT",
            "max_connections": CIRCUIT_BREAKER_LIMIT,
            "max_pending_requests": CIRCUIT_BREAKER_LIMIT,
            "max_requests": CIRCUIT_BREAKER_LIMIT,
            "max_retries": CIRCUIT_BREAKER_LIMIT,
        }]},
    });
    if backend.ip.is_some() {
        cluster["type"] = json!("STATIC");
    } else {
        // One address at a time, re-resolved on failure, like ESPv2: right for
        // a name behind a load balancer (Cloud Run, ingress).
        cluster["type"] = json!("LOGICAL_DNS");
        cluster["dns_lookup_family"] = json!("V4_PREFERRED");
    }
    if backend.tls {
        cluster["transport_socket"] = tls_transport_socket(backend, root_certs);
    }
    if backend.http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} },
            },
        });
    }
    cluster
}

/// TLS verified against the trust bundle: SNI and the certificate's name are
/// the address host (an IP literal sends no SNI and must be an IP SAN).
/// ESPv2's backend mTLS and cipher options, on a backend cluster's TLS context (not on the
/// JWKS, metadata or Service Control clusters, as in ESPv2).
fn add_backend_client_tls(cluster: &mut Value, options: &BootstrapOptions) {
    if let Some(dir) = &options.backend_client_cert_dir {
        add_client_certificate(cluster, dir);
    }
    if let Some(list) = &options.backend_cipher_suites {
        let common = &mut cluster["transport_socket"]["typed_config"]["common_tls_context"];
        common["tls_params"] = json!({ "cipher_suites": list.split(':').collect::<Vec<_>>() });
    }
}

/// The gateway's client certificate (`client.crt`, `client.key` in `dir`) on a TLS cluster.
fn add_client_certificate(cluster: &mut Value, dir: &str) {
    let dir = dir.trim_end_matches('/');
    cluster["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificates"] = json!([{
        "certificate_chain": { "filename": format!("{dir}/client.crt") },
        "private_key": { "filename": format!("{dir}/client.key") },
    }]);
}

fn tls_transport_socket(backend: &Backend, root_certs: &str) -> Value {
    let san = match backend.ip {
        Some(IpAddr::V4(_) | IpAddr::V6(_)) => "IP_ADDRESS",
        None => "DNS",
    };
    let mut context = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": { "filename": root_certs },
                "match_typed_subject_alt_names": [{
                    "san_type": san,
                    "matcher": { "exact": backend.host },
                }],
            },
        },
    });
    if backend.ip.is_none() {
        context["sni"] = json!(backend.host);
    }
    if backend.http2 {
        context["common_tls_context"]["alpn_protocols"] = json!(["h2"]);
    }
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::METADATA_CLUSTER;
    use crate::cors::CorsFlags;
    use crate::routes::RouteTable;
    use crate::upstreams::UpstreamRole;

    fn options() -> BootstrapOptions {
        BootstrapOptions {
            listen: "0.0.0.0:8080".parse().unwrap(),
            admin: "127.0.0.1:9901".parse().unwrap(),
            wasm: "/etc/wasp/wasp_filter.wasm".into(),
            paths: PathHandling::default(),
            root_certs: "/etc/ssl/certs/ca-certificates.crt".into(),
            backend_client_cert_dir: None,
            backend_cipher_suites: None,
            service_control_client_cert_dir: None,
            client_address: ClientAddress::default(),
            backend_dns_lookup_family: DnsLookupFamily::default(),
            access_log: AccessLog::default(),
            telemetry: TelemetryFlags::default(),
        }
    }

    fn backend(text: &str, http2: bool) -> Backend {
        let mut b = Backend::parse(text).unwrap();
        b.http2 = http2;
        b
    }

    /// A bootstrap for routes to `(backend, deadline ms, Host rewrite)`.
    fn render(
        opts: &BootstrapOptions,
        routes: &[(Backend, u64, Option<&str>)],
        cors: Option<&CorsPolicy>,
        metadata: Option<&Backend>,
    ) -> Value {
        let mut table = RouteTable::new();
        for (b, ms, host) in routes {
            table.route_to(b, *ms, host.map(str::to_string));
        }
        let mut upstreams: Vec<Upstream> = table.upstreams();
        upstreams
            .extend(metadata.map(|m| Upstream::new(METADATA_CLUSTER, m, UpstreamRole::Metadata)));
        let plan = Plan {
            routes: table.routes(),
            upstreams: &upstreams,
            cors,
            edge: &EdgeOptions::default(),
            config_id: "test",
            service_name: "test.example.com",
            default_route: None,
        };
        bootstrap(opts, "{}", &plan)
    }

    #[test]
    fn own_routes_end_in_the_default_route() {
        let mut table = RouteTable::new();
        let first = table.route_to(&backend("http://127.0.0.1:8081", false), 15_000, None);
        let second = table.route_to(&backend("http://127.0.0.1:8082", false), 5_000, None);
        let upstreams = table.upstreams();
        let cors = CorsFlags {
            cors_preset: Some("basic".into()),
            ..CorsFlags::default()
        }
        .policy()
        .unwrap()
        .unwrap();
        let plan = Plan {
            routes: table.routes(),
            upstreams: &upstreams,
            cors: Some(&cors),
            edge: &EdgeOptions::default(),
            config_id: "test",
            service_name: "test.example.com",
            default_route: Some(&second),
        };
        let b = bootstrap(&options(), "{}", &plan);
        let routes = routes(&b).as_array().unwrap();
        // The other route by header, then the default one on every path; no CORS-only
        // route and no 404 route (the filter answers unknown paths).
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0]["name"], format!("route-{first}"));
        assert_eq!(routes[0]["match"]["headers"][0]["name"], ROUTE_HEADER);
        assert_eq!(routes[1]["name"], format!("route-{second}"));
        assert_eq!(routes[1]["match"], json!({ "prefix": "/" }));
        assert_eq!(routes[1]["route"]["timeout"], "5s");
    }

    #[test]
    fn metrics_get_a_tag_per_label_and_can_be_turned_off() {
        let b = render(
            &options(),
            &[(backend("http://127.0.0.1:8081", false), 15_000, None)],
            None,
            None,
        );
        let tags: Vec<&str> = b["stats_config"]["stats_tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tag_name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, wasp_config::metrics::TAGS);
        assert_eq!(
            b["stats_config"]["stats_tags"][0]["regex"],
            r"^wasmcustom\.wasp_.*(\.operation=([^;]*);)"
        );
        assert!(
            hcm(&b).get("tracing").is_none(),
            "no tracer unless --tracing"
        );
        let mut off = options();
        off.telemetry.disable_operation_metrics = true;
        let b = render(
            &off,
            &[(backend("http://127.0.0.1:8081", false), 15_000, None)],
            None,
            None,
        );
        assert!(b.get("stats_config").is_none());
    }

    fn hcm(b: &Value) -> &Value {
        &b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    }

    fn routes(b: &Value) -> &Value {
        &hcm(b)["route_config"]["virtual_hosts"][0]["routes"]
    }

    fn filter_names(b: &Value) -> Vec<String> {
        hcm(b)["http_filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_client_address_settings_are_explicit_and_nothing_is_internal() {
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(&options(), &[(local.clone(), 15_000, None)], None, None);
        let manager = hcm(&b);
        assert_eq!(manager["use_remote_address"], false);
        assert_eq!(manager["xff_num_trusted_hops"], 2);
        assert_eq!(
            manager["internal_address_config"],
            json!({ "unix_sockets": false, "cidr_ranges": [] })
        );
        let mut edge = options();
        edge.client_address = ClientAddress {
            use_remote_address: true,
            xff_num_trusted_hops: 0,
            from_forwarded_header: false,
        };
        let b = render(&edge, &[(local, 15_000, None)], None, None);
        assert_eq!(hcm(&b)["use_remote_address"], true);
        assert_eq!(hcm(&b)["xff_num_trusted_hops"], 0);
    }

    #[test]
    fn backend_names_resolve_as_the_dns_option_says() {
        let named = backend("https://api.example.com", false);
        let b = render(&options(), &[(named.clone(), 15_000, None)], None, None);
        assert_eq!(
            b["static_resources"]["clusters"][0]["dns_lookup_family"],
            "V4_PREFERRED"
        );
        let mut v6 = options();
        v6.backend_dns_lookup_family = DnsLookupFamily::V6Only;
        let b = render(&v6, &[(named, 15_000, None)], None, None);
        assert_eq!(
            b["static_resources"]["clusters"][0]["dns_lookup_family"],
            "V6_ONLY"
        );
    }

    #[test]
    fn loopback_backend_keeps_host_and_uses_a_static_cluster() {
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(&options(), &[(local, 15_000, None)], None, None);
        let hcm = hcm(&b);
        assert_eq!(hcm["path_with_escaped_slashes_action"], "KEEP_UNCHANGED");
        let routes = routes(&b);
        assert_eq!(routes[0]["match"]["headers"][0]["name"], ROUTE_HEADER);
        assert_eq!(
            routes[0]["match"]["headers"][0]["string_match"]["exact"],
            "r0"
        );
        assert_eq!(routes[0]["route"]["cluster"], "backend-127.0.0.1_8081");
        assert_eq!(routes[0]["route"]["timeout"], "15s");
        assert_eq!(routes[0]["route"]["idle_timeout"], "300s");
        assert!(routes[0]["route"].get("host_rewrite_literal").is_none());
        assert_eq!(routes[1]["direct_response"]["status"], 404);
        let cluster = &b["static_resources"]["clusters"][0];
        assert_eq!(cluster["type"], "STATIC");
        assert!(cluster.get("transport_socket").is_none());
        assert!(cluster.get("typed_extension_protocol_options").is_none());
        assert_eq!(
            b["static_resources"]["clusters"].as_array().unwrap().len(),
            1
        );
        assert_eq!(
            filter_names(&b),
            ["envoy.filters.http.wasm", "envoy.filters.http.router"]
        );
        let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
        assert_eq!(wasm["configuration"]["value"], "{}");
        assert_eq!(
            wasm["vm_config"]["code"]["local"]["filename"],
            "/etc/wasp/wasp_filter.wasm"
        );
        assert!(hcm["route_config"]["virtual_hosts"][0]
            .get("typed_per_filter_config")
            .is_none());
    }

    #[test]
    fn only_an_https_service_control_cluster_presents_its_client_certificate() {
        let mut opts = options();
        opts.service_control_client_cert_dir = Some("/etc/wasp/control-client/".into());
        let https = backend("https://control.internal:8790", false);
        let certificates = |role: UpstreamRole, backend: &Backend| {
            let cluster = envoy_cluster(&Upstream::new("c", backend, role), &opts);
            cluster["transport_socket"]["typed_config"]["common_tls_context"]
                .get("tls_certificates")
                .cloned()
        };
        let presented = certificates(UpstreamRole::ServiceControl, &https).unwrap();
        assert_eq!(
            presented[0]["certificate_chain"]["filename"],
            "/etc/wasp/control-client/client.crt"
        );
        assert_eq!(
            presented[0]["private_key"]["filename"],
            "/etc/wasp/control-client/client.key"
        );
        assert_eq!(certificates(UpstreamRole::Jwks, &https), None);
        assert_eq!(certificates(UpstreamRole::Backend, &https), None);
        let plain = backend("http://127.0.0.1:8790", false);
        let cluster = envoy_cluster(
            &Upstream::new("c", &plain, UpstreamRole::ServiceControl),
            &opts,
        );
        assert!(cluster.get("transport_socket").is_none());
    }

    #[test]
    fn remote_https_backend_gets_tls_dns_and_host_rewrite() {
        let remote = backend("https://api.example.com", false);
        let mut opts = options();
        opts.paths.disallow_escaped_slashes = true;
        let b = render(
            &opts,
            &[(remote, 15_000, Some("api.example.com"))],
            None,
            None,
        );
        assert_eq!(
            hcm(&b)["path_with_escaped_slashes_action"],
            "UNESCAPE_AND_REDIRECT"
        );
        let action = &routes(&b)[0]["route"];
        assert_eq!(action["host_rewrite_literal"], "api.example.com");
        let cluster = &b["static_resources"]["clusters"][0];
        assert_eq!(cluster["type"], "LOGICAL_DNS");
        assert_eq!(
            cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            443
        );
        let tls = &cluster["transport_socket"]["typed_config"];
        assert_eq!(tls["sni"], "api.example.com");
        let validation = &tls["common_tls_context"]["validation_context"];
        assert_eq!(
            validation["trusted_ca"]["filename"],
            "/etc/ssl/certs/ca-certificates.crt"
        );
        assert_eq!(
            validation["match_typed_subject_alt_names"][0]["san_type"],
            "DNS"
        );
        assert!(tls["common_tls_context"].get("alpn_protocols").is_none());
    }

    #[test]
    fn h2_backends_get_explicit_http2_and_alpn_over_tls() {
        let b = render(
            &options(),
            &[
                (
                    backend("https://run.example.app", true),
                    15_000,
                    Some("run.example.app"),
                ),
                (
                    backend("http://10.0.0.7:9000", true),
                    15_000,
                    Some("10.0.0.7:9000"),
                ),
            ],
            None,
            None,
        );
        let clusters = &b["static_resources"]["clusters"];
        assert_eq!(clusters[0]["name"], "backend-run.example.app_443-h2");
        for c in [&clusters[0], &clusters[1]] {
            let options = &c["typed_extension_protocol_options"]
                ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
            assert_eq!(
                options["explicit_http_config"]["http2_protocol_options"],
                json!({})
            );
        }
        assert_eq!(
            clusters[0]["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"],
            json!(["h2"])
        );
        assert!(clusters[1].get("transport_socket").is_none());
        assert_eq!(clusters[1]["type"], "STATIC");
    }

    #[test]
    fn an_https_ip_backend_sends_no_sni_and_checks_an_ip_san() {
        let b = render(
            &options(),
            &[(backend("https://10.1.2.3:8443", false), 15_000, None)],
            None,
            None,
        );
        let tls = &b["static_resources"]["clusters"][0]["transport_socket"]["typed_config"];
        assert!(tls.get("sni").is_none());
        let san =
            &tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0];
        assert_eq!(
            (&san["san_type"], &san["matcher"]["exact"]),
            (&json!("IP_ADDRESS"), &json!("10.1.2.3"))
        );
    }

    #[test]
    fn deadlines_become_route_timeouts_with_espv2_idle_timeouts() {
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(
            &options(),
            &[
                (local.clone(), 1_500, None),
                (local.clone(), 600_000, None),
                (local, 15_000, None),
            ],
            None,
            None,
        );
        let got: Vec<_> = routes(&b).as_array().unwrap()[..3]
            .iter()
            .map(|r| {
                (
                    r["route"]["timeout"].clone(),
                    r["route"]["idle_timeout"].clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (json!("1.500s"), json!("300s")),
                (json!("600s"), json!("601s")),
                (json!("15s"), json!("300s")),
            ]
        );
        assert_eq!(
            b["static_resources"]["clusters"].as_array().unwrap().len(),
            1,
            "one cluster for three routes"
        );
        assert_eq!(duration(1), "0.001s");
    }

    #[test]
    fn a_cors_preset_adds_envoys_filter_first_and_the_policy_on_the_virtual_host() {
        let policy = CorsFlags {
            cors_preset: Some("basic".into()),
            ..CorsFlags::default()
        }
        .policy()
        .unwrap()
        .unwrap();
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(&options(), &[(local, 15_000, None)], Some(&policy), None);
        assert_eq!(
            filter_names(&b),
            [
                "envoy.filters.http.cors",
                "envoy.filters.http.wasm",
                "envoy.filters.http.router"
            ]
        );
        let vhost = &hcm(&b)["route_config"]["virtual_hosts"][0];
        // The CORS filter needs a route entry: a route for requests with Origin before the 404.
        let routes = routes(&b);
        assert_eq!(routes[1]["name"], "cors");
        assert_eq!(routes[1]["match"]["headers"][0]["name"], "origin");
        assert_eq!(routes[1]["route"]["cluster"], "backend-127.0.0.1_8081");
        assert_eq!(routes[2]["direct_response"]["status"], 404);
        let cors = &vhost["typed_per_filter_config"]["envoy.filters.http.cors"];
        assert_eq!(
            cors["@type"],
            "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
        );
        assert_eq!(cors["allow_origin_string_match"][0]["exact"], "*");
    }

    #[test]
    fn backend_auth_adds_the_metadata_cluster() {
        let local = backend("http://127.0.0.1:8081", false);
        let metadata = Backend::parse("http://169.254.169.254").unwrap();
        let b = render(&options(), &[(local, 15_000, None)], None, Some(&metadata));
        let clusters = b["static_resources"]["clusters"].as_array().unwrap();
        let m = &clusters[1];
        assert_eq!(m["name"], METADATA_CLUSTER);
        assert_eq!(m["type"], "STATIC");
        assert_eq!(m["connect_timeout"], "5s");
        assert_eq!(
            m["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"],
            json!({ "address": "169.254.169.254", "port_value": 80 })
        );
    }

    #[test]
    fn only_envoy_generated_local_replies_are_rewritten_to_json() {
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(&options(), &[(local, 15_000, None)], None, None);
        let local = &hcm(&b)["local_reply_config"];
        // A top-level body_format would also wrap the filter's own JSON replies.
        assert!(local.get("body_format").is_none());
        let mappers = local["mappers"].as_array().unwrap();
        assert_eq!(mappers[0]["filter"]["response_flag_filter"], json!({}));
        let messages: Vec<_> = mappers
            .iter()
            .map(|m| {
                let body = &m["body_format_override"];
                assert_eq!(body["json_format"]["code"], "%RESPONSE_CODE%");
                assert_eq!(body["content_type"], "application/json");
                body["json_format"]["message"].clone()
            })
            .collect();
        assert_eq!(
            messages,
            [
                json!("%LOCAL_REPLY_BODY%"),
                json!("%LOCAL_REPLY_BODY%"),
                json!(FILTER_FAILED_MESSAGE)
            ]
        );
        let redirect = &mappers[1]["filter"]["status_code_filter"]["comparison"];
        assert_eq!(redirect["value"]["default_value"], 307);
    }

    #[test]
    fn path_handling_is_espv2s_by_default_and_each_part_can_be_turned_off() {
        let local = backend("http://127.0.0.1:8081", false);
        let b = render(&options(), &[(local.clone(), 15_000, None)], None, None);
        let manager = hcm(&b);
        assert_eq!(
            (
                &manager["normalize_path"],
                &manager["merge_slashes"],
                &manager["path_with_escaped_slashes_action"]
            ),
            (&json!(true), &json!(true), &json!("KEEP_UNCHANGED"))
        );
        let mut raw = options();
        raw.paths = PathHandling {
            disable_normalize_path: true,
            disable_merge_slashes: true,
            disallow_escaped_slashes: true,
            disallow_colon_in_wildcard: true,
        };
        let b = render(&raw, &[(local, 15_000, None)], None, None);
        let manager = hcm(&b);
        assert_eq!(manager["normalize_path"], false);
        assert_eq!(manager["merge_slashes"], false);
        assert_eq!(
            manager["path_with_escaped_slashes_action"],
            "UNESCAPE_AND_REDIRECT"
        );
    }
}
