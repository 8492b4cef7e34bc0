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

use super::istio::{in_cluster, unique_name, unreachable_from_gateway};
use super::kubernetes::{config_metadata, control_objects, header, image_without_tag};
use super::names::{fold_label, DeployNames};
use super::{yaml, DeployFlags, Manifest};
use crate::backend::Backend;
use crate::bootstrap::{envoy_cluster, NOT_DEFINED_BODY};
use crate::compile::{CompileOptions, Compiled};
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::Upstream;
use serde_json::{json, Value};
use wasp_config::ROUTE_HEADER;

/// What Envoy Gateway does differently from wasp's bootstrap, said at every compile.
/// Gateway API: at most 16 rules per HTTPRoute.
const MAX_RULES: usize = 16;

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
    let mut problems = unreachable_from_gateway(&compiled.upstreams, "envoy-gateway");
    // The rules of one HTTPRoute, the catch-all included (Gateway API's limit).
    if compiled.routes.len() >= MAX_RULES {
        problems.push(Diagnostic::option(
            "--target",
            format!(
                "envoy-gateway: this config needs {} routes (one per backend, deadline and Host), but an HTTPRoute holds at most {MAX_RULES} rules with the catch-all; use fewer distinct x-google-backend deadlines or addresses, or --target envoy",
                compiled.routes.len()
            ),
        ));
    }
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
    let external = external_backends(names, compiled);
    let (route, dropped_ports) = http_route(flags, names, compiled, &external);
    warnings.extend(dropped_ports.into_iter().map(|authority| {
        format!("envoy-gateway: an HTTPRoute rewrites Host to a name only, so requests to {authority} carry Host without the port")
    }));
    let backend_objects = backend_objects(flags, names, &external);
    if !backend_objects.is_empty() {
        warnings.push("envoy-gateway: the Backend objects need extensionApis.enableBackend: true in the EnvoyGateway configuration".into());
    }
    let mut documents = vec![
        gateway(flags, names),
        route,
        not_defined_filter(flags, names),
        extension_policy(flags, names, config),
    ];
    documents.extend(backend_objects);
    documents.extend(patch_policy(flags, options, names, compiled));
    documents.extend(control_objects(flags, names, compiled));
    let mut lines = header(names, "envoy-gateway");
    lines[1] =
        "Apply:     kubectl apply -f envoy-gateway.yaml   (Envoy Gateway 1.4 or later)".into();
    lines.push("Needs enableEnvoyPatchPolicy: true (the callout clusters) and extensionApis.enableBackend: true".into());
    lines.push("(external backends) in the EnvoyGateway configuration.".into());
    Ok((
        vec![Manifest {
            file: "envoy-gateway.yaml",
            text: yaml::documents(&lines, &documents)?,
        }],
        warnings,
    ))
}

fn gateway(flags: &DeployFlags, names: &DeployNames) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": config_metadata(&names.name, flags, names),
        "spec": {
            "gatewayClassName": flags.gateway_class,
            "listeners": [{ "name": "http", "protocol": "HTTP", "port": 80 }],
        },
    })
}

/// Gateway API's duration (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`): `1h2m3s400ms`.
fn gateway_api_duration(ms: u64) -> String {
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    let mut text = String::new();
    for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    if text.is_empty() {
        "0s".into()
    } else {
        text
    }
}

/// The route's rules and the authorities whose port a hostname rewrite cannot carry.
fn http_route(
    flags: &DeployFlags,
    names: &DeployNames,
    compiled: &Compiled,
    external: &[ExternalBackend],
) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    let mut rules: Vec<Value> = Vec::new();
    for route in &compiled.routes {
        let Some(upstream) = compiled.upstream_of(route) else {
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
            "backendRefs": [backend_ref(external, &upstream.backend)],
            // The deadline; overrun is Envoy's 504, as in wasp's bootstrap.
            "timeouts": { "request": gateway_api_duration(route.timeout_ms) },
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
        "metadata": config_metadata(&names.name, flags, names),
        "spec": { "parentRefs": [{ "name": names.name }], "rules": rules },
    });
    (route, dropped)
}

/// A backend outside the cluster and the name of its Backend object.
struct ExternalBackend<'a> {
    backend: &'a Backend,
    name: String,
}

