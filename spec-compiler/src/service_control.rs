//! API keys, quotas and reports: `--service-control-*` options plus the spec's apiKey
//! schemes, `security` and `x-google-quota` -> `FilterConfig.service_control`.
//!
//! - Per operation, as api-compiler and ESPv2 compute it: a key is required only when every
//!   `security` alternative names an apiKey scheme; the schemes an operation names give the
//!   key locations (`in: query, name: key` alone stands for ESPv2's defaults); the
//!   `x-google-quota.metricCosts` are sent with AllocateQuota.
//! - apiKey scheme names are service-wide, like JWT providers: two files may define one name
//!   only with the same location.
//! - Without `--service-control-url` nothing could check a key or count a quota, so a spec
//!   that accepts keys (in any alternative) or charges quota is rejected rather than served open. With it, every request is
//!   reported (ESPv2 reports 404/405 too).

use crate::backend::Backend;
use crate::errors::{Diagnostic, Diagnostics};
use crate::management::OperationQuota;
use crate::model::Spec;
use crate::model::{ApiKeyLocation, SchemeKind};
use crate::pointer::Pointer;
use clap::{Args, ValueEnum};
use wasp_config::service_control::{
    CallSettings, CheckCacheSettings, ControlClientConfig, Endpoint, FailPolicy, KeyLocation,
    OperationControl, QuotaSettings, ReportBatchSettings,
};
use wasp_config::{Operation, SecurityRequirement};

/// Envoy cluster of the Service Control endpoint.
pub const SERVICE_CONTROL_CLUSTER: &str = "wasp-service-control";

