//! `--target envoy-gateway`: the gateway as Envoy Gateway (Gateway API) runs it.
//!
//! - an `HTTPRoute` whose rules match the route header the filter sets (`x-wasp-route`),
//!   each with its backend, deadline and Host rewrite, then a catch-all rule answered
//!   by an `HTTPRouteFilter` direct response (the 404); Envoy Gateway enables the wasm
//!   filter per route, so every request first meets a rule of this route;
//! - an `EnvoyExtensionPolicy` loading the module from its image with the filter config
//!   as raw JSON (numbers intact);
//! - an `EnvoyPatchPolicy` adding the clusters the filter calls out to (JWKS, metadata,
//!   IAM, Service Control), under the names the filter config gives them, since Envoy
//!   Gateway has no API for a filter's own clusters;
//! - a `Backend` per backend outside the cluster, the `Gateway`, and wasp-control.

use super::istio::{in_cluster, loopback_in_gateway};
use super::kubernetes::{self, control_objects, header, image_without_tag, CONFIG_ID_ANNOTATION};
use super::names::DeployNames;
use super::{yaml, DeployFlags, Manifest};
use crate::backend::Backend;
use crate::bootstrap::{envoy_cluster, NOT_DEFINED_BODY};
use crate::compile::{CompileOptions, Compiled};
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::Upstream;
use serde_json::{json, Value};
use wasp_config::ROUTE_HEADER;

/// What Envoy Gateway does differently from wasp's bootstrap, said at every compile.
pub const WARNINGS: [&str; 2] = [
    "envoy-gateway: Envoy Gateway sets only fail_open=false on the wasm filter, so a crashed filter VM fails requests until Envoy restarts it; wasp's bootstrap and Istio reload it (FAIL_RELOAD)",
    "envoy-gateway: the EnvoyPatchPolicy needs enableEnvoyPatchPolicy: true in the EnvoyGateway configuration",
];

pub fn render(
    flags: &DeployFlags,
    options: &CompileOptions,
    names: &DeployNames,
    compiled: &Compiled,
) -> Result<(Vec<Manifest>, Vec<String>), Diagnostics> {
    let problems = loopback_in_gateway(&compiled.upstreams, "envoy-gateway");
    if !problems.is_empty() {
        return Err(problems);
    }
    let config = serde_json::to_value(&compiled.config).map_err(|e| {
        vec![Diagnostic::option(
            "--target",
            format!("cannot write the filter config: {e}"),
        )]
    })?;
    let mut warnings: Vec<String> = WARNINGS.iter().map(|w| w.to_string()).collect();
    let (route, dropped_ports) = http_route(flags, names, compiled);
    warnings.extend(dropped_ports.into_iter().map(|authority| {
        format!("envoy-gateway: an HTTPRoute rewrites Host to a name only, so requests to {authority} carry Host without the port")
    }));
    let mut documents = vec![
        gateway(flags, names),
        route,
        not_defined_filter(flags, names),
        extension_policy(flags, names, config),
    ];
    documents.extend(backends(flags, names, compiled));
    documents.extend(patch_policy(flags, options, names, compiled));
    documents.extend(control_objects(flags, names, compiled));
    let mut lines = header(names, "envoy-gateway");
    lines[1] =
        "Apply:     kubectl apply -f envoy-gateway.yaml   (Envoy Gateway 1.4 or later)".into();
    lines.push("Needs enableEnvoyPatchPolicy: true in the EnvoyGateway configuration (the callout clusters).".into());
    Ok((
        vec![Manifest {
            file: "envoy-gateway.yaml",
            text: yaml::documents(&lines, &documents)?,
        }],
        warnings,
    ))
}

fn metadata(name: &str, flags: &DeployFlags, names: &DeployNames) -> Value {
    let mut meta = kubernetes::metadata(name, flags, names);
    meta["annotations"] = json!({ CONFIG_ID_ANNOTATION: names.config_id });
    meta
}

fn gateway(flags: &DeployFlags, names: &DeployNames) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": metadata(&names.name, flags, names),
        "spec": {
            "gatewayClassName": flags.gateway_class,
            "listeners": [{ "name": "http", "protocol": "HTTP", "port": 80 }],
        },
    })
}

/// The route's rules and the authorities whose port a hostname rewrite cannot carry.
fn http_route(
    flags: &DeployFlags,
    names: &DeployNames,
    compiled: &Compiled,
) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    let mut rules: Vec<Value> = Vec::new();
    for route in &compiled.routes {
        let Some(upstream) = compiled.upstreams.iter().find(|u| u.name == route.cluster) else {
            continue;
        };
        let mut filters = vec![json!({
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": { "remove": [ROUTE_HEADER] },
        })];
        if let Some(authority) = &route.host_rewrite {
            let host = &upstream.backend.host;
            if authority != host {
                dropped.push(authority.clone());
            }
            filters.push(json!({ "type": "URLRewrite", "urlRewrite": { "hostname": host } }));
        }
        rules.push(json!({
            "matches": [{
                "path": { "type": "PathPrefix", "value": "/" },
                "headers": [{ "type": "Exact", "name": ROUTE_HEADER, "value": route.id }],
            }],
            "filters": filters,
            "backendRefs": [backend_ref(names, &upstream.backend)],
            // The deadline; overrun is Envoy's 504, as in wasp's bootstrap.
            "timeouts": { "request": format!("{}ms", route.timeout_ms) },
        }));
    }
    // Every request starts on this route (the filter runs only on its rules), then the
    // filter's route header moves it to its backend's rule.
    rules.push(json!({
        "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
        "filters": [{ "type": "ExtensionRef", "extensionRef": {
            "group": "gateway.envoyproxy.io", "kind": "HTTPRouteFilter", "name": not_defined_name(names),
        }}],
    }));
    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata(&names.name, flags, names),
        "spec": { "parentRefs": [{ "name": names.name }], "rules": rules },
    });
    (route, dropped)
}

