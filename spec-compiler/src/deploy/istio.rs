//! `--target istio`: the gateway as an Istio ingress gateway runs it.
//!
//! - a `WasmPlugin` loads the module from its OCI image in phase AUTHN with the filter
//!   config as `pluginConfig` (a protobuf Struct: the filter reads whole doubles back
//!   as integers);
//! - a `ServiceEntry` per origin outside the mesh (backends, JWKS, metadata, IAM,
//!   Service Control) and a `DestinationRule` originating TLS where it is https, so
//!   Istio makes the clusters the filter names, `outbound|PORT||HOST`;
//! - a `Gateway` and a `VirtualService` whose routes match the route header the filter
//!   sets (`x-wasp-route`), carrying each route's backend, deadline and Host rewrite,
//!   then the 404 for paths no operation has.

use super::kubernetes::{config_metadata, control_objects, header, image_without_tag};
use super::names::{fold_label, DeployNames};
use super::{yaml, DeployFlags, Manifest};
use crate::backend::Backend;
use crate::bootstrap::{duration, NOT_DEFINED_BODY};
use crate::compile::Compiled;
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::{Upstream, UpstreamRole};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use wasp_config::ROUTE_HEADER;

/// Hosts Kubernetes serves, named in full as Istio and Envoy Gateway name them.
pub fn in_cluster(host: &str) -> bool {
    host.ends_with(".svc.cluster.local")
}

pub fn check_selector(selector: &str) -> Result<(String, String), String> {
    match selector.split_once('=') {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{selector:?} is not key=value; write it like istio=ingressgateway"
        )),
    }
}

pub fn render(
    flags: &DeployFlags,
    names: &DeployNames,
    compiled: &Compiled,
) -> Result<Vec<Manifest>, Diagnostics> {
    let problems = unreachable_upstreams(&compiled.upstreams);
    if !problems.is_empty() {
        return Err(problems);
    }
    let (key, value) = check_selector(&flags.istio_selector)
        .map_err(|e| vec![Diagnostic::option("--istio-selector", e)])?;
    let selector = json!({ key: value });
    let plugin_config = serde_json::to_value(&compiled.config).map_err(|e| {
        vec![Diagnostic::option(
            "--target",
            format!("cannot write pluginConfig: {e}"),
        )]
    })?;
    let mut documents = vec![
        wasm_plugin(flags, names, &selector, plugin_config),
        gateway(flags, names, &selector),
        virtual_service(flags, names, compiled),
    ];
    documents.extend(service_entries(flags, names, &compiled.upstreams));
    documents.extend(control_objects(flags, names, compiled));
    let mut lines = header(names, "istio");
    lines[1] = "Apply:     kubectl apply -f istio.yaml   (Istio 1.24 or later)".into();
    if flags.filter_image_digest.is_none() {
        lines.push(
            "The module is not pinned: pass --filter-image-digest (printed by `make images`)."
                .into(),
        );
    }
    Ok(vec![Manifest {
        file: "istio.yaml",
        text: yaml::documents(&lines, &documents)?,
    }])
}

fn wasm_plugin(flags: &DeployFlags, names: &DeployNames, selector: &Value, config: Value) -> Value {
    let mut spec = json!({
        "selector": { "matchLabels": selector },
        "url": format!("oci://{}", flags.filter_image),
        "imagePullPolicy": "IfNotPresent",
        // Before Istio's own authentication, so a denied request costs nothing more.
        "phase": "AUTHN",
        "priority": 100,
        // A crashed VM is replaced and requests meanwhile get 503, as wasp's bootstrap does.
        "failStrategy": "FAIL_RELOAD",
        "pluginName": "wasp",
        "type": "HTTP",
        "pluginConfig": config,
    });
    if let Some(digest) = &flags.filter_image_digest {
        spec["url"] = json!(format!(
            "oci://{}@{digest}",
            image_without_tag(&flags.filter_image)
        ));
        spec["sha256"] = json!(digest.trim_start_matches("sha256:"));
    }
    // A WasmPlugin selects workloads in its own namespace only: the gateway's.
    let mut meta = config_metadata(&format!("{}-wasp", names.name), flags, names);
    meta["namespace"] = json!(flags.istio_gateway_namespace);
    json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": meta,
        "spec": spec,
    })
}

