//! The filter configuration: what `wasp compile` writes and the wasm filter reads.
//!
//! One definition for both sides. The JSON is the contract between them, so every
//! type here is plain serde data with no behaviour beyond parsing and validation
//! helpers that both sides need (path templates).

pub mod auth;
pub mod backend;
pub mod control;
pub mod metrics;
pub mod service_control;
pub mod struct_numbers;
pub mod template;

use serde::{Deserialize, Serialize};

pub use auth::{
    Alternative, JwksCluster, JwksSource, JwtRequirement, Provider, SecurityRequirement,
    TokenLocation,
};
pub use backend::{BackendAuth, IamIdTokens, IdTokenSource, PathTranslation, ACCESS_TOKEN_KEY};
pub use template::{PathTemplate, Segment, TemplateError, Variable};

/// Bumped when a change to this schema is not backwards compatible.
pub const SCHEMA_VERSION: u32 = 1;

/// Request header the filter sets to pick the Envoy route (and so the backend
/// cluster). Routes in the generated bootstrap match on it, so later header or
/// path rewrites by the filter cannot re-route the request. The filter always
/// removes a client-sent copy; the route removes it before the backend sees it.
pub const ROUTE_HEADER: &str = "x-wasp-route";

/// Prefix of every header that only the filter may set. Client-sent headers with
/// this prefix are dropped before any decision is made.
pub const INTERNAL_HEADER_PREFIX: &str = "x-wasp-";

/// Filter-state property (Envoy `set_property`) that carries the matched
/// operation's name; Envoy exposes it to access logs as
/// `%FILTER_STATE(wasm.wasp.operation:PLAIN)%`.
pub const OPERATION_PROPERTY: &str = "wasp.operation";
/// Filter state the filter writes when it answers a request itself: the reason, one word
/// (`jwt_missing`, `quota_exceeded`, ...), for the access log (`wasm.wasp.denial`).
pub const DENIAL_PROPERTY: &str = "wasp.denial";
/// Filter state naming the consumer once Service Control identified it
/// (`project:<number>`), for the access log (`wasm.wasp.consumer`).
pub const CONSUMER_PROPERTY: &str = "wasp.consumer";
/// Filter state with the time the gateway's stages held a request (`jwt=0 control=3
/// id_token=0 ms`), for the trace span's `wasp.stages` tag (`wasm.wasp.stages`).
pub const STAGES_PROPERTY: &str = "wasp.stages";

/// How requests are held while the dependencies have not answered yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyGate {
    /// `--healthz`: Envoy's health check runs after the filter in this mode, so the filter
    /// answers the probe 503 until ready and passes it through after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// The whole compiled configuration handed to the filter (as a JSON string in
/// the Envoy `PluginConfig.configuration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterConfig {
    /// Schema version; the filter rejects a config it does not understand.
    pub version: u32,
    /// Content hash of the compiler inputs (spec files + options). Namespaces
    /// shared data so that a new config never reads an old config's state.
    pub config_hash: String,
    /// The service name (`host` of the spec).
    pub service_name: String,
    /// Every operation of every spec file, in spec order.
    pub operations: Vec<Operation>,
    /// Upstream routes the filter can select by setting [`ROUTE_HEADER`].
    pub routes: Vec<Route>,
    /// Where backend-auth ID tokens come from; required when any operation has `backend_auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_source: Option<IdTokenSource>,
    /// A CORS preset is configured (Envoy's CORS filter answers valid preflights
    /// first), so an OPTIONS request no operation matches gets ESPv2's 400.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reject_unmatched_preflight: bool,
    /// The listener's HTTP connection manager uses the connection's remote address, so
    /// Envoy writes `x-envoy-external-address` itself and the filter keeps it (otherwise a
    /// client-sent copy is removed).
    #[serde(default, skip_serializing_if = "is_false")]
    pub envoy_sets_external_address: bool,
    /// Send the matched operation's name to the backend in
    /// `X-Endpoint-Api-Operation-Name` (ESPv2's `--enable_operation_name_header`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub send_operation_name: bool,
    /// Prefix of the headers the gateway generates for the backend (`<prefix>API-UserInfo`,
    /// `<prefix>API-Consumer-Type/-Number`, `<prefix>Api-Operation-Name`); ESPv2's
    /// `--generated_header_prefix`.
    #[serde(
        default = "default_generated_header_prefix",
        skip_serializing_if = "is_default_generated_header_prefix"
    )]
    pub generated_header_prefix: String,
    /// ESPv2's `--disable_jwt_audience_service_name_check`: a requirement with no audiences
    /// configured accepts any `aud` instead of requiring `https://<service name>`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jwt_no_default_audience: bool,
    /// ESPv2's `--jwt_pad_forward_payload_header`: the user-info header is padded base64url.
    #[serde(default, skip_serializing_if = "is_false")]
    pub jwt_pad_userinfo: bool,
    /// ESPv2's `--client_ip_from_forwarded_header`: the Service Control caller IP is the
    /// first `Forwarded: for=` when the request has one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub client_ip_from_forwarded: bool,
    /// Set when the HCM does not use the connection's address (ESPv2's default): Envoy takes
    /// the client from `X-Forwarded-For`, skipping this many entries from the right
    /// (`xff_num_trusted_hops`), so the filter can read the caller from the head as Envoy did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xff_trusted_hops: Option<u32>,
    /// ESPv2's `--dependency_error_behavior=BLOCK_INIT_ON_ANY_ERROR`: until every JWT
    /// provider's keys and every token the config needs have arrived once, requests get 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_dependencies: Option<DependencyGate>,
    /// ESPv2's `--disallow_colon_in_wildcard_path_segment`: `*`/`**` match no `:`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disallow_colon_in_wildcard: bool,
    /// JWT providers (securityDefinitions with `x-google-issuer`), referenced by id
    /// from operations' `security`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<Provider>,
    /// Clusters for the providers' key and discovery fetches, by URL origin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwks_clusters: Vec<JwksCluster>,
    /// API keys, quotas and reports through a Service Control endpoint; `None`: no key
    /// checks, no quotas, no reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_control: Option<service_control::ControlClientConfig>,
    /// Per-operation metrics as Envoy stats ([`metrics`]); `None`: none recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<metrics::MetricsConfig>,
    /// Envoy traces requests (`--tracing`): the filter records its stages' timings in
    /// [`STAGES_PROPERTY`] for the span.
    #[serde(default, skip_serializing_if = "is_false")]
    pub trace_stages: bool,
    /// Set when Envoy runs the routes `wasp compile` wrote (its bootstrap, which the compose
    /// stack and the sidecar run too); `None` under a control plane's routes (Istio, Envoy
    /// Gateway), where the filter pins every request and strips client headers itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_routes: Option<OwnRoutes>,
}

