//! One compile, as a pure function: spec files + options -> filter config and
//! bootstrap text, or every problem found. No file system access here.

use crate::backend::{Backend, METADATA_CLUSTER};
use crate::backend_auth_iam::{IamFlags, IAM_CLUSTER};
use crate::bootstrap::{bootstrap, BootstrapOptions, Plan};
use crate::cors::CorsFlags;
use crate::edge::EdgeFlags;
use crate::errors::{Diagnostic, Diagnostics};
use crate::hash::config_hash;
use crate::jwt_providers::{plan_providers, JwtOptions};
use crate::management::{control_config, producer_project, FileQuota, OperationQuota};
use crate::model::{Spec, SpecOperation};
use crate::operations::{collect_operations, OperationBackend};
use crate::pointer::Pointer;
use crate::read::read_specs;
use crate::read::source::SourceFile;
use crate::routes::{RoutePlan, RouteTable};
use crate::service_control::{plan_service_control, ServiceControlFlags, SERVICE_CONTROL_CLUSTER};
use crate::telemetry::OTLP_CLUSTER;
use crate::upstreams::{ClusterNaming, Upstream, UpstreamRole};
use crate::x_google_backend::{resolve, DEFAULT_DEADLINE_MS};
use wasp_config::control::ControlConfig;
use wasp_config::{DependencyGate, FilterConfig, IdTokenSource, SCHEMA_VERSION};

/// Everything besides the spec files that shapes the output.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// `--backend` as given.
    pub backend: String,
    /// `--metadata-url` as given.
    pub metadata_url: String,
    /// `--enable-backend-address-override`: `--backend` replaces every x-google-backend address.
    pub backend_address_override: bool,
    /// `--backend-auth-iam-*`, `--iam-url`: ID tokens from IAM instead.
    pub backend_auth_iam: IamFlags,
    pub cors: CorsFlags,
    /// `--healthz`, `--underscores-in-headers`, HSTS, added headers.
    pub edge: EdgeFlags,
    pub bootstrap: BootstrapOptions,
    pub jwt: JwtOptions,
    /// `--enable-operation-name-header`: the operation name goes to the backend.
    pub operation_name_header: bool,
    /// `--generated-header-prefix` (ESPv2's `X-Endpoint-`).
    pub generated_header_prefix: String,
    /// `--ignore-jwt-scopes`: ESPv2 ignores the oauth2 scopes in `security`.
    pub ignore_jwt_scopes: bool,
    /// `--producer-project-id`; else taken from an `*.endpoints.<project>.cloud.goog` host.
    pub producer_project_id: Option<String>,
    pub service_control: ServiceControlFlags,
    /// How the filter config names clusters (`--target istio`: Istio's names).
    pub cluster_naming: ClusterNaming,
}

/// The compiled outputs, ready to write.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub config: FilterConfig,
    /// The Envoy routes `config.routes` selects, with their deadlines and Host rewrites.
    pub routes: Vec<RoutePlan>,
    /// Every cluster `config` names.
    pub upstreams: Vec<Upstream>,
    /// Compact JSON of `config`; also embedded in `envoy_yaml`.
    pub filter_json: String,
    pub envoy_yaml: String,
    /// From `x-google-management`, when any file has it: the control service's config.
    pub control: Option<ControlConfig>,
    /// Pretty JSON of `control`.
    pub control_json: Option<String>,
    /// What compiles but will likely not work where it runs; printed, not fatal.
    pub warnings: Vec<String>,
}

impl Compiled {
    /// The upstream a route forwards to.
    pub fn upstream_of(&self, route: &RoutePlan) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == route.cluster)
    }
}

/// `--metadata-url`'s default: GCP's metadata server, only reachable on GCP.
pub const GCP_METADATA_URL: &str = "http://169.254.169.254";