/// Each external (host, port) the routes forward to, named once (names are cut to fit a
/// label, so two long hosts get distinct suffixes).
fn external_backends<'a>(names: &DeployNames, compiled: &'a Compiled) -> Vec<ExternalBackend<'a>> {
    let mut taken = Vec::new();
    let mut external: Vec<ExternalBackend> = Vec::new();
    for route in &compiled.routes {
        let Some(upstream) = compiled.upstream_of(route) else {
            continue;
        };
        let b = &upstream.backend;
        let seen = external
            .iter()
            .any(|e| e.backend.host == b.host && e.backend.port == b.port);
        if in_cluster(&b.host) || seen {
            continue;
        }
        external.push(ExternalBackend {
            backend: b,
            name: unique_name(&backend_name(names, b), &mut taken),
        });
    }
    external
}

/// A Kubernetes Service by name and namespace, anything else its Envoy Gateway Backend.
fn backend_ref(external: &[ExternalBackend], backend: &Backend) -> Value {
    if in_cluster(&backend.host) {
        let mut labels = backend.host.split('.');
        let (service, namespace) = (labels.next(), labels.next());
        return json!({ "kind": "Service", "name": service, "namespace": namespace, "port": backend.port });
    }
    let name = external
        .iter()
        .find(|e| e.backend.host == backend.host && e.backend.port == backend.port)
        .map(|e| e.name.as_str());
    json!({
        "group": "gateway.envoyproxy.io",
        "kind": "Backend",
        "name": name,
        "port": backend.port,
    })
}

fn backend_name(names: &DeployNames, backend: &Backend) -> String {
    let name = format!("{}-{}-{}", names.name, backend.host, backend.port);
    // Room for unique_name's `-N`.
    fold_label(&name, 58)
}

fn backend_objects(
    flags: &DeployFlags,
    names: &DeployNames,
    external: &[ExternalBackend],
) -> Vec<Value> {
    external
        .iter()
        .map(|ExternalBackend { backend, name }| {
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
            json!({
                "apiVersion": "gateway.envoyproxy.io/v1alpha1",
                "kind": "Backend",
                "metadata": config_metadata(name, flags, names),
                "spec": spec,
            })
        })
        .collect()
}

fn not_defined_name(names: &DeployNames) -> String {
    format!("{}-not-defined", names.name)
}

fn not_defined_filter(flags: &DeployFlags, names: &DeployNames) -> Value {
    json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "HTTPRouteFilter",
        "metadata": config_metadata(&not_defined_name(names), flags, names),
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
        "metadata": config_metadata(&format!("{}-wasp", names.name), flags, names),
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
        "metadata": config_metadata(&format!("{}-callouts", names.name), flags, names),
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
            backend_ref(&[], &service),
            json!({ "kind": "Service", "name": "api", "namespace": "apps", "port": 8080 })
        );
        let remote = Backend::parse("https://Items.Example.com").unwrap();
        let external = vec![ExternalBackend {
            backend: &remote,
            name: "shop-items-example-com-443".to_string(),
        }];
        let reference = backend_ref(&external, &remote);
        assert_eq!(reference["kind"], "Backend");
        assert_eq!(reference["name"], "shop-items-example-com-443");
        assert_eq!(
            backend_name(&names(), &remote),
            "shop-items-example-com-443"
        );
    }

    #[test]
    fn backend_names_stay_kubernetes_names() {
        let long = Backend::parse(&format!("http://{}.example.com:9", "a".repeat(80))).unwrap();
        let name = backend_name(&names(), &long);
        assert!(name.len() <= 58 && !name.ends_with('-'), "{name}");
    }

    #[test]
    fn durations_follow_gateway_apis_pattern() {
        assert_eq!(gateway_api_duration(15_000), "15s");
        assert_eq!(gateway_api_duration(1_500), "1s500ms");
        assert_eq!(gateway_api_duration(3_600_000 + 120_000), "1h2m");
        assert_eq!(gateway_api_duration(0), "0s");
        // 100 s and more: no part has more than five digits.
        assert_eq!(gateway_api_duration(100_000), "1m40s");
    }
}
