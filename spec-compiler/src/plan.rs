//! The plan stage: the model (every file's `Spec`) and the checked options -> what the
//! service needs, one feature after the other in the order each needs the one before:
//!
//! 1. routes: every operation's backend rule resolved (ESPv2's defaults) to an Envoy
//!    route, its path translation and backend auth (`x_google_backend`, `routes`);
//! 2. operations: names, templates, security, costs across the files (`operations`);
//! 3. JWT providers and the clusters their keys come through (`jwt_providers`);
//! 4. quotas for the control service (`management`), then Service Control (`service_control`),
//!    which needs the operations' key requirements and costs;
//! 5. the token source, needed by backend auth (2) or Service Control's access token (4).
//!
//! Nothing here renders: `render` turns a `ServicePlan` into files.

use crate::backend::{Backend, METADATA_CLUSTER};
use crate::backend_auth_iam::IamPlan;
use crate::cors::CorsPolicy;
use crate::edge::EdgeOptions;
use crate::errors::{Diagnostic, Diagnostics};
use crate::jwt_providers::{plan_providers, JwtPlan};
use crate::management::{control_config, producer_project, FileQuota, OperationQuota};
use crate::model::{Spec, SpecOperation};
use crate::operations::{collect_operations, OperationBackend};
use crate::options::CompileOptions;
use crate::pointer::Pointer;
use crate::routes::RouteTable;
use crate::service_control::{plan_service_control, ServiceControlPlan};
use crate::x_google_backend::{resolve, DEFAULT_DEADLINE_MS};
use wasp_config::control::ControlConfig;
use wasp_config::{IdTokenSource, Operation};

/// The options, checked: what the plan and the render stage read instead of raw text.
#[derive(Debug, Clone)]
pub struct Flags {
    /// `--backend`.
    pub backend: Backend,
    /// `--metadata-url`.
    pub metadata: Backend,
    /// `--backend-auth-iam-*`: ID tokens from IAM.
    pub iam: Option<IamPlan>,
    /// `--cors-preset`: Envoy's CORS filter answers preflights.
    pub cors: Option<CorsPolicy>,
    pub edge: EdgeOptions,
    /// `--tracing otlp=HOST:PORT`.
    pub collector: Option<Backend>,
}

impl Flags {
    /// Every option problem at once; `None` when there was any.
    pub fn check(options: &CompileOptions) -> (Option<Flags>, Diagnostics) {
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
        let cors = options
            .cors
            .policy()
            .map_err(|found| problems.extend(found))
            .unwrap_or_default();
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
        let flags = match (backend, metadata, problems.is_empty()) {
            (Some(backend), Some(metadata), true) => Some(Flags {
                backend,
                metadata,
                iam,
                cors,
                edge,
                collector,
            }),
            _ => None,
        };
        (flags, problems)
    }
}

/// What the service needs, before anything is rendered.
#[derive(Debug)]
pub struct ServicePlan {
    pub service_name: String,
    /// Every route and cluster the operations go to (`r0`: `--backend`).
    pub table: RouteTable,
    pub operations: Vec<Operation>,
    pub jwt: JwtPlan,
    /// `control.json`, when quotas are declared or a Service Control URL is given.
    pub control: Option<ControlConfig>,
    pub service_control: Option<ServiceControlPlan>,
    /// IAM for backend ID tokens, kept only when some operation has backend auth.
    pub iam: Option<IamPlan>,
    /// Where ID and access tokens come from, when anything needs one.
    pub id_token_source: Option<IdTokenSource>,
}

/// Plans the whole service from the specs every reader produced.
pub fn plan_service(
    specs: &[Spec],
    flags: &Flags,
    options: &CompileOptions,
) -> Result<ServicePlan, Diagnostics> {
    let (table, service) = plan_routes(specs, flags, options)?;
    let jwt = plan_providers(specs, &options.jwt)?;
    let mut operations = service.operations;
    if options.ignore_jwt_scopes {
        let requirements = operations.iter_mut().filter_map(|o| o.security.as_mut());
        for alternative in requirements.flat_map(|s| s.alternatives.iter_mut()) {
            alternative.jwt.iter_mut().for_each(|j| j.scopes.clear());
        }
    }
    let control = plan_control(specs, &service.service_name, &service.metric_costs, options)?;
    let service_control = plan_service_control(
        specs,
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
    let iam = flags.iam.clone().filter(|_| has_backend_auth);
    let id_token_source = needs_tokens.then(|| IdTokenSource {
        authority: flags.metadata.authority(),
        iam: iam.as_ref().map(|plan| plan.tokens.clone()),
        ..IdTokenSource::gcp(METADATA_CLUSTER)
    });
    Ok(ServicePlan {
        service_name: service.service_name,
        table,
        operations,
        jwt,
        control,
        service_control,
        iam,
        id_token_source,
    })
}

/// Every operation's route, path translation and backend auth, and the operations of all
/// files with their cross-file checks.
fn plan_routes(
    specs: &[Spec],
    flags: &Flags,
    options: &CompileOptions,
) -> Result<(RouteTable, crate::operations::ServiceOperations), Diagnostics> {
    let backend = &flags.backend;
    let mut table = RouteTable::new();
    // A sidecar on loopback keeps the client's Host; a remote --backend gets its own.
    let flag_host = (!backend.is_loopback()).then(|| backend.authority());
    // r0: the --backend with the default deadline, present in every config.
    table.route_to(backend, DEFAULT_DEADLINE_MS, flag_host.clone());
    let service = collect_operations(specs, &mut |spec: &Spec, op: Option<&SpecOperation>| {
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
    Ok((table, service))
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

/// The control config when any file has `x-google-management`, or when a Service Control
/// endpoint is given: `wasp-control serve --config` needs it to know the service even when
/// only API keys are checked (without one it answers every Check 404).
fn plan_control(
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
