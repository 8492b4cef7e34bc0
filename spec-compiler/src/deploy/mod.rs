//! Where the compiled gateway runs: `--target envoy|compose|sidecar|istio|envoy-gateway`.
//!
//! `envoy` is the bootstrap alone. Every other target adds the files a user applies
//! to run the same gateway there, each with a comment header saying how. The filter
//! config is the same module's input everywhere; only the cluster names it calls and
//! routes to follow the target's control plane ([`Target::cluster_naming`]).

pub mod compose;
pub mod envoy_gateway;
pub mod istio;
pub mod kubernetes;
pub mod names;
mod yaml;

use crate::compile::{CompileOptions, Compiled};
use crate::errors::{Diagnostic, Diagnostics};
use crate::upstreams::ClusterNaming;
use clap::{Args, ValueEnum};

/// `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Stock Envoy started with the generated `envoy.yaml`.
    Envoy,
    /// `docker-compose.yml`: Envoy, wasp-control and the backend as containers.
    Compose,
    /// Kubernetes: the app and Envoy in one pod, plus wasp-control.
    Sidecar,
    /// An Istio ingress gateway: WasmPlugin, ServiceEntry, DestinationRule, VirtualService.
    Istio,
    /// Envoy Gateway: HTTPRoute, EnvoyExtensionPolicy, EnvoyPatchPolicy, Backend.
    EnvoyGateway,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Envoy => "envoy",
            Target::Compose => "compose",
            Target::Sidecar => "sidecar",
            Target::Istio => "istio",
            Target::EnvoyGateway => "envoy-gateway",
        }
    }

    /// How the filter config names clusters on this target.
    pub fn cluster_naming(self) -> ClusterNaming {
        match self {
            Target::Istio => ClusterNaming::Istio,
            // Envoy Gateway takes the callout clusters under wasp's names (EnvoyPatchPolicy).
            Target::Envoy | Target::Compose | Target::Sidecar | Target::EnvoyGateway => {
                ClusterNaming::Wasp
            }
        }
    }

    /// Where Envoy finds the module when `--wasm` is not given.
    pub fn default_wasm_path(self) -> &'static str {
        match self {
            // The filter image mounted as a volume (see kubernetes.rs).
            Target::Sidecar => "/wasm/plugin.wasm",
            Target::Envoy | Target::Compose | Target::Istio | Target::EnvoyGateway => {
                "/etc/wasp/wasp_filter.wasm"
            }
        }
    }

    /// Whether the control plane, not wasp, writes Envoy's listener and routes.
    pub fn mesh_owns_envoy(self) -> bool {
        matches!(self, Target::Istio | Target::EnvoyGateway)
    }
}

/// The deploy options besides `--target`.
#[derive(Debug, Clone, Args)]
pub struct DeployFlags {
    /// What to write besides the filter config: envoy (the bootstrap), compose,
    /// sidecar (Kubernetes), istio or envoy-gateway.
    #[arg(long, value_enum, default_value_t = Target::Envoy)]
    pub target: Target,
    /// Name of the Kubernetes objects / compose project (default: the service name's first label).
    #[arg(long, value_name = "NAME")]
    pub deploy_name: Option<String>,
    /// Kubernetes namespace of every object.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// The wasp filter's Wasm OCI image (`make images`).
    #[arg(long, default_value = concat!("localhost/wasp-filter:", env!("CARGO_PKG_VERSION")))]
    pub filter_image: String,
    /// The filter image's digest (`sha256:<64 hex>`): pins the module (Istio checks it).
    #[arg(long, value_name = "DIGEST")]
    pub filter_image_digest: Option<String>,
    /// The wasp-control image.
    #[arg(long, default_value = concat!("localhost/wasp-control:", env!("CARGO_PKG_VERSION")))]
    pub control_image: String,
    /// The Envoy image (1.33 or later).
    #[arg(long, default_value = "docker.io/envoyproxy/envoy:v1.40.0")]
    pub envoy_image: String,
    /// The backend's image (compose, sidecar); a placeholder to replace by default.
    #[arg(long, default_value = "registry.example.com/your-backend:latest")]
    pub app_image: String,
    /// compose: the module on the host, relative to the output directory.
    #[arg(long, default_value = "./wasp_filter.wasm")]
    pub compose_module: String,
    /// istio: the gateway workloads the WasmPlugin and Gateway select (`key=value`).
    #[arg(long, default_value = "istio=ingressgateway")]
    pub istio_selector: String,
    /// istio: the gateway workloads' namespace, where the WasmPlugin must live to select them.
    #[arg(long, default_value = "istio-system")]
    pub istio_gateway_namespace: String,
    /// envoy-gateway: the GatewayClass of the Gateway it writes.
    #[arg(long, default_value = "eg")]
    pub gateway_class: String,
}

/// One file a target writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub file: &'static str,
    pub text: String,
}