/// A Kubernetes Service by name and namespace, anything else an Envoy Gateway Backend.
fn backend_ref(names: &DeployNames, backend: &Backend) -> Value {
    if in_cluster(&backend.host) {
        let mut labels = backend.host.split('.');
        let (service, namespace) = (labels.next(), labels.next());
        return json!({ "kind": "Service", "name": service, "namespace": namespace, "port": backend.port });
    }
    json!({
        "group": "gateway.envoyproxy.io",
        "kind": "Backend",
        "name": backend_name(names, backend),
        "port": backend.port,
    })
}

fn backend_name(names: &DeployNames, backend: &Backend) -> String {
    let folded: String = backend
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = format!(
        "{}-{}-{}",
        names.name,
        folded.trim_matches('-'),
        backend.port
    );
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

fn backends(flags: &DeployFlags, names: &DeployNames, compiled: &Compiled) -> Vec<Value> {
    let mut seen: Vec<String> = Vec::new();
    let mut documents = Vec::new();
    for route in &compiled.routes {
        let Some(upstream) = compiled.upstreams.iter().find(|u| u.name == route.cluster) else {
            continue;
        };
        let backend = &upstream.backend;
        let name = backend_name(names, backend);
        if in_cluster(&backend.host) || seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let endpoint = match backend.ip {
            Some(ip) => json!({ "ip": { "address": ip.to_string(), "port": backend.port } }),
            None => json!({ "fqdn": { "hostname": backend.host, "port": backend.port } }),
        };
        let mut spec = json!({ "endpoints": [endpoint] });
        if backend.http2 {
            spec["appProtocols"] = json!(["gateway.envoyproxy.io/h2c"]);
        }
        if backend.tls {
            spec["tls"] = json!({ "wellKnownCACertificates": "System", "sni": backend.host });
        }
        documents.push(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "Backend",
            "metadata": metadata(&name, flags, names),
            "spec": spec,
        }));
    }
    documents
}

fn not_defined_name(names: &DeployNames) -> String {
    format!("{}-not-defined", names.name)
}

fn not_defined_filter(flags: &DeployFlags, names: &DeployNames) -> Value {
    json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "HTTPRouteFilter",
        "metadata": metadata(&not_defined_name(names), flags, names),
        "spec": { "directResponse": {
            "statusCode": 404,
            "contentType": "application/json",
            "body": { "type": "Inline", "inline": NOT_DEFINED_BODY },
        }},
    })
}

fn extension_policy(flags: &DeployFlags, names: &DeployNames, config: Value) -> Value {
    let mut image = json!({ "url": flags.filter_image });
    if let Some(digest) = &flags.filter_image_digest {
        image["url"] = json!(format!(
            "{}@{digest}",
            image_without_tag(&flags.filter_image)
        ));
        image["sha256"] = json!(digest.trim_start_matches("sha256:"));
    }
    json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyExtensionPolicy",
        "metadata": metadata(&format!("{}-wasp", names.name), flags, names),
        "spec": {
            "targetRefs": [{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": names.name }],
            "wasm": [{
                "name": "wasp",
                "rootID": "wasp",
                "code": { "type": "Image", "image": image, "pullPolicy": "IfNotPresent" },
                "config": config,
                "failOpen": false,
            }],
        },
    })
}

/// The filter's callout clusters, as wasp's bootstrap renders them.
fn patch_policy(
    flags: &DeployFlags,
    options: &CompileOptions,
    names: &DeployNames,
    compiled: &Compiled,
) -> Option<Value> {
    let callouts: Vec<&Upstream> = compiled
        .upstreams
        .iter()
        .filter(|u| u.role.is_callout())
        .collect();
    if callouts.is_empty() {
        return None;
    }
    let patches: Vec<Value> = callouts
        .iter()
        .map(|upstream| {
            json!({
                "type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                "name": upstream.name,
                "operation": { "op": "add", "path": "", "value": envoy_cluster(upstream, &options.bootstrap) },
            })
        })
        .collect();
    Some(json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyPatchPolicy",
        "metadata": metadata(&format!("{}-callouts", names.name), flags, names),
        "spec": {
            "targetRef": { "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": names.name },
            "type": "JSONPatch",
            "jsonPatches": patches,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> DeployNames {
        DeployNames {
            name: "shop".into(),
            config_id: "0123456789abcdef".into(),
            control: None,
        }
    }

    #[test]
    fn cluster_services_are_service_refs_and_others_backends() {
        let service = Backend::parse("http://api.apps.svc.cluster.local:8080").unwrap();
        assert_eq!(
            backend_ref(&names(), &service),
            json!({ "kind": "Service", "name": "api", "namespace": "apps", "port": 8080 })
        );
        let remote = Backend::parse("https://Items.Example.com").unwrap();
        let reference = backend_ref(&names(), &remote);
        assert_eq!(reference["kind"], "Backend");
        assert_eq!(reference["name"], "shop-items-example-com-443");
    }

    #[test]
    fn backend_names_stay_kubernetes_names() {
        let long = Backend::parse(&format!("http://{}.example.com:9", "a".repeat(80))).unwrap();
        let name = backend_name(&names(), &long);
        assert!(name.len() <= 63 && !name.ends_with('-'), "{name}");
    }
}