pub fn compile(files: &[SourceFile], options: &CompileOptions) -> Result<Compiled, Diagnostics> {
    let mut problems = Diagnostics::new();
    let backend = Backend::parse(&options.backend)
        .map_err(|e| problems.push(Diagnostic::option("--backend", e)))
        .ok();
    let metadata = Backend::parse(&options.metadata_url)
        .map_err(|e| problems.push(Diagnostic::option("--metadata-url", e)))
        .ok();
    let iam = options
        .backend_auth_iam
        .plan()
        .map_err(|found| problems.extend(found))
        .unwrap_or_default();
    let cors = match options.cors.policy() {
        Ok(policy) => policy,
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    let edge = options
        .edge
        .options()
        .map_err(|found| problems.extend(found))
        .unwrap_or_default();
    if let Err(e) = check_header_prefix(&options.generated_header_prefix) {
        problems.push(Diagnostic::option("--generated-header-prefix", e));
    }
    let collector = options
        .bootstrap
        .telemetry
        .collector()
        .map_err(|problem| problems.push(problem))
        .unwrap_or_default();

    let (specs, found) = read_specs(files);
    problems.extend(found);
    if cors.is_some() {
        for spec in &specs {
            let Some(at) = &spec.allow_cors else { continue };
            problems.push(Diagnostic::new(
                &spec.file,
                at,
                "allowCors: true sends preflights to the backend, --cors-preset lets wasp answer them; choose one: remove allowCors or drop the --cors-* options",
            ));
        }
    }
    // Cross-file checks only make sense once every file reads cleanly.
    let (Some(backend), Some(metadata), true) = (backend, metadata, problems.is_empty()) else {
        return Err(problems);
    };

    let mut table = RouteTable::new();
    // A sidecar on loopback keeps the client's Host; a remote --backend gets its own.
    let flag_host = (!backend.is_loopback()).then(|| backend.authority());
    // r0: the --backend with the default deadline, present in every config.
    table.route_to(&backend, DEFAULT_DEADLINE_MS, flag_host.clone());
    let service = collect_operations(&specs, &mut |spec: &Spec, op: Option<&SpecOperation>| {
        // An operation's own x-google-backend replaces the top-level one.
        let rule = op
            .and_then(|o| o.backend.as_ref())
            .or(spec.backend.as_ref());
        let resolved = resolve(rule);
        let route = match &resolved.address {
            // x-google-backend addresses are remote backends: Host is theirs.
            Some(address) if !options.backend_address_override => {
                table.route_to(address, resolved.deadline_ms, Some(address.authority()))
            }
            // No address, or --enable-backend-address-override: the --backend, with the
            // rule's deadline, protocol, path translation and ID-token audience.
            _ => {
                let mut flag = backend.clone();
                flag.http2 = resolved.http2;
                table.route_to(&flag, resolved.deadline_ms, flag_host.clone())
            }
        };
        OperationBackend {
            route,
            path_translation: resolved.path_translation,
            backend_auth: resolved.backend_auth,
        }
    })?;
    let jwt = plan_providers(&specs, &options.jwt)?;
    let mut operations = service.operations;
    if options.ignore_jwt_scopes {
        let requirements = operations.iter_mut().filter_map(|o| o.security.as_mut());
        for alternative in requirements.flat_map(|s| s.alternatives.iter_mut()) {
            alternative.jwt.iter_mut().for_each(|j| j.scopes.clear());
        }
    }
    let control = control(
        &specs,
        &service.service_name,
        &service.metric_costs,
        options,
    )?;
    let service_control = plan_service_control(
        &specs,
        &operations,
        &service.metric_costs,
        &service.service_name,
        producer_project(
            &service.service_name,
            options.producer_project_id.as_deref(),
        ),
        &options.service_control,
    )?;
    let has_backend_auth = operations.iter().any(|o| o.backend_auth.is_some());
    let needs_tokens = has_backend_auth
        || service_control
            .as_ref()
            .is_some_and(|plan| plan.config.endpoint.metadata_access_token);
    // IAM mints only backend ID tokens; Service Control's access token still comes from
    // the metadata server.
    let iam = iam.filter(|_| has_backend_auth);
    let id_token_source = needs_tokens.then(|| IdTokenSource {
        authority: metadata.authority(),
        iam: iam.as_ref().map(|plan| plan.tokens.clone()),
        ..IdTokenSource::gcp(METADATA_CLUSTER)
    });

    let b = &options.bootstrap;
    let hashed_options = [
        // A new compiler may compile the same inputs differently.
        ("wasp", env!("CARGO_PKG_VERSION").to_string()),
        ("backend", options.backend.clone()),
        ("metadata_url", options.metadata_url.clone()),
        ("backend_auth_iam", options.backend_auth_iam.hashed()),
        (
            "backend_address_override",
            options.backend_address_override.to_string(),
        ),
        ("cors", options.cors.hashed()),
        ("edge", options.edge.hashed()),
        (
            "operation_name_header",
            options.operation_name_header.to_string(),
        ),
        (
            "generated_header_prefix",
            options.generated_header_prefix.clone(),
        ),
        ("listen", b.listen.to_string()),
        ("admin", b.admin.to_string()),
        ("wasm", b.wasm.clone()),
        ("paths", format!("{:?}", b.paths)),
        ("root_certs", b.root_certs.clone()),
        (
            "backend_client_tls",
            format!(
                "{:?} {:?}",
                b.backend_client_cert_dir, b.backend_cipher_suites
            ),
        ),
        ("client_address", format!("{:?}", b.client_address)),
        ("access_log", format!("{:?}", b.access_log)),
        ("telemetry", b.telemetry.hashed()),
        (
            "backend_dns_lookup_family",
            format!("{:?}", b.backend_dns_lookup_family),
        ),
        ("jwt", format!("{:?}", options.jwt)),
        ("ignore_jwt_scopes", options.ignore_jwt_scopes.to_string()),
        (
            "producer_project_id",
            options.producer_project_id.clone().unwrap_or_default(),
        ),
        ("service_control", options.service_control.hashed()),
        ("cluster_naming", format!("{:?}", options.cluster_naming)),
    ];
    let config_hash = config_hash(files, &hashed_options);
    let mut upstreams = table.upstreams();
    if needs_tokens {
        upstreams.push(Upstream::new(
            METADATA_CLUSTER,
            &metadata,
            UpstreamRole::Metadata,
        ));
    }
    if let Some(iam) = &iam {
        upstreams.push(Upstream::new(IAM_CLUSTER, &iam.backend, UpstreamRole::Iam));
    }
    if let Some(plan) = &service_control {
        upstreams.push(Upstream::new(
            SERVICE_CONTROL_CLUSTER,
            &plan.backend,
            UpstreamRole::ServiceControl,
        ));
    }
    if let Some(collector) = &collector {
        upstreams.push(Upstream::new(
            OTLP_CLUSTER,
            collector,
            UpstreamRole::Tracing,
        ));
    }
    upstreams.extend(
        jwt.clusters
            .clusters()
            .iter()
            .map(|c| Upstream::new(&c.name, &c.backend, UpstreamRole::Jwks)),
    );
    let mut config = FilterConfig {
        version: SCHEMA_VERSION,
        service_control: service_control.as_ref().map(|plan| {
            let mut config = plan.config.clone();
            config.service_config_id = config_hash.clone();
            config.generated_header_prefix = options.generated_header_prefix.clone();
            config
        }),
        config_hash,
        service_name: service.service_name,
        operations,
        routes: table.filter_routes(),
        id_token_source,
        // Envoy's CORS filter answers matching preflights; the filter turns
        // every other OPTIONS no operation matches into ESPv2's 400.
        reject_unmatched_preflight: cors.is_some(),
        envoy_sets_external_address: b.client_address.use_remote_address,
        send_operation_name: options.operation_name_header,
        generated_header_prefix: options.generated_header_prefix.clone(),
        jwt_no_default_audience: options.jwt.no_default_audience,
        jwt_pad_userinfo: options.jwt.pad_userinfo,
        client_ip_from_forwarded: b.client_address.from_forwarded_header,
        disallow_colon_in_wildcard: b.paths.disallow_colon_in_wildcard,
        wait_for_dependencies: edge.block_until_ready.then(|| DependencyGate {
            health_path: edge.healthz.clone(),
        }),
        providers: jwt.providers,
        jwks_clusters: jwt.clusters.filter_entries(),
        metrics: b.telemetry.metrics(),
        trace_stages: collector.is_some(),
    };
    // Under another control plane the clusters are its own; nothing in the filter
    // assumes wasp's names.
    let mut routes = table.routes().to_vec();
    let (upstreams, renamed) = options.cluster_naming.apply(upstreams);
    let new_name = |name: &str| {
        renamed
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };
    config.rename_clusters(new_name);
    for route in &mut routes {
        route.cluster = new_name(&route.cluster);
    }
    let filter_json = serde_json::to_string(&config)
        .map_err(|e| internal(format!("cannot serialize the filter config: {e}")))?;
    // The filter will refuse what its own parser refuses; find out now.
    FilterConfig::from_json(filter_json.as_bytes()).map_err(|e| {
        internal(format!(
            "the compiled filter config does not read back: {e}"
        ))
    })?;

    let plan = Plan {
        routes: &routes,
        upstreams: &upstreams,
        cors: cors.as_ref(),
        edge: &edge,
        config_id: &config.config_hash,
        service_name: &config.service_name,
    };
    let document = bootstrap(b, &filter_json, &plan);
    let envoy_yaml = serde_norway::to_string(&document)
        .map_err(|e| internal(format!("cannot write the Envoy bootstrap: {e}")))?;
    let control_json = match &control {
        Some(c) => Some(
            serde_json::to_string_pretty(c)
                .map_err(|e| internal(format!("cannot serialize the control config: {e}")))?,
        ),
        None => None,
    };
    // What the read stage noticed (callbacks, webhooks), then what the plan implies.
    let warnings = specs
        .iter()
        .flat_map(|spec| spec.warnings.iter().map(ToString::to_string))
        .chain(id_token_warning(&config, &options.metadata_url))
        .collect();
    Ok(Compiled {
        config,
        routes,
        upstreams,
        filter_json,
        envoy_yaml,
        control,
        control_json,
        warnings,
    })
}

/// The prefix starts header names, so it must be made of header-name characters.
fn check_header_prefix(prefix: &str) -> Result<(), String> {
    if crate::header_name::is_header_name(prefix) {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?} cannot start a header name; use letters, digits and '-', like X-Endpoint-"
        ))
    }
}