/// ESPv2's `--service_control_*` options, under wasp's names.
#[derive(Debug, Clone, Args)]
pub struct ServiceControlFlags {
    /// Service Control endpoint that checks API keys, allocates quota and takes reports:
    /// a wasp-control server (http[s]://host:port[/prefix]) or https://servicecontrol.googleapis.com.
    /// Required when an operation needs an API key or has x-google-quota.
    #[arg(long, value_name = "URL")]
    pub service_control_url: Option<String>,
    /// What a request gets when Service Control cannot be reached: open (go on, ESPv2's
    /// default) or closed (503).
    #[arg(long, value_enum, default_value_t = FailPolicyFlag::Open)]
    pub service_control_fail_policy: FailPolicyFlag,
    /// Bearer token sent to Service Control (wasp-control's --control-token).
    #[arg(long, value_name = "TOKEN", env = "WASP_SERVICE_CONTROL_TOKEN")]
    pub service_control_token: Option<String>,
    /// Send an OAuth access token from the metadata server (--metadata-url), as ESPv2 does on
    /// GCP: auto = only for a *.googleapis.com URL.
    #[arg(long, value_enum, default_value_t = AccessTokenFlag::Auto)]
    pub service_control_access_token: AccessTokenFlag,
    /// Check call timeout (ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub service_control_check_timeout_ms: u64,
    /// Check retries after a network failure.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub service_control_check_retries: u32,
    /// AllocateQuota call timeout (ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub service_control_quota_timeout_ms: u64,
    /// AllocateQuota retries after a network failure.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub service_control_quota_retries: u32,
    /// Report call timeout (ms).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub service_control_report_timeout_ms: u64,
    /// Report retries after a network failure.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub service_control_report_retries: u32,
    /// How long a Check answer (key valid, or refused) is reused before the key is checked
    /// again, in seconds (ESPv2: 60). A revoked key keeps working this long; 0 checks every
    /// request (an older answer still serves while the endpoint is down).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub service_control_check_cache_seconds: u64,
    /// Remove the API key (its header or query parameter) before the request reaches the backend.
    #[arg(long)]
    pub remove_api_key: bool,
    /// Speak HTTP/2 to the Service Control endpoint (h2c for http://, ALPN h2 for https://),
    /// so one connection carries a worker's concurrent calls; wasp-control serves both.
    #[arg(long)]
    pub service_control_http2: bool,
    /// Directory with client.crt and client.key (PEM, as Envoy sees the path) that an https
    /// Service Control endpoint gets as this gateway's client certificate (wasp-control
    /// --tls-client-ca).
    #[arg(long, value_name = "DIR")]
    pub service_control_client_cert_path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AccessTokenFlag {
    #[default]
    Auto,
    Metadata,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum FailPolicyFlag {
    #[default]
    Open,
    Closed,
}

/// The command line's defaults (ESPv2's), for callers that do not parse one.
impl Default for ServiceControlFlags {
    fn default() -> Self {
        ServiceControlFlags {
            service_control_url: None,
            service_control_fail_policy: FailPolicyFlag::Open,
            service_control_token: None,
            service_control_access_token: AccessTokenFlag::Auto,
            service_control_check_timeout_ms: 1000,
            service_control_check_retries: 3,
            service_control_quota_timeout_ms: 1000,
            service_control_quota_retries: 1,
            service_control_report_timeout_ms: 2000,
            service_control_report_retries: 5,
            service_control_check_cache_seconds: 60,
            remove_api_key: false,
            service_control_http2: false,
            service_control_client_cert_path: None,
        }
    }
}

impl ServiceControlFlags {
    /// What the config hash must cover.
    pub fn hashed(&self) -> String {
        format!("{self:?}")
    }
}

/// The service-control block and the cluster it needs.
#[derive(Debug, Clone)]
pub struct ServiceControlPlan {
    pub config: ControlClientConfig,
    pub backend: Backend,
}

/// Plans `FilterConfig.service_control`. `operations` are the compiled operations (names and
/// effective `security`) and their costs.
pub fn plan_service_control(
    specs: &[Spec],
    operations: &[Operation],
    metric_costs: &[OperationQuota],
    service_name: &str,
    producer_project: Option<String>,
    flags: &ServiceControlFlags,
) -> Result<Option<ServiceControlPlan>, Diagnostics> {
    let mut problems = Diagnostics::new();
    let schemes = api_key_schemes(specs, &mut problems);
    let Some(url) = &flags.service_control_url else {
        problems.extend(needs_service_control(specs, metric_costs));
        return if problems.is_empty() {
            Ok(None)
        } else {
            Err(problems)
        };
    };
    let (backend, path_prefix) = match Backend::parse_with_path(url) {
        Ok((backend, prefix)) => (
            Backend {
                http2: flags.service_control_http2,
                ..backend
            },
            prefix,
        ),
        Err(e) => {
            problems.push(Diagnostic::option("--service-control-url", e));
            return Err(problems);
        }
    };
    if flags.service_control_client_cert_path.is_some() && !backend.tls {
        problems.push(Diagnostic::option(
            "--service-control-client-cert-path",
            format!("a client certificate is presented over TLS, but {url} is not https; use an https:// --service-control-url or drop the option"),
        ));
    }
    let metadata_access_token = match flags.service_control_access_token {
        AccessTokenFlag::Metadata => true,
        AccessTokenFlag::None => false,
        AccessTokenFlag::Auto => {
            backend.host == "googleapis.com" || backend.host.ends_with(".googleapis.com")
        }
    };
    if metadata_access_token && flags.service_control_token.is_some() {
        problems.push(Diagnostic::option(
            "--service-control-token",
            "both a static token and the metadata server's access token would authorize Service Control calls; drop --service-control-token, or pass --service-control-access-token none",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let producer_project_id = match producer_project {
        Some(project) => project,
        None if metric_costs.is_empty() => String::new(),
        None => {
            return Err(vec![Diagnostic::option(
                "--producer-project-id",
                format!("calls without an API key are charged to the service's own project, which cannot be read from host {service_name:?}; pass --producer-project-id <your project id>"),
            )])
        }
    };
    let mut controls = Vec::new();
    for op in operations {
        let alternatives = key_alternatives(op.security.as_ref(), &schemes);
        let requirement = wasp_control_client::requiredness::key_requirement(&alternatives);
        let costs = metric_costs
            .iter()
            .find(|quota| quota.operation == op.name)
            .map(|quota| {
                quota
                    .costs
                    .iter()
                    .map(|(m, (c, _))| (m.clone(), *c))
                    .collect()
            })
            .unwrap_or_default();
        let control = OperationControl {
            name: op.name.clone(),
            api_key_required: requirement.required,
            api_key_locations: requirement.locations,
            metric_costs: costs,
        };
        // An operation with nothing to check keeps the defaults (reported, no Check).
        if control.api_key_required
            || !control.api_key_locations.is_empty()
            || !control.metric_costs.is_empty()
        {
            controls.push(control);
        }
    }
    let call = |timeout_ms, retries| CallSettings {
        timeout_ms,
        retries,
    };
    let config = ControlClientConfig {
        service_name: service_name.to_string(),
        // Set to the config hash once it is known.
        service_config_id: String::new(),
        producer_project_id,
        endpoint: Endpoint {
            cluster: SERVICE_CONTROL_CLUSTER.to_string(),
            authority: backend.authority(),
            path_prefix,
            bearer_token: flags.service_control_token.clone(),
            metadata_access_token,
        },
        network_fail_policy: match flags.service_control_fail_policy {
            FailPolicyFlag::Open => FailPolicy::Open,
            FailPolicyFlag::Closed => FailPolicy::Closed,
        },
        check: call(
            flags.service_control_check_timeout_ms,
            flags.service_control_check_retries,
        ),
        quota: call(
            flags.service_control_quota_timeout_ms,
            flags.service_control_quota_retries,
        ),
        report: call(
            flags.service_control_report_timeout_ms,
            flags.service_control_report_retries,
        ),
        check_cache: CheckCacheSettings {
            fresh_secs: flags.service_control_check_cache_seconds,
            ..CheckCacheSettings::default()
        },
        quota_settings: QuotaSettings::default(),
        report_batch: ReportBatchSettings::default(),
        generated_header_prefix: "X-Endpoint-".to_string(),
        remove_api_key: flags.remove_api_key,
        failure_log_interval_secs: 60,
        service_agent: concat!("wasp/", env!("CARGO_PKG_VERSION")).to_string(),
        operations: controls,
    };
    Ok(Some(ServiceControlPlan { config, backend }))
}

/// Every file's apiKey schemes by name; a name defined twice with different locations is an error.
fn api_key_schemes(specs: &[Spec], problems: &mut Diagnostics) -> Vec<(String, KeyLocation)> {
    let mut schemes: Vec<(String, KeyLocation, &str)> = Vec::new();
    for spec in specs {
        for scheme in &spec.schemes {
            let SchemeKind::ApiKey(location) = &scheme.kind else {
                continue;
            };
            let location = match location {
                ApiKeyLocation::Query(name) => KeyLocation::Query(name.clone()),
                ApiKeyLocation::Header(name) => KeyLocation::Header(name.clone()),
            };
            match schemes.iter().find(|(name, _, _)| *name == scheme.name) {
                Some((_, existing, file)) if *existing != location => {
                    problems.push(Diagnostic::new(
                        &spec.file,
                        &scheme.pointer,
                        format!(
                            "scheme {:?} is also defined in {file} with another location; the files describe one service, so give the schemes different names or the same in/name",
                            scheme.name
                        ),
                    ));
                }
                Some(_) => {}
                None => schemes.push((scheme.name.clone(), location, &spec.file)),
            }
        }
    }
    schemes
        .into_iter()
        .map(|(name, location, _)| (name, location))
        .collect()
}

/// The alternatives of `security` as `requiredness` reads them.
fn key_alternatives(
    security: Option<&SecurityRequirement>,
    schemes: &[(String, KeyLocation)],
) -> Vec<Vec<wasp_control_client::requiredness::Scheme>> {
    use wasp_control_client::requiredness::Scheme;
    let Some(security) = security else {
        return Vec::new();
    };
    security
        .alternatives
        .iter()
        .map(|alternative| {
            let keys = alternative.api_keys.iter().filter_map(|name| {
                schemes
                    .iter()
                    .find(|(scheme, _)| scheme == name)
                    .map(|(_, location)| Scheme::ApiKey(location.clone()))
            });
            let jwts = alternative.jwt.iter().map(|_| Scheme::Other);
            keys.chain(jwts).collect()
        })
        .collect()
}

/// Without a Service Control endpoint: every operation that requires a key, and every quota.
fn needs_service_control(specs: &[Spec], metric_costs: &[OperationQuota]) -> Diagnostics {
    let fix = "pass --service-control-url with a wasp-control server (see control-service/README.md) or https://servicecontrol.googleapis.com, or remove the requirement";
    let mut problems = Diagnostics::new();
    for spec in specs {
        let is_key = |name: &String| {
            spec.schemes
                .iter()
                .any(|s| s.name == *name && matches!(s.kind, SchemeKind::ApiKey(_)))
        };
        // Any alternative with a key: a request without a JWT is let in by its key alone.
        let names_key = |security: &SecurityRequirement| {
            security
                .alternatives
                .iter()
                .any(|a| a.api_keys.iter().any(is_key))
        };
        if spec.security.as_ref().is_some_and(names_key) {
            // Reported once for the file: every operation that inherits it is affected.
            let inherited = spec
                .paths
                .iter()
                .flat_map(|p| &p.operations)
                .any(|op| op.security.is_none());
            if inherited {
                problems.push(Diagnostic::new(
                    &spec.file,
                    &Pointer::root().child("security"),
                    format!("this security accepts API keys, which only a Service Control endpoint can check; {fix}"),
                ));
            }
        }
        for op in spec.paths.iter().flat_map(|p| &p.operations) {
            if let Some(Some(security)) = &op.security {
                if names_key(security) {
                    problems.push(Diagnostic::new(
                        &spec.file,
                        &op.pointer.child("security"),
                        format!("this operation accepts API keys, which only a Service Control endpoint can check; {fix}"),
                    ));
                }
            }
        }
    }
    for OperationQuota {
        file,
        operation,
        costs,
        ..
    } in metric_costs
    {
        if let Some((_, at)) = costs.values().next() {
            problems.push(Diagnostic::new(
                file,
                at,
                format!("{operation} charges quota, which only a Service Control endpoint can count; {fix}"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::swagger2::read_swagger2 as read_spec;

    fn spec(file: &str, yaml: &str) -> Spec {
        let document: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        read_spec(file, &document).unwrap()
    }

    /// The operations as `collect_operations` names them, each with its effective security.
    fn operations(spec: &Spec) -> Vec<Operation> {
        spec.paths
            .iter()
            .flat_map(|p| &p.operations)
            .map(|op| Operation {
                name: format!("1.api.{}", op.operation_id.clone().unwrap_or_default()),
                method: "GET".into(),
                template: "/".into(),
                route: "r0".into(),
                allow_all: false,
                path_translation: None,
                backend_auth: None,
                security: op.security.clone().unwrap_or_else(|| spec.security.clone()),
            })
            .collect()
    }

    const SPEC: &str = r#"
swagger: "2.0"
host: shop.endpoints.p.cloud.goog
securityDefinitions:
  api_key: {type: apiKey, name: key, in: query}
  shop_key: {type: apiKey, name: x-shop-key, in: header}
  idp: {type: oauth2, flow: implicit, authorizationUrl: "", x-google-issuer: "https://idp.example", x-google-jwks_uri: "https://idp.example/jwks"}
security: [{api_key: []}]
paths:
  /a: {get: {operationId: inherits}}
  /b: {get: {operationId: keyOrJwt, security: [{api_key: []}, {idp: []}]}}
  /c: {get: {operationId: keyAndJwt, security: [{shop_key: [], idp: []}]}}
  /d: {get: {operationId: open, security: []}}
"#;

    fn flags(url: &str) -> ServiceControlFlags {
        ServiceControlFlags {
            service_control_url: Some(url.into()),
            ..ServiceControlFlags::default()
        }
    }

    fn plan(url: &str) -> ServiceControlPlan {
        let spec = spec("api.yaml", SPEC);
        plan_service_control(
            std::slice::from_ref(&spec),
            &operations(&spec),
            &[],
            "shop.endpoints.p.cloud.goog",
            Some("p".into()),
            &flags(url),
        )
        .unwrap()
        .unwrap()
    }

    /// Plans one spec as service "s" with no producer project.
    fn plan_one(
        spec: &Spec,
        flags: &ServiceControlFlags,
    ) -> Result<Option<ServiceControlPlan>, Diagnostics> {
        plan_service_control(
            std::slice::from_ref(spec),
            &operations(spec),
            &[],
            "s",
            None,
            flags,
        )
    }

    #[test]
    fn keys_are_required_only_when_every_alternative_names_one() {
        let config = plan("http://127.0.0.1:8790").config;
        let op = |name: &str| config.operation(&format!("1.api.{name}")).cloned();
        let inherits = op("inherits").unwrap();
        assert!(inherits.api_key_required);
        assert!(
            inherits.api_key_locations.is_empty(),
            "query key = defaults"
        );
        // apiKey OR JWT: the key is optional and no Check is made (ESPv2).
        assert!(op("keyOrJwt").is_none());
        let both = op("keyAndJwt").unwrap();
        assert!(both.api_key_required);
        assert_eq!(
            both.api_key_locations,
            vec![KeyLocation::Header("x-shop-key".into())]
        );
        assert!(op("open").is_none());
    }

    #[test]
    fn the_endpoint_comes_from_the_url() {
        let config = plan("https://control.example.com:8443/sc/").config;
        assert_eq!(config.endpoint.cluster, SERVICE_CONTROL_CLUSTER);
        assert_eq!(config.endpoint.authority, "control.example.com:8443");
        assert_eq!(config.endpoint.path_prefix, "/sc");
        assert!(!config.endpoint.metadata_access_token);
        assert_eq!(config.network_fail_policy, FailPolicy::Open);
        assert_eq!((config.check.timeout_ms, config.check.retries), (1000, 3));
    }

    #[test]
    fn googles_service_gets_the_metadata_access_token() {
        let google = plan("https://servicecontrol.googleapis.com").config;
        assert!(google.endpoint.metadata_access_token);
        assert_eq!(google.endpoint.authority, "servicecontrol.googleapis.com");
        let spec = spec("api.yaml", SPEC);
        let both = ServiceControlFlags {
            service_control_token: Some("t".into()),
            ..flags("https://servicecontrol.googleapis.com")
        };
        let problems = plan_one(&spec, &both).unwrap_err();
        assert!(problems[0].to_string().contains("--service-control-token"));
        let none = ServiceControlFlags {
            service_control_access_token: AccessTokenFlag::None,
            ..both
        };
        let config = plan_one(&spec, &none).unwrap().unwrap().config;
        assert!(!config.endpoint.metadata_access_token);
        assert_eq!(config.endpoint.bearer_token.as_deref(), Some("t"));
    }

    #[test]
    fn a_client_certificate_needs_an_https_endpoint() {
        let spec = spec("api.yaml", SPEC);
        let with_cert = |url: &str| ServiceControlFlags {
            service_control_client_cert_path: Some("/etc/wasp/control-client".into()),
            ..flags(url)
        };
        let problems = plan_one(&spec, &with_cert("http://127.0.0.1:8790")).unwrap_err();
        let shown = problems[0].to_string();
        assert!(
            shown.contains("--service-control-client-cert-path") && shown.contains("not https"),
            "{shown}"
        );
        assert!(plan_one(&spec, &with_cert("https://control.internal:8790")).is_ok());
    }

    #[test]
    fn without_an_endpoint_keys_are_rejected_where_they_are_written() {
        let spec = spec("api.yaml", SPEC);
        let problems = plan_one(&spec, &ServiceControlFlags::default()).unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with("api.yaml: /security: "), "{shown:?}");
        // A key or a JWT: without a JWT the key decides, so it must be checkable too.
        assert!(
            shown[1].starts_with("api.yaml: /paths/~1b/get/security: "),
            "{shown:?}"
        );
        assert!(
            shown[2].starts_with("api.yaml: /paths/~1c/get/security: "),
            "{shown:?}"
        );
        assert!(shown[2].contains("--service-control-url"));
        let open = spec_without_keys();
        assert!(plan_one(&open, &ServiceControlFlags::default())
            .unwrap()
            .is_none());
    }

    fn spec_without_keys() -> Spec {
        spec(
            "open.yaml",
            "swagger: '2.0'\nhost: s\nsecurityDefinitions: {k: {type: apiKey, name: key, in: query}}\npaths:\n  /x: {get: {operationId: x, security: []}}\n  /y: {get: {operationId: y}}\n",
        )
    }

    #[test]
    fn a_key_scheme_means_one_location_across_files() {
        let a = spec("api.yaml", SPEC);
        let b = spec(
            "b.yaml",
            "swagger: '2.0'\nhost: s\nsecurityDefinitions: {api_key: {type: apiKey, name: x-api-key, in: header}}\npaths: {}\n",
        );
        let problems = plan_service_control(
            &[a.clone(), b],
            &operations(&a),
            &[],
            "s",
            None,
            &flags("http://127.0.0.1:8790"),
        )
        .unwrap_err();
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with("b.yaml: /securityDefinitions/api_key: scheme \"api_key\" is also defined in api.yaml"),
            "{shown}"
        );
    }
}