/// What the routes of the bootstrap `wasp compile` writes do for the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnRoutes {
    /// The route that serves a request without [`ROUTE_HEADER`], on every path: its
    /// operations need no route header, so the filter sets none and Envoy chooses their
    /// route once instead of again after a header change. The route with the most operations.
    pub default_route: String,
}

/// One API operation: an HTTP method on a path template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Fully qualified name, as ESPv2 reports it: `1.<api>.<OperationId>`.
    pub name: String,
    /// Upper-case HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// Path template including basePath, as written in the spec
    /// (`/v1/shelves/{shelf}`, `/files/{path=**}`).
    pub template: String,
    /// Id of the [`Route`] requests for this operation go to.
    pub route: String,
    /// Synthesised by `x-google-allow: all` rather than written in the spec.
    /// Such operations never turn an unknown path into a 405.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_all: bool,
    /// How to rewrite the path for the backend; `None` forwards it as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_translation: Option<PathTranslation>,
    /// Attach an ID token for this audience (x-google-backend without disable_auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_auth: Option<BackendAuth>,
    /// The operation's `security` (or the spec's top-level one); `None`: not secured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityRequirement>,
}

/// An upstream destination, one Envoy route (matched on [`ROUTE_HEADER`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Value of [`ROUTE_HEADER`] that selects this route. Short and opaque.
    pub id: String,
    /// Envoy cluster name the route forwards to.
    pub cluster: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// ESPv2's default `--generated_header_prefix`.
pub const DEFAULT_GENERATED_HEADER_PREFIX: &str = "X-Endpoint-";

fn default_generated_header_prefix() -> String {
    DEFAULT_GENERATED_HEADER_PREFIX.to_string()
}

fn is_default_generated_header_prefix(prefix: &str) -> bool {
    prefix == DEFAULT_GENERATED_HEADER_PREFIX
}

/// An empty config of this schema version (nothing to match, every option off), to be
/// filled in with `..FilterConfig::default()`.
impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            version: SCHEMA_VERSION,
            config_hash: String::new(),
            service_name: String::new(),
            operations: Vec::new(),
            routes: Vec::new(),
            id_token_source: None,
            reject_unmatched_preflight: false,
            envoy_sets_external_address: false,
            send_operation_name: false,
            generated_header_prefix: default_generated_header_prefix(),
            jwt_no_default_audience: false,
            jwt_pad_userinfo: false,
            client_ip_from_forwarded: false,
            xff_trusted_hops: None,
            wait_for_dependencies: None,
            disallow_colon_in_wildcard: false,
            providers: Vec::new(),
            jwks_clusters: Vec::new(),
            service_control: None,
            metrics: None,
            trace_stages: false,
            own_routes: None,
        }
    }
}