/// Operations that get a backend ID token from the default metadata server work only on
/// GCP; elsewhere each of their requests is a 500. ESPv2 turns backend auth on by default for
/// an https `x-google-backend`, so users outside GCP hit this without asking for it.
fn id_token_warning(config: &FilterConfig, metadata_url: &str) -> Option<String> {
    if metadata_url != GCP_METADATA_URL {
        return None;
    }
    let named: Vec<&str> = config
        .operations
        .iter()
        .filter(|op| op.backend_auth.is_some())
        .map(|op| op.name.as_str())
        .collect();
    let first = named.first()?;
    let more = match named.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "{first}{more} get a backend ID token (an https x-google-backend without disable_auth) from the GCP metadata server at {GCP_METADATA_URL}; outside GCP each such request gets 500 \"Token not found for audience\". Set --metadata-url to a server that speaks the metadata protocol, or add disable_auth: true to those backends"
    ))
}

/// The control config when any file has `x-google-management`, or when a Service Control
/// endpoint is given: `wasp-control serve --config` needs it to know the service even when
/// only API keys are checked (without one it answers every Check 404).
fn control(
    specs: &[Spec],
    service_name: &str,
    metric_costs: &[OperationQuota],
    options: &CompileOptions,
) -> Result<Option<ControlConfig>, Diagnostics> {
    let files: Vec<_> = specs
        .iter()
        .filter_map(|s| {
            s.management.as_ref().map(|management| FileQuota {
                file: &s.file,
                format: s.format,
                management,
            })
        })
        .collect();
    let Some(first) = files.first() else {
        if let Some(OperationQuota {
            file,
            format,
            costs,
            ..
        }) = metric_costs.first()
        {
            let at = costs
                .values()
                .next()
                .map(|(_, at)| at.clone())
                .unwrap_or_default();
            return Err(vec![Diagnostic::new(
                file,
                &at,
                format!("x-google-quota charges a metric but no file declares metrics; declare the metric and its limit in {} (metrics and quota.limits), or remove x-google-quota", format.management_field()),
            )]);
        }
        if options.service_control.service_control_url.is_none() {
            return Ok(None);
        }
        // Keys only: no metrics or limits. The producer project is only needed for quota.
        let project = producer_project(service_name, options.producer_project_id.as_deref());
        return control_config(service_name, project.unwrap_or_default(), &[], &[]).map(Some);
    };
    let project = options.producer_project_id.as_deref();
    let Some(project) = producer_project(service_name, project) else {
        return Err(vec![Diagnostic::new(
            first.file,
            &Pointer::root().child(first.format.management_field()),
            format!("quotas are counted per consumer project and calls without an API key are charged to the service's own project, which cannot be read from host {service_name:?}; pass --producer-project-id <your GCP project id>"),
        )]);
    };
    control_config(service_name, project, &files, metric_costs).map(Some)
}

/// A bug in wasp, not in the spec.
fn internal(message: String) -> Diagnostics {
    vec![Diagnostic::option(
        "wasp (internal error)",
        format!("{message}; please report this with the spec that caused it"),
    )]
}