fn gateway(flags: &DeployFlags, names: &DeployNames, selector: &Value) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": config_metadata(&names.name, flags, names),
        "spec": {
            "selector": selector,
            "servers": [{ "port": { "number": 80, "name": "http", "protocol": "HTTP" }, "hosts": ["*"] }],
        },
    })
}

fn virtual_service(flags: &DeployFlags, names: &DeployNames, compiled: &Compiled) -> Value {
    let mut http: Vec<Value> = compiled
        .routes
        .iter()
        .filter_map(|route| {
            let upstream = compiled.upstream_of(route)?;
            let mut rule = json!({
                "name": route.id,
                "match": [{ "headers": { ROUTE_HEADER: { "exact": route.id } } }],
                "route": [{ "destination": {
                    "host": upstream.backend.host,
                    "port": { "number": upstream.backend.port },
                }}],
                // The deadline; overrun is Envoy's 504, as in wasp's bootstrap.
                "timeout": duration(route.timeout_ms),
                "retries": { "attempts": 1, "retryOn": "reset,connect-failure,refused-stream" },
                "headers": { "request": { "remove": [ROUTE_HEADER] } },
            });
            if let Some(host) = &route.host_rewrite {
                rule["rewrite"] = json!({ "authority": host });
            }
            Some(rule)
        })
        .collect();
    http.push(json!({
        "name": "not-defined",
        "directResponse": { "status": 404, "body": { "string": NOT_DEFINED_BODY } },
        "headers": { "response": { "set": { "content-type": "application/json" } } },
    }));
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": config_metadata(&names.name, flags, names),
        "spec": { "hosts": ["*"], "gateways": [names.name], "http": http },
    })
}

/// One ServiceEntry per host outside the mesh, and a DestinationRule for its TLS ports.
fn service_entries(flags: &DeployFlags, names: &DeployNames, upstreams: &[Upstream]) -> Vec<Value> {
    let mut by_host: BTreeMap<&str, Vec<&Backend>> = BTreeMap::new();
    for upstream in upstreams.iter().filter(|u| !in_cluster(&u.backend.host)) {
        let ports = by_host.entry(upstream.backend.host.as_str()).or_default();
        if !ports.iter().any(|b| b.port == upstream.backend.port) {
            ports.push(&upstream.backend);
        }
    }
    let mut documents = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for (host, backends) in by_host {
        let object = unique_name(
            &format!("{}-{}", names.name, fold_label(host, 40)),
            &mut taken,
        );
        let ports: Vec<Value> = backends
            .iter()
            .map(|b| {
                let protocol = if b.http2 { "HTTP2" } else { "HTTP" };
                json!({ "number": b.port, "name": format!("http-{}", b.port), "protocol": protocol })
            })
            .collect();
        let mut spec = json!({
            "hosts": [host],
            "location": "MESH_EXTERNAL",
            "ports": ports,
            "resolution": "DNS",
        });
        if let Some(ip) = backends.first().and_then(|b| b.ip) {
            spec["resolution"] = json!("STATIC");
            spec["endpoints"] = json!([{ "address": ip.to_string() }]);
        }
        documents.push(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": config_metadata(&object, flags, names),
            "spec": spec,
        }));
        let tls: Vec<Value> = backends
            .iter()
            .filter(|b| b.tls)
            .map(|b| json!({ "port": { "number": b.port }, "tls": { "mode": "SIMPLE", "sni": host } }))
            .collect();
        if !tls.is_empty() {
            documents.push(json!({
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": config_metadata(&object, flags, names),
                "spec": { "host": host, "trafficPolicy": { "portLevelSettings": tls } },
            }));
        }
    }
    documents
}