impl FilterConfig {
    /// Every Envoy cluster the filter names (routes, JWKS, ID tokens, IAM, Service
    /// Control), renamed by `rename`: a control plane other than wasp's bootstrap names
    /// its clusters its own way (Istio: `outbound|PORT||HOST`).
    pub fn rename_clusters(&mut self, rename: impl Fn(&str) -> String) {
        let mut names: Vec<&mut String> = Vec::new();
        names.extend(self.routes.iter_mut().map(|r| &mut r.cluster));
        names.extend(self.jwks_clusters.iter_mut().map(|j| &mut j.cluster));
        if let Some(source) = &mut self.id_token_source {
            names.push(&mut source.cluster);
            if let Some(iam) = &mut source.iam {
                names.push(&mut iam.cluster);
            }
        }
        if let Some(control) = &mut self.service_control {
            names.push(&mut control.endpoint.cluster);
        }
        for name in names {
            *name = rename(name);
        }
    }

    /// Parses and checks a compiled config ([`FilterConfig::parse`], then
    /// [`FilterConfig::validate`]).
    pub fn from_json(bytes: &[u8]) -> Result<FilterConfig, String> {
        let config = FilterConfig::parse(bytes)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a config's JSON (integers that a protobuf Struct turned into doubles too)
    /// without checking it; for a caller that validates next, as `Gateway::build` does.
    pub fn parse(bytes: &[u8]) -> Result<FilterConfig, String> {
        let mut value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("filter config is not valid JSON: {e}"))?;
        struct_numbers::integers_from_doubles(&mut value);
        serde_json::from_value(value)
            .map_err(|e| format!("filter config is not valid JSON for this schema: {e}"))
    }

