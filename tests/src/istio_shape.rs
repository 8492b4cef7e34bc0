//! An Envoy laid out the way Istio lays out an ingress gateway, built from the
//! manifests `wasp compile --target istio` writes (no Istio runs here):
//! - the WasmPlugin becomes the first HTTP filter, its `pluginConfig` handed over as
//!   JSON in which every number is a double (stricter than Istio's own protojson, which
//!   prints whole doubles without a fraction);
//! - each ServiceEntry port becomes cluster `outbound|PORT||HOST`, and so does each
//!   Kubernetes Service the test declares; names resolve through the test's map
//!   (standing in for cluster DNS), so a callout to a host no ServiceEntry or Service
//!   covers finds no cluster, as under Istio;
//! - the VirtualService's `http` rules become the routes, in order: header matches,
//!   destination clusters, timeouts, retries, authority rewrites, header removal and
//!   the direct 404.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::manifests::{documents, envoy_duration, one, one_endpoint_cluster, resolve};

/// What a protobuf Struct does to a JSON document's numbers.
pub fn numbers_as_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().expect("a number")),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_doubles).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), numbers_as_doubles(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The bootstrap. `addresses` maps every host name to the `ip` it resolves to;
/// `kubernetes_services` lists the in-mesh `host:port`s Istio makes clusters for.
pub fn bootstrap(
    istio_yaml: &str,
    module: &Path,
    addresses: &BTreeMap<String, String>,
    kubernetes_services: &[(&str, u16)],
) -> Value {
    let docs = documents(istio_yaml);
    let plugin = &one(&docs, "WasmPlugin")["spec"];
    assert_eq!(
        plugin["phase"], "AUTHN",
        "the plugin must run before Istio's authn"
    );
    let config = numbers_as_doubles(&plugin["pluginConfig"]).to_string();
    let resolve = |host: &str| resolve(addresses, host);
    let mut clusters = BTreeMap::new();
    for entry in docs.iter().filter(|d| d["kind"] == "ServiceEntry") {
        let spec = &entry["spec"];
        for host in spec["hosts"].as_array().expect("hosts") {
            let host = host.as_str().expect("a host");
            for port in spec["ports"].as_array().expect("ports") {
                let number = port["number"].as_u64().expect("a port number");
                let address = match spec["resolution"].as_str() {
                    Some("STATIC") => spec["endpoints"][0]["address"]
                        .as_str()
                        .expect("a STATIC endpoint")
                        .to_string(),
                    _ => resolve(host),
                };
                let name = format!("outbound|{number}||{host}");
                assert!(
                    !tls_port(&docs, host, number),
                    "TLS origination is not simulated here"
                );
                clusters.insert(name.clone(), one_endpoint_cluster(&name, &address, number));
            }
        }
    }
    for (host, port) in kubernetes_services {
        let name = format!("outbound|{port}||{host}");
        clusters.insert(
            name.clone(),
            one_endpoint_cluster(&name, &resolve(host), u64::from(*port)),
        );
    }
    let service = &one(&docs, "VirtualService")["spec"];
    let routes: Vec<Value> = service["http"]
        .as_array()
        .expect("http routes")
        .iter()
        .map(route)
        .collect();
    json!({
        "node": { "id": "router~10.0.0.1~istio-ingressgateway.istio-system~cluster.local", "cluster": "istio-ingressgateway" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": [{
                "name": "0.0.0.0_8080",
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                "filter_chains": [{ "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "outbound_0.0.0.0_8080",
                        // Istio's gateways trust the connection's peer.
                        "use_remote_address": true,
                        "route_config": { "name": "http.8080", "virtual_hosts": [{ "name": "*:80", "domains": ["*"], "routes": routes }] },
                        "http_filters": [wasm_filter(plugin, &config, module), {
                            "name": "envoy.filters.http.router",
                            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                        }],
                    },
                }]}],
            }],
            "clusters": clusters.into_values().collect::<Vec<_>>(),
        },
    })
}

fn tls_port(docs: &[Value], host: &str, port: u64) -> bool {
    docs.iter()
        .filter(|d| d["kind"] == "DestinationRule" && d["spec"]["host"] == host)
        .flat_map(|d| {
            d["spec"]["trafficPolicy"]["portLevelSettings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .any(|setting| setting["port"]["number"].as_u64() == Some(port))
}

/// Istio's `failStrategy` and the module file the istio-agent fetched.
fn wasm_filter(plugin: &Value, config: &str, module: &Path) -> Value {
    let failure_policy = match plugin["failStrategy"].as_str() {
        Some("FAIL_RELOAD") => "FAIL_RELOAD",
        Some("FAIL_OPEN") => "FAIL_OPEN",
        _ => "FAIL_CLOSED",
    };
    let name = plugin["pluginName"].as_str().expect("pluginName");
    json!({
        "name": "istio.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": failure_policy,
                "configuration": { "@type": "type.googleapis.com/google.protobuf.StringValue", "value": config },
                "vm_config": {
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": module.display().to_string() } },
                },
            },
        },
    })
}

/// One VirtualService `http` rule as Istio translates it.
fn route(rule: &Value) -> Value {
    let mut matched = json!({ "prefix": "/" });
    if let Some(headers) = rule["match"][0]["headers"].as_object() {
        matched["headers"] = headers
            .iter()
            .map(|(name, m)| json!({ "name": name, "string_match": { "exact": m["exact"] } }))
            .collect();
    }
    if let Some(direct) = rule.get("directResponse") {
        let set = rule["headers"]["response"]["set"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        return json!({
            "match": matched,
            "direct_response": { "status": direct["status"], "body": { "inline_string": direct["body"]["string"] } },
            "response_headers_to_add": set.iter().map(|(k, v)| json!({ "header": { "key": k, "value": v }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" })).collect::<Vec<_>>(),
        });
    }
    let destination = &rule["route"][0]["destination"];
    let cluster = format!(
        "outbound|{}||{}",
        destination["port"]["number"],
        destination["host"].as_str().expect("a destination host")
    );
    let mut action = json!({
        "cluster": cluster,
        "timeout": envoy_duration(rule["timeout"].as_str().unwrap_or("0s")),
    });
    if let Some(retries) = rule.get("retries") {
        action["retry_policy"] =
            json!({ "retry_on": retries["retryOn"], "num_retries": retries["attempts"] });
    }
    if let Some(authority) = rule["rewrite"]["authority"].as_str() {
        action["host_rewrite_literal"] = json!(authority);
    }
    json!({
        "match": matched,
        "route": action,
        "request_headers_to_remove": rule["headers"]["request"]["remove"].clone(),
    })
}
