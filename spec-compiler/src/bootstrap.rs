//! The Envoy bootstrap (`envoy.yaml`): one listener whose HTTP connection
//! manager is hardened like ESPv2's, the wasm filter carrying the compiled
//! config, one route per filter route id, and the backend clusters.
//!
//! Built as a `serde_json::Value` and written as YAML; nothing here reads the
//! spec, so the bootstrap shape can be read (and changed) in one place.

use crate::backend::Backend;
use serde_json::{json, Value};
use std::net::SocketAddr;
use wasp_config::{Route, ROUTE_HEADER};

/// The access-log line: who called what, the outcome, and the operation the
/// filter matched (from the filter state it sets; `-` when none matched).
pub const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%ms operation=%FILTER_STATE(wasm.wasp.operation:PLAIN)% upstream=%UPSTREAM_HOST% request_id=%REQ(X-REQUEST-ID)%\n";

/// The body of the final catch-all route, ESPv2's unknown-path reply. Only
/// reached when the filter chose no route (it answers unknown paths itself).
pub const NOT_DEFINED_BODY: &str =
    r#"{"code":404,"message":"The current request is not defined by this API."}"#;

/// The message of the 503 Envoy sends while the filter VM is failed and reloading.
pub const FILTER_FAILED_MESSAGE: &str =
    "UNAVAILABLE: the API gateway filter failed and is restarting; retry the request";

/// ESPv2's default per-request deadline.
const ROUTE_TIMEOUT: &str = "15s";
/// Large enough that Envoy's circuit breakers never shape a benchmark.
const CIRCUIT_BREAKER_LIMIT: u32 = 1_000_000;

/// Options that shape the bootstrap but not the filter config.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// Path of the wasm module as Envoy will see it.
    pub wasm: String,
    /// `--disallow-escaped-slashes`: redirect `%2F` to `/` instead of keeping it.
    pub disallow_escaped_slashes: bool,
    /// CA bundle used to verify https backends.
    pub root_certs: String,
}

/// One route of the filter config and the backend its cluster reaches.
pub struct Upstream<'a> {
    pub route: &'a Route,
    pub backend: &'a Backend,
}

/// The whole bootstrap. `filter_json` is the compact filter config text.
pub fn bootstrap(options: &BootstrapOptions, filter_json: &str, upstreams: &[Upstream]) -> Value {
    json!({
        "node": { "id": "wasp", "cluster": "wasp" },
        "admin": { "address": socket_address(options.admin) },
        "static_resources": {
            "listeners": [listener(options, filter_json, upstreams)],
            "clusters": upstreams.iter().map(|u| cluster(u.route, u.backend, &options.root_certs)).collect::<Vec<_>>(),
        },
    })
}

fn socket_address(address: SocketAddr) -> Value {
    json!({ "socket_address": { "address": address.ip().to_string(), "port_value": address.port() } })
}

fn listener(options: &BootstrapOptions, filter_json: &str, upstreams: &[Upstream]) -> Value {
    json!({
        "name": "wasp",
        "address": socket_address(options.listen),
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": http_connection_manager(options, filter_json, upstreams),
            }],
        }],
    })
}

/// ESPv2's HCM settings (espv2-behaviour.md 1.3).
fn http_connection_manager(
    options: &BootstrapOptions,
    filter_json: &str,
    upstreams: &[Upstream],
) -> Value {
    let escaped_slashes = if options.disallow_escaped_slashes {
        "UNESCAPE_AND_REDIRECT"
    } else {
        "KEEP_UNCHANGED"
    };
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress_http",
        "codec_type": "AUTO",
        "normalize_path": true,
        "merge_slashes": true,
        "path_with_escaped_slashes_action": escaped_slashes,
        "common_http_protocol_options": { "headers_with_underscores_action": "REJECT_REQUEST" },
        "stream_idle_timeout": "300s",
        "use_remote_address": false,
        "xff_num_trusted_hops": 2,
        // A request id for the access log and the backend's logs; costs one
        // random UUID per request.
        "generate_request_id": true,
        "upgrade_configs": [{ "upgrade_type": "websocket" }],
        "access_log": [{
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": { "text_format_source": { "inline_string": ACCESS_LOG_FORMAT } },
            },
        }],
        "local_reply_config": local_reply_config(),
        "route_config": route_config(upstreams),
        "http_filters": [wasm_filter(options, filter_json), router_filter()],
    })
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

/// One route per filter route id, chosen by the header the filter sets, then
/// the catch-all 404.
fn route_config(upstreams: &[Upstream]) -> Value {
    let mut routes: Vec<Value> = upstreams
        .iter()
        .map(|u| backend_route(u.route, u.backend))
        .collect();
    routes.push(json!({
        "name": "not-defined",
        "match": { "prefix": "/" },
        "direct_response": { "status": 404, "body": { "inline_string": NOT_DEFINED_BODY } },
        "response_headers_to_add": [{
            "header": { "key": "content-type", "value": "application/json" },
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }],
    }));
    json!({
        "name": "wasp",
        "virtual_hosts": [{ "name": "wasp", "domains": ["*"], "routes": routes }],
    })
}