    /// Everything the filter refuses in a config, checked in one place: the filter runs it
    /// when Envoy hands it a config (`Gateway::build`), and the compiler on what it wrote, so a
    /// compiled config is never refused at Envoy's start.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != SCHEMA_VERSION {
            return Err(format!(
                "filter config schema version {} is not supported (this filter reads version {SCHEMA_VERSION}); recompile the spec with a matching `wasp`",
                self.version
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for route in &self.routes {
            if !ids.insert(route.id.as_str()) {
                return Err(format!("route id {:?} appears twice", route.id));
            }
        }
        let mut providers = std::collections::HashSet::new();
        for provider in &self.providers {
            if !providers.insert(provider.id.as_str()) {
                return Err(format!("provider id {:?} appears twice", provider.id));
            }
            if let JwksSource::Uri(uri) = &provider.jwks {
                if auth::fetch_request(&self.jwks_clusters, uri).is_none() {
                    return Err(format!(
                        "provider {:?}: no jwks_clusters entry serves the origin of its jwks_uri {uri:?}",
                        provider.id
                    ));
                }
            }
        }
        if let Some(control) = &self.service_control {
            control.validate()?;
            if control.endpoint.metadata_access_token && self.id_token_source.is_none() {
                return Err("service_control takes its access token from the metadata server, but the config has no id_token_source".into());
            }
            if let Some(unknown) = control
                .operations
                .iter()
                .find(|c| !self.operations.iter().any(|op| op.name == c.name))
            {
                return Err(format!(
                    "service_control configures operation {}, which the config does not have",
                    unknown.name
                ));
            }
        }
        for op in &self.operations {
            let names_keys = op
                .security
                .iter()
                .flat_map(|s| &s.alternatives)
                .any(|a| !a.api_keys.is_empty());
            if names_keys && self.service_control.is_none() {
                return Err(format!(
                    "operation {} accepts API keys but the config has no service_control to check them",
                    op.name
                ));
            }
            for alternative in op.security.iter().flat_map(|s| &s.alternatives) {
                if let Some(jwt) = alternative
                    .jwt
                    .iter()
                    .find(|jwt| !providers.contains(jwt.provider.as_str()))
                {
                    return Err(format!(
                        "operation {} requires unknown JWT provider {:?}; add it to providers",
                        op.name, jwt.provider
                    ));
                }
            }
            if !ids.contains(op.route.as_str()) {
                return Err(format!(
                    "operation {} points at unknown route {:?}",
                    op.name, op.route
                ));
            }
            PathTemplate::parse(&op.template).map_err(|e| format!("operation {}: {e}", op.name))?;
            match &op.backend_auth {
                Some(_) if self.id_token_source.is_none() => {
                    return Err(format!(
                        "operation {} needs backend ID tokens but the config has no id_token_source",
                        op.name
                    ));
                }
                Some(auth) if auth.audience.is_empty() => {
                    return Err(format!(
                        "operation {} has backend auth with an empty audience",
                        op.name
                    ));
                }
                _ => {}
            }
            let backend_path = match &op.path_translation {
                Some(PathTranslation::ConstantAddress { path }) => Some(path),
                Some(PathTranslation::AppendPathToAddress { prefix }) => Some(prefix),
                None => None,
            };
            if let Some(p) = backend_path.filter(|p| !p.starts_with('/') || p.contains(['?', '#']))
            {
                return Err(format!(
                    "operation {}: backend path {p:?} must start with '/' and have no query or fragment",
                    op.name
                ));
            }
        }
        if let Some(own) = &self.own_routes {
            if !ids.contains(own.default_route.as_str()) {
                return Err(format!(
                    "own_routes.default_route {:?} is not a route id",
                    own.default_route
                ));
            }
        }
        if let Some(source) = &self.id_token_source {
            if source.timeout_ms == 0 {
                // Envoy treats a zero callout timeout as "no timeout".
                return Err("id_token_source.timeout_ms must be above 0".into());
            }
            if !source.path.starts_with('/') {
                return Err(format!(
                    "id_token_source.path {:?} must start with '/'",
                    source.path
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_whose_integers_went_through_a_protobuf_struct_reads_the_same() {
        let config = FilterConfig {
            routes: vec![Route {
                id: "r0".into(),
                cluster: "backend".into(),
            }],
            id_token_source: Some(IdTokenSource::gcp("wasp-metadata")),
            ..FilterConfig::default()
        };
        let text = serde_json::to_string(&config).unwrap();
        let mut value = serde_json::to_value(&config).unwrap();
        every_number_a_double(&mut value);
        let as_doubles = value.to_string();
        assert!(as_doubles.contains("\"version\":1.0"), "{as_doubles}");
        let read = FilterConfig::from_json(as_doubles.as_bytes()).unwrap();
        assert_eq!(read, config);
        let fraction = text.replace("\"version\":1", "\"version\":1.5");
        assert!(FilterConfig::from_json(fraction.as_bytes())
            .unwrap_err()
            .contains("floating point `1.5`"));
    }

    #[test]
    fn validate_refuses_what_would_break_requests_for_the_compiler_and_the_filter_alike() {
        let with =
            |path_translation: Option<PathTranslation>, audience: Option<&str>| FilterConfig {
                routes: vec![Route {
                    id: "r0".into(),
                    cluster: "backend".into(),
                }],
                operations: vec![Operation {
                    name: "1.a.Get".into(),
                    method: "GET".into(),
                    template: "/a".into(),
                    route: "r0".into(),
                    allow_all: false,
                    path_translation,
                    backend_auth: audience.map(|a| BackendAuth { audience: a.into() }),
                    security: None,
                }],
                id_token_source: Some(IdTokenSource::gcp("wasp-metadata")),
                ..FilterConfig::default()
            };
        assert_eq!(with(None, Some("https://b")).validate(), Ok(()));
        let refused = |config: FilterConfig| {
            let text = serde_json::to_string(&config).unwrap();
            let from_json = FilterConfig::from_json(text.as_bytes()).unwrap_err();
            assert_eq!(config.validate().unwrap_err(), from_json);
            from_json
        };
        let prefix = PathTranslation::AppendPathToAddress {
            prefix: "api".into(),
        };
        assert!(refused(with(Some(prefix), None)).contains("must start with '/'"));
        let query = PathTranslation::ConstantAddress {
            path: "/a?b=c".into(),
        };
        assert!(refused(with(Some(query), None)).contains("no query or fragment"));
        assert!(refused(with(None, Some(""))).contains("empty audience"));
        let mut no_timeout = with(None, Some("https://b"));
        no_timeout.id_token_source.as_mut().unwrap().timeout_ms = 0;
        assert!(refused(no_timeout).contains("timeout_ms"));
    }

    /// What a protobuf Struct does to a JSON document.
    fn every_number_a_double(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Number(n) => {
                *n = serde_json::Number::from_f64(n.as_f64().unwrap()).unwrap();
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(every_number_a_double),
            serde_json::Value::Object(fields) => {
                fields.values_mut().for_each(every_number_a_double)
            }
            _ => {}
        }
    }

    #[test]
    fn rename_clusters_reaches_every_cluster_the_filter_calls() {
        let mut config = FilterConfig {
            routes: vec![Route {
                id: "r0".into(),
                cluster: "backend".into(),
            }],
            jwks_clusters: vec![JwksCluster {
                origin: "https://idp".into(),
                cluster: "jwks".into(),
            }],
            id_token_source: Some(IdTokenSource::gcp("wasp-metadata")),
            ..FilterConfig::default()
        };
        config.rename_clusters(|name| format!("outbound|80||{name}"));
        assert_eq!(config.routes[0].cluster, "outbound|80||backend");
        assert_eq!(config.jwks_clusters[0].cluster, "outbound|80||jwks");
        assert_eq!(
            config.id_token_source.unwrap().cluster,
            "outbound|80||wasp-metadata"
        );
    }
}