/// `base`, or `base-2`, `base-3`, ... when already taken (names are cut to fit labels).
pub fn unique_name(base: &str, taken: &mut Vec<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// What a gateway pod cannot reach as written: loopback (the gateway itself), a short
/// name (resolved in the gateway's namespace, and named in full by the control plane),
/// https to an in-cluster Service (no TLS is originated for it here).
pub fn unreachable_from_gateway(upstreams: &[Upstream], target: &str) -> Diagnostics {
    let mut problems = Diagnostics::new();
    for upstream in upstreams {
        let b = &upstream.backend;
        let problem = if b.is_loopback() {
            format!("{} is loopback, which in the gateway pod is the gateway itself; under --target {target} use the service's name (a Kubernetes Service as <name>.<namespace>.svc.cluster.local, or an external host)", b.authority())
        } else if b.ip.is_none() && !b.host.contains('.') {
            format!("{} is a short name; under --target {target} name a Kubernetes Service in full, like {}.<namespace>.svc.cluster.local", b.authority(), b.host)
        } else if b.tls && in_cluster(&b.host) {
            format!("https://{} is an in-cluster Service, for which --target {target} originates no TLS; use http:// (the mesh or the cluster network carries it) or an external name", b.authority())
        } else {
            continue;
        };
        problems.push(Diagnostic::option(role_option(upstream.role), problem));
    }
    problems
}

/// Loopback addresses, and one host:port with both http and https (Istio has one
/// cluster per host and port).
fn unreachable_upstreams(upstreams: &[Upstream]) -> Diagnostics {
    let mut problems = unreachable_from_gateway(upstreams, "istio");
    let mut seen: HashMap<String, bool> = HashMap::new();
    for upstream in upstreams {
        let b = &upstream.backend;
        let key = format!("{}:{}", b.host, b.port);
        match seen.get(&key) {
            Some(tls) if *tls != b.tls => problems.push(Diagnostic::option(
                role_option(upstream.role),
                format!("{key} is reached both with http and https; Istio has one cluster per host and port, so use one scheme"),
            )),
            _ => {
                seen.insert(key, b.tls);
            }
        }
    }
    problems
}

fn role_option(role: UpstreamRole) -> &'static str {
    match role {
        UpstreamRole::Backend => "--backend / x-google-backend",
        UpstreamRole::Jwks => "x-google-jwks_uri",
        UpstreamRole::Metadata => "--metadata-url",
        UpstreamRole::Iam => "--iam-url",
        UpstreamRole::ServiceControl => "--service-control-url",
        UpstreamRole::Tracing => "--tracing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_named_as_istio_names_them() {
        assert!(
            in_cluster("wasp-control.apps.svc.cluster.local") && !in_cluster("idp.example.com")
        );
        assert_eq!(fold_label("www.googleapis.com", 40), "www-googleapis-com");
    }

    #[test]
    fn loopback_and_mixed_schemes_are_refused() {
        let up = |url: &str, role| Upstream::new("x", &Backend::parse(url).unwrap(), role);
        let problems = unreachable_upstreams(&[
            up("http://127.0.0.1:8081", UpstreamRole::Backend),
            up("http://idp.test:9000", UpstreamRole::Jwks),
            up("https://idp.test:9000", UpstreamRole::Jwks),
            up("http://wasp-control:8790", UpstreamRole::ServiceControl),
            up("https://api.apps.svc.cluster.local", UpstreamRole::Backend),
        ]);
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].contains("loopback"), "{text:?}");
        assert!(
            text[1].contains("wasp-control:8790 is a short name"),
            "{text:?}"
        );
        assert!(text[2].contains("originates no TLS"), "{text:?}");
        assert!(text[3].contains("both with http and https"), "{text:?}");
        let mut taken = Vec::new();
        assert_eq!(unique_name("a", &mut taken), "a");
        assert_eq!(unique_name("a", &mut taken), "a-2");
    }

    #[test]
    fn selectors_are_key_value() {
        assert_eq!(
            check_selector("istio=ingressgateway").unwrap(),
            ("istio".into(), "ingressgateway".into())
        );
        assert!(check_selector("istio").is_err());
    }
}
