//! Kubernetes objects: `--target sidecar` (the app and Envoy in one pod) and the
//! wasp-control Deployment every Kubernetes target shares.
//!
//! A config is a ConfigMap named by its id and never changed in place: a new spec
//! gives a new ConfigMap and a new pod template, so `kubectl apply` is a rolling
//! update (one new pod ready before an old one goes) and a rollback is applying the
//! previous file.

use super::names::{flag_backend, ControlService, DeployNames};
use super::{yaml, DeployFlags, Manifest};
use crate::compile::{CompileOptions, Compiled};
use crate::errors::{Diagnostic, Diagnostics};
use serde_json::{json, Value};

/// The label every object carries, and the annotation naming the config.
pub const CONFIG_ID_ANNOTATION: &str = "wasp.dev/config-id";
const MODULE_DIR: &str = "/wasm";
const ENVOY_CONFIG_DIR: &str = "/etc/wasp";
const CONTROL_CONFIG_DIR: &str = "/etc/wasp-control";
const CONTROL_DATA: &str = "/var/lib/wasp-control";

pub fn render_sidecar(
    flags: &DeployFlags,
    options: &CompileOptions,
    names: &DeployNames,
    compiled: &Compiled,
) -> Result<Vec<Manifest>, Diagnostics> {
    let mut problems = Diagnostics::new();
    let app_port = match flag_backend(compiled) {
        Some(app) if app.is_loopback() => app.port,
        _ => {
            problems.push(Diagnostic::option(
                "--backend",
                "under --target sidecar the backend is the app container in Envoy's pod; pass --backend http://127.0.0.1:PORT (the app listens on loopback only)",
            ));
            0
        }
    };
    let Some(healthz) = options.edge.healthz.clone() else {
        problems.push(Diagnostic::option(
            "--healthz",
            "under --target sidecar Kubernetes probes readiness on the listener (the admin port stays on loopback); add --healthz /healthz",
        ));
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let listen = options.bootstrap.listen.port();
    let envoy_config = names.config_map("envoy");
    let mut documents = vec![
        config_map(
            &envoy_config,
            flags,
            names,
            "envoy.yaml",
            &compiled.envoy_yaml,
        ),
        sidecar_deployment(flags, names, &envoy_config, app_port, listen, &healthz),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(&names.name, flags, names),
            "spec": {
                "selector": { "app.kubernetes.io/name": names.name },
                "ports": [{ "name": "http", "port": 80, "targetPort": "http" }],
            },
        }),
    ];
    documents.extend(control_objects(flags, names, compiled));
    Ok(vec![Manifest {
        file: "kubernetes.yaml",
        text: yaml::documents(&header(names, "sidecar"), &documents)?,
    }])
}

pub fn header(names: &DeployNames, target: &str) -> Vec<String> {
    let mut lines = vec![
        format!(
            "wasp config {}, written by `wasp compile --target {target}`.",
            names.config_id
        ),
        "Apply:     kubectl apply -f kubernetes.yaml".into(),
        "A new spec is a new ConfigMap (named by its config id) and a rolling update;".into(),
        "roll back by applying the previous file. Delete old ConfigMaps once unused.".into(),
    ];
    if let Some(control) = &names.control {
        lines.push(format!(
            "wasp-control's admin token: kubectl create secret generic {} --from-literal=admin-token=...",
            control.service
        ));
    }
    lines
}

pub fn metadata(name: &str, flags: &DeployFlags, names: &DeployNames) -> Value {
    json!({
        "name": name,
        "namespace": flags.namespace,
        "labels": { "app.kubernetes.io/name": names.name, "app.kubernetes.io/part-of": "wasp" },
    })
}

/// [`metadata`] with the config id annotated: for objects that are the config (its
/// ConfigMaps) or change with it in place (Istio's and Envoy Gateway's objects).
pub fn config_metadata(name: &str, flags: &DeployFlags, names: &DeployNames) -> Value {
    let mut meta = metadata(name, flags, names);
    meta["annotations"] = json!({ CONFIG_ID_ANNOTATION: names.config_id });
    meta
}

fn config_map(
    name: &str,
    flags: &DeployFlags,
    names: &DeployNames,
    key: &str,
    text: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": config_metadata(name, flags, names),
        // The object is named by the config; changing it in place would defeat rollbacks.
        "immutable": true,
        "data": { key: text },
    })
}

/// The module from the filter image mounted as a volume (Kubernetes 1.33+; the
/// compat image holds only `plugin.wasm`), never a ConfigMap (capped at 1 MiB).
fn module_volume(flags: &DeployFlags) -> Value {
    let reference = match &flags.filter_image_digest {
        Some(digest) => format!("{}@{digest}", image_without_tag(&flags.filter_image)),
        None => flags.filter_image.clone(),
    };
    json!({ "name": "wasp-module", "image": { "reference": reference, "pullPolicy": "IfNotPresent" } })
}

