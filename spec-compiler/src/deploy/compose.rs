//! `--target compose`: a `docker-compose.yml` beside the generated `envoy.yaml`.

use super::names::{flag_backend, DeployNames};
use super::{yaml, DeployFlags, Manifest};
use crate::compile::{CompileOptions, Compiled};
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::UpstreamRole;
use serde_json::{json, Map, Value};

/// Where the mounted files appear inside the containers.
const ENVOY_YAML: &str = "/etc/wasp/envoy.yaml";
const CONTROL_JSON: &str = "/etc/wasp/control.json";
const CONTROL_DATA: &str = "/var/lib/wasp-control";

pub fn render(
    flags: &DeployFlags,
    options: &CompileOptions,
    names: &DeployNames,
    compiled: &Compiled,
) -> Result<Vec<Manifest>, Diagnostics> {
    let problems = loopback_upstreams(compiled);
    if !problems.is_empty() {
        return Err(problems);
    }
    let listen = options.bootstrap.listen.port();
    let mut services = Map::new();
    let mut envoy_needs = Vec::new();
    // The --backend (route r0) as a placeholder service when it is a compose name.
    let flag_backend = flag_backend(compiled).filter(|b| b.ip.is_none() && !b.host.contains('.'));
    if let Some(backend) = flag_backend {
        services.insert(
            backend.host.clone(),
            json!({
                "image": flags.app_image,
                "expose": [backend.port.to_string()],
                "restart": "unless-stopped",
            }),
        );
        envoy_needs.push(backend.host.clone());
    }
    let mut volumes = Map::new();
    if let Some(control) = &names.control {
        services.insert(
            control.service.clone(),
            json!({
                "image": flags.control_image,
                "command": [
                    "serve", "--config", CONTROL_JSON,
                    "--listen", format!("0.0.0.0:{}", control.port),
                    "--db", format!("{CONTROL_DATA}/keys.db"),
                ],
                // Unset: the admin API is off. Set it in the shell or an .env file.
                "environment": { "WASP_CONTROL_ADMIN_TOKEN": "${WASP_CONTROL_ADMIN_TOKEN:-}" },
                "volumes": [
                    format!("./control.json:{CONTROL_JSON}:ro"),
                    format!("wasp-control-data:{CONTROL_DATA}"),
                ],
                // The admin API, for the host only.
                "ports": [format!("127.0.0.1:{0}:{0}", control.port)],
                "restart": "unless-stopped",
            }),
        );
        volumes.insert("wasp-control-data".into(), json!({}));
        envoy_needs.push(control.service.clone());
    }
    let mut envoy = json!({
        "image": flags.envoy_image,
        "command": ["-c", ENVOY_YAML, "--concurrency", "2"],
        "ports": [format!("{listen}:{listen}")],
        "volumes": [
            format!("./envoy.yaml:{ENVOY_YAML}:ro"),
            format!("{}:{}:ro", flags.compose_module, options.bootstrap.wasm),
        ],
        "restart": "unless-stopped",
    });
    if !envoy_needs.is_empty() {
        envoy["depends_on"] = json!(envoy_needs);
    }
    services.insert("envoy".into(), envoy);
    let mut document = json!({ "name": names.name, "services": services });
    if !volumes.is_empty() {
        document["volumes"] = Value::Object(volumes);
    }
    let header = header(flags, names, listen);
    Ok(vec![Manifest {
        file: "docker-compose.yml",
        text: yaml::documents(&header, &[document])?,
    }])
}

fn header(flags: &DeployFlags, names: &DeployNames, listen: u16) -> Vec<String> {
    let mut lines = vec![
        format!(
            "wasp config {}, written by `wasp compile --target compose`.",
            names.config_id
        ),
        "Run it from this directory:  docker compose up   (or podman compose up)".into(),
        format!(
            "The gateway listens on :{listen}; the module comes from {} on the host.",
            flags.compose_module
        ),
    ];
    if let Some(control) = &names.control {
        lines.push(format!(
            "API keys: docker compose exec {} wasp-control keys create --project NAME --db {CONTROL_DATA}/keys.db",
            control.service
        ));
    }
    lines.push("Regenerate instead of editing: a new spec is a new config id.".into());
    lines
}

/// Inside a container, loopback is that container: every address must be a service name.
fn loopback_upstreams(compiled: &Compiled) -> Diagnostics {
    compiled
        .upstreams
        .iter()
        .filter(|u| u.backend.is_loopback())
        .map(|u| {
            let (option, example) = match u.role {
                UpstreamRole::Backend => ("--backend", "http://backend:8081"),
                UpstreamRole::ServiceControl => {
                    ("--service-control-url", "http://wasp-control:8790")
                }
                UpstreamRole::Metadata => ("--metadata-url", "http://metadata:8080"),
                UpstreamRole::Iam => ("--iam-url", "http://iam:8080"),
                UpstreamRole::Jwks => ("x-google-jwks_uri", "http://idp:8080/jwks"),
                UpstreamRole::Tracing => ("--tracing", "otlp=otel-collector:4318"),
            };
            Diagnostic::option(
                option,
                format!(
                    "{} is loopback, which inside the Envoy container is Envoy itself; under --target compose name the service instead, like {example}",
                    u.backend.authority()
                ),
            )
        })
        .collect()
}
