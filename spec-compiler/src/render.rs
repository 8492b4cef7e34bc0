//! The render stage: a `ServicePlan` -> the files a compile writes: the filter config
//! (`filter.json`), the Envoy bootstrap (`envoy.yaml`, `bootstrap`), `control.json`, and the
//! warnings to print. Deploy targets render their manifests from `Compiled` (`deploy`).

use crate::backend::METADATA_CLUSTER;
use crate::backend_auth_iam::IAM_CLUSTER;
use crate::bootstrap::{bootstrap, Plan};
use crate::errors::{Diagnostic, Diagnostics};
use crate::model::Spec;
use crate::options::{CompileOptions, GCP_METADATA_URL};
use crate::plan::{Flags, ServicePlan};
use crate::routes::RoutePlan;
use crate::service_control::SERVICE_CONTROL_CLUSTER;
use crate::telemetry::OTLP_CLUSTER;
use crate::upstreams::{Upstream, UpstreamRole};
use wasp_config::control::ControlConfig;
use wasp_config::{DependencyGate, FilterConfig, Operation, OwnRoutes, SCHEMA_VERSION};

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

/// Renders the plan under the config id `config_hash`.
pub fn render(
    specs: &[Spec],
    mut plan: ServicePlan,
    flags: &Flags,
    options: &CompileOptions,
    config_hash: String,
) -> Result<Compiled, Diagnostics> {
    let upstreams = upstreams(&plan, flags);
    let mut routes = plan.table.routes().to_vec();
    let control = plan.control.take();
    let mut config = filter_config(plan, flags, options, config_hash);
    // Under another control plane the clusters are its own; nothing in the filter
    // assumes wasp's names.
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
    let document = bootstrap(
        &options.bootstrap,
        &filter_json,
        &Plan {
            routes: &routes,
            upstreams: &upstreams,
            cors: flags.cors.as_ref(),
            edge: &flags.edge,
            config_id: &config.config_hash,
            default_route: config.own_routes.as_ref().map(|o| o.default_route.as_str()),
            service_name: &config.service_name,
        },
    );
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

/// Every cluster the config names: the routes' backends, then each callout's origin.
fn upstreams(plan: &ServicePlan, flags: &Flags) -> Vec<Upstream> {
    let mut upstreams = plan.table.upstreams();
    if plan.id_token_source.is_some() {
        upstreams.push(Upstream::new(
            METADATA_CLUSTER,
            &flags.metadata,
            UpstreamRole::Metadata,
        ));
    }
    if let Some(iam) = &plan.iam {
        upstreams.push(Upstream::new(IAM_CLUSTER, &iam.backend, UpstreamRole::Iam));
    }
    if let Some(service_control) = &plan.service_control {
        upstreams.push(Upstream::new(
            SERVICE_CONTROL_CLUSTER,
            &service_control.backend,
            UpstreamRole::ServiceControl,
        ));
    }
    if let Some(collector) = &flags.collector {
        upstreams.push(Upstream::new(
            OTLP_CLUSTER,
            collector,
            UpstreamRole::Tracing,
        ));
    }
    upstreams.extend(
        plan.jwt
            .clusters
            .clusters()
            .iter()
            .map(|c| Upstream::new(&c.name, &c.backend, UpstreamRole::Jwks)),
    );
    upstreams
}

/// The filter's whole config.
fn filter_config(
    plan: ServicePlan,
    flags: &Flags,
    options: &CompileOptions,
    config_hash: String,
) -> FilterConfig {
    let b = &options.bootstrap;
    let own_routes = options.own_routes.then(|| OwnRoutes {
        default_route: default_route(&plan.operations).to_string(),
    });
    FilterConfig {
        version: SCHEMA_VERSION,
        service_control: plan.service_control.as_ref().map(|service_control| {
            let mut config = service_control.config.clone();
            config.service_config_id = config_hash.clone();
            config.generated_header_prefix = options.generated_header_prefix.clone();
            config
        }),
        config_hash,
        service_name: plan.service_name,
        operations: plan.operations,
        routes: plan.table.filter_routes(),
        id_token_source: plan.id_token_source,
        // Envoy's CORS filter answers matching preflights; the filter turns
        // every other OPTIONS no operation matches into ESPv2's 400.
        reject_unmatched_preflight: flags.cors.is_some(),
        envoy_sets_external_address: b.client_address.use_remote_address,
        send_operation_name: options.operation_name_header,
        generated_header_prefix: options.generated_header_prefix.clone(),
        jwt_no_default_audience: options.jwt.no_default_audience,
        jwt_pad_userinfo: options.jwt.pad_userinfo,
        client_ip_from_forwarded: b.client_address.from_forwarded_header,
        xff_trusted_hops: (!b.client_address.use_remote_address)
            .then_some(b.client_address.xff_num_trusted_hops),
        disallow_colon_in_wildcard: b.paths.disallow_colon_in_wildcard,
        wait_for_dependencies: flags.edge.block_until_ready.then(|| DependencyGate {
            health_path: flags.edge.healthz.clone(),
        }),
        providers: plan.jwt.providers,
        jwks_clusters: plan.jwt.clusters.filter_entries(),
        metrics: b.telemetry.metrics(),
        trace_stages: flags.collector.is_some(),
        own_routes,
    }
}

/// The route Envoy takes for a request without a route header: the one with the most
/// operations (the first such on a tie), so most requests need no route header.
fn default_route(operations: &[Operation]) -> &str {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for op in operations {
        match counts.iter_mut().find(|(id, _)| *id == op.route) {
            Some((_, n)) => *n += 1,
            None => counts.push((&op.route, 1)),
        }
    }
    let mut best: Option<(&str, usize)> = None;
    for (id, n) in counts {
        if best.is_none_or(|(_, most)| n > most) {
            best = Some((id, n));
        }
    }
    best.map_or("", |(id, _)| id)
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

/// A bug in wasp, not in the spec.
fn internal(message: String) -> Diagnostics {
    vec![Diagnostic::option(
        "wasp (internal error)",
        format!("{message}; please report this with the spec that caused it"),
    )]
}