/// Whether the target can run what the options ask for, before compiling.
/// `defaults` are the options with nothing given, to tell what the user set.
pub fn check_options(
    flags: &DeployFlags,
    options: &CompileOptions,
    defaults: &CompileOptions,
) -> Diagnostics {
    let mut problems = Diagnostics::new();
    if let Err(e) = names::check_digest(flags.filter_image_digest.as_deref()) {
        problems.push(Diagnostic::option("--filter-image-digest", e));
    }
    let in_containers = matches!(flags.target, Target::Compose | Target::Sidecar);
    if in_containers && options.bootstrap.listen.ip().is_loopback() {
        problems.push(Diagnostic::option(
            "--listen",
            format!(
                "{} is loopback, which a published port or a probe cannot reach from outside the container; under --target {} listen on 0.0.0.0",
                options.bootstrap.listen,
                flags.target.name()
            ),
        ));
    }
    if flags.target.mesh_owns_envoy() {
        for option in mesh_owned_options_set(options, defaults) {
            problems.push(Diagnostic::option(
                option,
                format!(
                    "configures the Envoy listener wasp writes, but under --target {} the control plane writes it; drop the option and configure it there ({})",
                    flags.target.name(),
                    match flags.target {
                        Target::EnvoyGateway => "Gateway, ClientTrafficPolicy, EnvoyProxy",
                        _ => "Gateway, Telemetry, EnvoyFilter",
                    }
                ),
            ));
        }
        if flags.target == Target::Istio {
            if let Err(e) = istio::check_selector(&flags.istio_selector) {
                problems.push(Diagnostic::option("--istio-selector", e));
            }
        }
    }
    problems
}

/// The bootstrap-only options that differ from their defaults.
fn mesh_owned_options_set(
    options: &CompileOptions,
    defaults: &CompileOptions,
) -> Vec<&'static str> {
    let (b, d) = (&options.bootstrap, &defaults.bootstrap);
    let checks = [
        ("--listen", b.listen != d.listen),
        ("--wasm (the control plane fetches the module from --filter-image)", b.wasm != d.wasm),
        ("--admin", b.admin != d.admin),
        (
            "--disable-normalize-path/--disable-merge-slashes-in-path/--disallow-escaped-slashes-in-path",
            b.paths.disable_normalize_path != d.paths.disable_normalize_path
                || b.paths.disable_merge_slashes != d.paths.disable_merge_slashes
                || b.paths.disallow_escaped_slashes != d.paths.disallow_escaped_slashes,
        ),
        (
            "--access-log-format/--access-log-path",
            format!("{:?}", b.access_log) != format!("{:?}", d.access_log),
        ),
        (
            "--envoy-xff-num-trusted-hops",
            b.client_address.xff_num_trusted_hops != d.client_address.xff_num_trusted_hops,
        ),
        (
            "--backend-dns-lookup-family",
            b.backend_dns_lookup_family != d.backend_dns_lookup_family,
        ),
        (
            "--ssl-backend-client-cert-path/--ssl-backend-client-cipher-suites",
            b.backend_client_cert_dir != d.backend_client_cert_dir
                || b.backend_cipher_suites != d.backend_cipher_suites,
        ),
        (
            "--service-control-client-cert-path",
            b.service_control_client_cert_dir != d.service_control_client_cert_dir,
        ),
        ("--root-certs", b.root_certs != d.root_certs),
        (
            "--tracing/--tracing-sample-rate",
            b.telemetry.tracing != d.telemetry.tracing
                || b.telemetry.tracing_sample_rate != d.telemetry.tracing_sample_rate,
        ),
        (
            "--cors-* (Envoy's CORS filter)",
            options.cors.hashed() != defaults.cors.hashed(),
        ),
        (
            "--healthz/--ssl-server-*/--enable-response-compression/--add-*-header/--enable-strict-transport-security/--underscores-in-headers/--connection-buffer-limit-bytes",
            options.edge.hashed() != defaults.edge.hashed(),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

/// What a target writes: its files and what it does differently, to print.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub manifests: Vec<Manifest>,
    pub warnings: Vec<String>,
}

/// The target's own files, from a compile made with its [`Target::cluster_naming`].
pub fn render(
    flags: &DeployFlags,
    options: &CompileOptions,
    compiled: &Compiled,
) -> Result<Rendered, Diagnostics> {
    let names = names::DeployNames::new(flags, compiled)?;
    let manifests = match flags.target {
        Target::Envoy => Vec::new(),
        Target::Compose => compose::render(flags, options, &names, compiled)?,
        Target::Sidecar => kubernetes::render_sidecar(flags, options, &names, compiled)?,
        Target::Istio => istio::render(flags, &names, compiled)?,
        Target::EnvoyGateway => {
            let (manifests, warnings) = envoy_gateway::render(flags, options, &names, compiled)?;
            return Ok(Rendered {
                manifests,
                warnings,
            });
        }
    };
    Ok(Rendered {
        manifests,
        warnings: Vec::new(),
    })
}