/// `registry/name:tag` -> `registry/name` (a port's colon stays).
pub fn image_without_tag(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => image,
    }
}

fn sidecar_deployment(
    flags: &DeployFlags,
    names: &DeployNames,
    envoy_config: &str,
    app_port: u16,
    listen: u16,
    healthz: &str,
) -> Value {
    let labels = json!({ "app.kubernetes.io/name": names.name });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(&names.name, flags, names),
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": labels },
            // A new config starts one new pod and waits for it to be ready first.
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": { CONFIG_ID_ANNOTATION: names.config_id },
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": flags.app_image,
                            // The app must listen on 127.0.0.1 only: Envoy owns the pod's port.
                            "env": [{ "name": "PORT", "value": app_port.to_string() }],
                        },
                        {
                            "name": "envoy",
                            "image": flags.envoy_image,
                            "args": ["-c", format!("{ENVOY_CONFIG_DIR}/envoy.yaml"), "--concurrency", "2"],
                            "ports": [{ "name": "http", "containerPort": listen }],
                            "readinessProbe": { "httpGet": { "path": healthz, "port": "http" }, "periodSeconds": 2 },
                            // Envoy's VMs are workers + 2: match --concurrency to the CPU limit.
                            "resources": { "limits": { "cpu": "2", "memory": "512Mi" } },
                            "volumeMounts": [
                                { "name": "wasp-config", "mountPath": ENVOY_CONFIG_DIR, "readOnly": true },
                                { "name": "wasp-module", "mountPath": MODULE_DIR, "readOnly": true },
                            ],
                        },
                    ],
                    "volumes": [
                        { "name": "wasp-config", "configMap": { "name": envoy_config } },
                        module_volume(flags),
                    ],
                },
            },
        },
    })
}

/// wasp-control (one replica: its SQLite keys live on one volume), its Service, the
/// config's ConfigMap and the keys' PersistentVolumeClaim.
pub fn control_objects(
    flags: &DeployFlags,
    names: &DeployNames,
    compiled: &Compiled,
) -> Vec<Value> {
    let (Some(control), Some(control_json)) = (&names.control, &compiled.control_json) else {
        return Vec::new();
    };
    let ControlService { service, port } = control;
    let config = names.config_map("control");
    let labels = json!({ "app.kubernetes.io/name": service });
    let mut meta = metadata(service, flags, names);
    meta["labels"] =
        json!({ "app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "wasp" });
    let mut claim_meta = meta.clone();
    claim_meta["name"] = json!(format!("{service}-keys"));
    vec![
        config_map(&config, flags, names, "control.json", control_json),
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": claim_meta,
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } },
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": labels },
                // One writer on the SQLite volume: the old pod stops before the new starts.
                "strategy": { "type": "Recreate" },
                "template": {
                    "metadata": { "labels": labels, "annotations": { CONFIG_ID_ANNOTATION: names.config_id } },
                    "spec": {
                        "containers": [{
                            "name": "wasp-control",
                            "image": flags.control_image,
                            "args": [
                                "serve", "--config", format!("{CONTROL_CONFIG_DIR}/control.json"),
                                "--listen", format!("0.0.0.0:{port}"),
                                "--db", format!("{CONTROL_DATA}/keys.db"),
                            ],
                            "env": [{
                                "name": "WASP_CONTROL_ADMIN_TOKEN",
                                "valueFrom": { "secretKeyRef": { "name": service, "key": "admin-token", "optional": true } },
                            }],
                            "ports": [{ "name": "http", "containerPort": port }],
                            "readinessProbe": { "httpGet": { "path": "/healthz", "port": "http" } },
                            "volumeMounts": [
                                { "name": "config", "mountPath": CONTROL_CONFIG_DIR, "readOnly": true },
                                { "name": "keys", "mountPath": CONTROL_DATA },
                            ],
                        }],
                        "volumes": [
                            { "name": "config", "configMap": { "name": config } },
                            { "name": "keys", "persistentVolumeClaim": { "claimName": format!("{service}-keys") } },
                        ],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(service, flags, names),
            "spec": {
                "selector": labels,
                "ports": [{ "name": "http", "port": port, "targetPort": "http" }],
            },
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_cut_but_registry_ports_stay() {
        assert_eq!(
            image_without_tag("localhost/wasp-filter:0.1.0"),
            "localhost/wasp-filter"
        );
        assert_eq!(image_without_tag("reg:5000/wasp"), "reg:5000/wasp");
        assert_eq!(image_without_tag("reg:5000/wasp:1"), "reg:5000/wasp");
    }
}
