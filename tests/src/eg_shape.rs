//! An Envoy laid out the way Envoy Gateway lays out a Gateway's proxy, built from the
//! manifests `wasp compile --target envoy-gateway` writes (no Envoy Gateway runs here):
//! - the EnvoyExtensionPolicy's wasm entry becomes a wasm filter that is `disabled` in
//!   the listener and enabled per route on the HTTPRoute's rules, with `fail_open` as
//!   the policy says (Envoy Gateway sets no failure policy) and the `config` as JSON;
//! - each HTTPRoute rule becomes a route with its header match, timeout, Host rewrite
//!   and header removal, forwarding to cluster `httproute/<ns>/<route>/rule/<i>`, whose
//!   endpoint is the rule's Backend (or Service); an ExtensionRef to an HTTPRouteFilter
//!   becomes its direct response;
//! - the EnvoyPatchPolicy's added clusters are added as they are, their host names
//!   resolved through the test's map (standing in for DNS).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::manifests::{documents, envoy_duration, one, one_endpoint_cluster, resolve};

const WASM_FILTER: &str = "envoy.filters.http.wasm/envoyextensionpolicy/wasp";

pub fn bootstrap(eg_yaml: &str, module: &Path, addresses: &BTreeMap<String, String>) -> Value {
    let docs = documents(eg_yaml);
    let resolve = |host: &str| resolve(addresses, host);
    let route = one(&docs, "HTTPRoute");
    let (namespace, route_name) = (
        route["metadata"]["namespace"]
            .as_str()
            .expect("a namespace"),
        route["metadata"]["name"].as_str().expect("a name"),
    );
    let mut clusters = Vec::new();
    let mut routes = Vec::new();
    let enable = json!({ WASM_FILTER: { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "config": {} } });
    for (i, rule) in route["spec"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .enumerate()
    {
        let matched = &rule["matches"][0];
        let mut envoy_match = json!({ "prefix": matched["path"]["value"] });
        if let Some(headers) = matched["headers"].as_array() {
            envoy_match["headers"] = headers
                .iter()
                .map(|h| json!({ "name": h["name"], "string_match": { "exact": h["value"] } }))
                .collect();
        }
        let filters = rule["filters"].as_array().cloned().unwrap_or_default();
        if let Some(reference) = filters.iter().find(|f| f["type"] == "ExtensionRef") {
            let name = &reference["extensionRef"]["name"];
            let filter = docs
                .iter()
                .find(|d| d["kind"] == "HTTPRouteFilter" && d["metadata"]["name"] == *name)
                .expect("the referenced HTTPRouteFilter");
            let direct = &filter["spec"]["directResponse"];
            routes.push(json!({
                "match": envoy_match,
                "direct_response": { "status": direct["statusCode"], "body": { "inline_string": direct["body"]["inline"] } },
                "response_headers_to_add": [{ "header": { "key": "content-type", "value": direct["contentType"] }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" }],
                "typed_per_filter_config": enable,
            }));
            continue;
        }
        let cluster = format!("httproute/{namespace}/{route_name}/rule/{i}");
        let reference = &rule["backendRefs"][0];
        let port = reference["port"].as_u64().expect("a backend port");
        let address = match reference["kind"].as_str() {
            Some("Backend") => {
                let backend = docs
                    .iter()
                    .find(|d| d["kind"] == "Backend" && d["metadata"]["name"] == reference["name"])
                    .expect("the referenced Backend");
                let endpoint = &backend["spec"]["endpoints"][0];
                match endpoint.get("ip") {
                    Some(ip) => ip["address"].as_str().expect("an IP").to_string(),
                    None => resolve(endpoint["fqdn"]["hostname"].as_str().expect("a hostname")),
                }
            }
            _ => resolve(&format!(
                "{}.{}.svc.cluster.local",
                reference["name"].as_str().expect("a Service"),
                reference["namespace"].as_str().unwrap_or(namespace)
            )),
        };
        clusters.push(one_endpoint_cluster(&cluster, &address, port));
        let mut action = json!({ "cluster": cluster, "timeout": envoy_duration(rule["timeouts"]["request"].as_str().unwrap_or("15s")) });
        let mut remove = Vec::new();
        for filter in &filters {
            match filter["type"].as_str() {
                Some("URLRewrite") => {
                    action["host_rewrite_literal"] = filter["urlRewrite"]["hostname"].clone()
                }
                Some("RequestHeaderModifier") => remove.extend(
                    filter["requestHeaderModifier"]["remove"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                ),
                other => panic!("HTTPRoute filter {other:?} is not simulated"),
            }
        }
        routes.push(json!({
            "match": envoy_match,
            "route": action,
            "request_headers_to_remove": remove,
            "typed_per_filter_config": enable,
        }));
    }
    if let Some(patches) = docs.iter().find(|d| d["kind"] == "EnvoyPatchPolicy") {
        for patch in patches["spec"]["jsonPatches"]
            .as_array()
            .expect("jsonPatches")
        {
            assert_eq!(
                patch["type"],
                "type.googleapis.com/envoy.config.cluster.v3.Cluster"
            );
            assert_eq!(
                (&patch["operation"]["op"], &patch["operation"]["path"]),
                (&json!("add"), &json!(""))
            );
            let mut cluster = patch["operation"]["value"].clone();
            for endpoint in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
                .as_array_mut()
                .expect("endpoints")
            {
                let address = &mut endpoint["endpoint"]["address"]["socket_address"]["address"];
                let host = address.as_str().expect("an address").to_string();
                if host.parse::<std::net::IpAddr>().is_err() {
                    *address = json!(resolve(&host));
                }
            }
            clusters.push(cluster);
        }
    }
    let wasm = &one(&docs, "EnvoyExtensionPolicy")["spec"]["wasm"][0];
    json!({
        "node": { "id": "envoy-gateway-proxy", "cluster": "envoy-gateway-proxy" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": {
            "listeners": [{
                "name": format!("{namespace}/{route_name}/http"),
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                "filter_chains": [{ "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "http-80",
                        "route_config": { "name": format!("{namespace}/{route_name}/http"), "virtual_hosts": [{ "name": "*", "domains": ["*"], "routes": routes }] },
                        "http_filters": [wasm_filter(wasm, module), {
                            "name": "envoy.filters.http.router",
                            "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                        }],
                    },
                }]}],
            }],
            "clusters": clusters,
        },
    })
}

/// As Envoy Gateway translates a wasm entry: vm_id = name, only `fail_open` set, the
/// config as the raw JSON text, disabled until a route enables it.
fn wasm_filter(wasm: &Value, module: &Path) -> Value {
    let name = wasm["name"].as_str().expect("a wasm name");
    json!({
        "name": WASM_FILTER,
        "disabled": true,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": wasm["rootID"],
                "fail_open": wasm["failOpen"].as_bool().unwrap_or(false),
                "configuration": { "@type": "type.googleapis.com/google.protobuf.StringValue", "value": wasm["config"].to_string() },
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": module.display().to_string() } },
                },
            },
        },
    })
}