fn backend_route(route: &Route, backend: &Backend) -> Value {
    let mut action = json!({
        "cluster": route.cluster,
        "timeout": ROUTE_TIMEOUT,
        "retry_policy": { "retry_on": "reset,connect-failure,refused-stream", "num_retries": 1 },
    });
    // A remote backend (Cloud Run, a load balancer) routes by Host; a sidecar
    // on loopback keeps the client's.
    if !backend.is_loopback() {
        action["host_rewrite_literal"] = json!(backend.authority());
    }
    json!({
        "name": format!("route-{}", route.id),
        "match": {
            "prefix": "/",
            "headers": [{ "name": ROUTE_HEADER, "string_match": { "exact": route.id } }],
        },
        "route": action,
        "request_headers_to_remove": [ROUTE_HEADER],
    })
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

fn cluster(route: &Route, backend: &Backend, root_certs: &str) -> Value {
    let mut cluster = json!({
        "name": route.cluster,
        "connect_timeout": "20s",
        "load_assignment": {
            "cluster_name": route.cluster,
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
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": backend.host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": { "filename": root_certs },
                        "match_typed_subject_alt_names": [{
                            "san_type": "DNS",
                            "matcher": { "exact": backend.host },
                        }],
                    },
                },
            },
        });
    }
    cluster
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> BootstrapOptions {
        BootstrapOptions {
            listen: "0.0.0.0:8080".parse().unwrap(),
            admin: "127.0.0.1:9901".parse().unwrap(),
            wasm: "/etc/wasp/wasp_filter.wasm".into(),
            disallow_escaped_slashes: false,
            root_certs: "/etc/ssl/certs/ca-certificates.crt".into(),
        }
    }

    fn route(cluster: &str) -> Route {
        Route {
            id: "r0".into(),
            cluster: cluster.into(),
        }
    }

    fn hcm(b: &Value) -> &Value {
        &b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    }

    #[test]
    fn loopback_backend_keeps_host_and_uses_a_static_cluster() {
        let backend = Backend::parse("http://127.0.0.1:8081").unwrap();
        let r = route(&backend.cluster_name());
        let b = bootstrap(
            &options(),
            "{}",
            &[Upstream {
                route: &r,
                backend: &backend,
            }],
        );
        let hcm = hcm(&b);
        assert_eq!(hcm["path_with_escaped_slashes_action"], "KEEP_UNCHANGED");
        let routes = &hcm["route_config"]["virtual_hosts"][0]["routes"];
        assert_eq!(routes[0]["match"]["headers"][0]["name"], ROUTE_HEADER);
        assert_eq!(
            routes[0]["match"]["headers"][0]["string_match"]["exact"],
            "r0"
        );
        assert_eq!(routes[0]["route"]["cluster"], "backend-127.0.0.1_8081");
        assert!(routes[0]["route"].get("host_rewrite_literal").is_none());
        assert_eq!(routes[1]["direct_response"]["status"], 404);
        let cluster = &b["static_resources"]["clusters"][0];
        assert_eq!(cluster["type"], "STATIC");
        assert!(cluster.get("transport_socket").is_none());
        let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
        assert_eq!(wasm["configuration"]["value"], "{}");
        assert_eq!(
            wasm["vm_config"]["code"]["local"]["filename"],
            "/etc/wasp/wasp_filter.wasm"
        );
    }

    #[test]
    fn remote_https_backend_gets_tls_dns_and_host_rewrite() {
        let backend = Backend::parse("https://api.example.com").unwrap();
        let r = route(&backend.cluster_name());
        let mut opts = options();
        opts.disallow_escaped_slashes = true;
        let b = bootstrap(
            &opts,
            "{}",
            &[Upstream {
                route: &r,
                backend: &backend,
            }],
        );
        assert_eq!(
            hcm(&b)["path_with_escaped_slashes_action"],
            "UNESCAPE_AND_REDIRECT"
        );
        let action = &hcm(&b)["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
        assert_eq!(action["host_rewrite_literal"], "api.example.com");
        let cluster = &b["static_resources"]["clusters"][0];
        assert_eq!(cluster["type"], "LOGICAL_DNS");
        assert_eq!(
            cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            443
        );
        assert_eq!(
            cluster["transport_socket"]["typed_config"]["sni"],
            "api.example.com"
        );
    }

    #[test]
    fn only_envoy_generated_local_replies_are_rewritten_to_json() {
        let backend = Backend::parse("http://127.0.0.1:8081").unwrap();
        let r = route(&backend.cluster_name());
        let b = bootstrap(
            &options(),
            "{}",
            &[Upstream {
                route: &r,
                backend: &backend,
            }],
        );
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
            [json!("%LOCAL_REPLY_BODY%"), json!(FILTER_FAILED_MESSAGE)]
        );
    }
}
