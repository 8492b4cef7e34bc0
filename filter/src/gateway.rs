//! The configuration compiled once in `on_configure`: the matcher plus what
//! each operation does to a matched request, looked up by the matcher's index.

use crate::client_headers::GeneratedHeaders;
use crate::jwt_auth::JwtSettings;
use wasp_config::service_control::ControlClientConfig;
use wasp_config::{
    FilterConfig, IdTokenSource, JwksCluster, PathTemplate, PathTranslation, Provider,
    SecurityRequirement,
};

use crate::matcher::Matcher;
use crate::service_control::CallerSources;

/// Everything a request decision needs; immutable after [`Gateway::build`].
#[derive(Debug)]
pub struct Gateway {
    pub matcher: Matcher,
    /// Per operation, in configuration order (the matcher's `Target::index`).
    operations: Vec<OperationRules>,
    /// An OPTIONS request that matches no operation gets ESPv2's CORS 400.
    pub reject_unmatched_preflight: bool,
    /// The listener uses the connection's address: `x-envoy-external-address` is Envoy's.
    pub envoy_sets_external_address: bool,
    /// Send the operation name upstream in [`GeneratedHeaders::operation_name`].
    pub send_operation_name: bool,
    /// The names of the headers the gateway generates for the backend.
    pub generated: GeneratedHeaders,
    /// Requirements without audiences accept only `https://<service name>`.
    pub jwt_default_audience: bool,
    /// The user-info header is padded base64url.
    pub jwt_pad_userinfo: bool,
    /// The caller IP comes from `Forwarded: for=` when sent.
    pub client_ip_from_forwarded: bool,
    /// Envoy took the client from `X-Forwarded-For`, skipping this many entries.
    pub xff_trusted_hops: Option<u32>,
    /// Hold requests until every dependency answered once ([`crate::startup`]).
    pub wait_for_dependencies: Option<wasp_config::DependencyGate>,
    /// Where ID tokens come from; `Some` whenever an operation has backend auth.
    pub id_token_source: Option<IdTokenSource>,
    /// The config's id (logs, Service Control's `service_config_id`).
    pub config_hash: String,
    /// Per provider (index-aligned): the shared-data scope of its keys.
    pub jwks_scopes: Vec<String>,
    /// The shared-data scope of ID and access tokens.
    pub token_scope: String,
    /// The service name: the JWT default audience and `WWW-Authenticate` realm.
    pub service_name: String,
    /// JWT providers, in configuration order (the key views' index).
    pub providers: Vec<Provider>,
    /// Clusters for the providers' key and discovery fetches.
    pub jwks_clusters: Vec<JwksCluster>,
    /// API keys, quotas and reports; `None`: none of them.
    pub service_control: Option<ControlClientConfig>,
    /// Per-operation metrics ([`crate::metrics`]); `None`: none recorded.
    pub metrics: Option<wasp_config::metrics::MetricsConfig>,
    /// Record each request's stage timings for the tracer (`--tracing`).
    pub trace_stages: bool,
    /// The route Envoy takes without a route header ([`wasp_config::OwnRoutes`]).
    pub default_route: Option<String>,
}

/// What happens to a request matched to one operation, beyond routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRules {
    /// The operation's name (`1.<api>.<OperationId>`), as reports and logs know it.
    pub name: String,
    pub path_translation: Option<PathTranslation>,
    /// The ID-token audience, when backend auth is on.
    pub audience: Option<String>,
    /// The parsed template, kept only when CONSTANT_ADDRESS turns its named
    /// variables into query parameters.
    pub bound_template: Option<PathTemplate>,
    /// The JWT requirement; `None` or no alternatives: not secured.
    pub security: Option<SecurityRequirement>,
}

impl Gateway {
    /// What the JWT stage needs of the service.
    pub fn jwt_settings(&self) -> JwtSettings<'_> {
        JwtSettings {
            service_name: &self.service_name,
            default_audience: self.jwt_default_audience,
            pad_userinfo: self.jwt_pad_userinfo,
        }
    }

    /// Compiles a configuration, refusing what [`FilterConfig::validate`] refuses (the
    /// one list of checks, which `from_json` and so the compiler run too).
    pub fn build(config: FilterConfig) -> Result<Gateway, String> {
        config.validate()?;
        let matcher = Matcher::build(&config.operations)?
            .refusing_colons_in_wildcards(config.disallow_colon_in_wildcard);
        let mut operations = Vec::with_capacity(config.operations.len());
        for op in config.operations {
            let bound_template = match &op.path_translation {
                Some(PathTranslation::ConstantAddress { .. }) => {
                    let template = PathTemplate::parse(&op.template)
                        .map_err(|e| format!("operation {}: {e}", op.name))?;
                    let binds = template.variables().next().is_some();
                    binds.then_some(template)
                }
                _ => None,
            };
            let audience = op.backend_auth.map(|auth| auth.audience);
            operations.push(OperationRules {
                name: op.name,
                path_translation: op.path_translation,
                audience,
                bound_template,
                security: op.security.filter(|s| !s.alternatives.is_empty()),
            });
        }
        Ok(Gateway {
            default_route: config.own_routes.map(|own| own.default_route),
            matcher,
            operations,
            reject_unmatched_preflight: config.reject_unmatched_preflight,
            envoy_sets_external_address: config.envoy_sets_external_address,
            send_operation_name: config.send_operation_name,
            generated: GeneratedHeaders::with_prefix(&config.generated_header_prefix),
            jwt_default_audience: !config.jwt_no_default_audience,
            jwt_pad_userinfo: config.jwt_pad_userinfo,
            client_ip_from_forwarded: config.client_ip_from_forwarded,
            xff_trusted_hops: config.xff_trusted_hops,
            wait_for_dependencies: config.wait_for_dependencies.clone(),
            jwks_scopes: config
                .providers
                .iter()
                .map(|p| share_scope(&(&p.issuer, &p.jwks)))
                .collect(),
            token_scope: share_scope(&config.id_token_source),
            id_token_source: config.id_token_source,
            config_hash: config.config_hash,
            service_name: config.service_name,
            providers: config.providers,
            jwks_clusters: config.jwks_clusters,
            service_control: config.service_control,
            metrics: config.metrics,
            trace_stages: config.trace_stages,
        })
    }

    /// Every operation's name, in configuration (index) order.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.iter().map(|op| op.name.as_str())
    }

    /// Where the head may name the caller, before Envoy's `source.address` is asked.
    pub fn caller_sources(&self) -> CallerSources {
        CallerSources {
            forwarded: self.client_ip_from_forwarded,
            xff_trusted_hops: self.xff_trusted_hops,
            envoy_external_address: self.envoy_sets_external_address,
        }
    }

    /// The shared-data scope of provider `index`'s keys (empty for an unknown index,
    /// which no caller has: indexes come from the provider list).
    pub fn jwks_scope(&self, index: usize) -> &str {
        self.jwks_scopes.get(index).map_or("", String::as_str)
    }

    /// The rules of the operation at `index` (from a matcher target).
    pub fn rules(&self, index: usize) -> Option<&OperationRules> {
        self.operations.get(index)
    }

    /// What the token sources are asked for: every ID-token audience, plus the
    /// metadata server's access token when Service Control needs it or IAM mints the
    /// ID tokens (the access token authorises `generateIdToken`).
    pub fn token_keys(&self) -> Vec<&str> {
        let mut keys = self.audiences();
        let for_control = self
            .service_control
            .as_ref()
            .is_some_and(|c| c.endpoint.metadata_access_token);
        let for_iam = !keys.is_empty()
            && self
                .id_token_source
                .as_ref()
                .is_some_and(|s| s.iam.is_some());
        if for_control || for_iam {
            keys.push(wasp_config::ACCESS_TOKEN_KEY);
        }
        keys
    }

    /// Distinct ID-token audiences, in configuration order.
    pub fn audiences(&self) -> Vec<&str> {
        let mut audiences: Vec<&str> = Vec::new();
        for audience in self
            .operations
            .iter()
            .filter_map(|op| op.audience.as_deref())
        {
            if !audiences.contains(&audience) {
                audiences.push(audience);
            }
        }
        audiences
    }
}

/// The shared-data scope of something fetched: a hash of what determines it (a provider's
/// issuer and key source, a token source). Shared data outlives a config (it is per
/// `vm_id`), so a new config that fetches the same thing finds it fetched already, and one
/// that fetches something else never reads it. The hash only has to agree within one
/// module build (every VM of one Envoy runs the same code).
pub fn share_scope(what: &impl serde::Serialize) -> String {
    use std::hash::{Hash, Hasher};
    let text = serde_json::to_string(what).unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_config::{BackendAuth, Operation, Route};

    #[test]
    fn fetched_things_are_shared_by_what_they_are_not_by_config() {
        let source = |issuer: &str, uri: &str| {
            (
                issuer.to_string(),
                wasp_config::JwksSource::Uri(uri.to_string()),
            )
        };
        let a = share_scope(&source("https://issuer", "https://issuer/jwks"));
        assert_eq!(
            a,
            share_scope(&source("https://issuer", "https://issuer/jwks"))
        );
        assert_ne!(
            a,
            share_scope(&source("https://other", "https://issuer/jwks"))
        );
        assert_ne!(
            a,
            share_scope(&source("https://issuer", "https://issuer/keys"))
        );
        assert_eq!(a.len(), 16);
    }

    pub(crate) fn op(
        template: &str,
        translation: Option<PathTranslation>,
        audience: Option<&str>,
    ) -> Operation {
        Operation {
            name: format!("1.api.{template}"),
            method: "GET".into(),
            template: template.into(),
            route: "r1".into(),
            allow_all: false,
            path_translation: translation,
            backend_auth: audience.map(|a| BackendAuth { audience: a.into() }),
            security: None,
        }
    }

    fn config(operations: Vec<Operation>) -> FilterConfig {
        FilterConfig {
            config_hash: "h".into(),
            service_name: "s".into(),
            operations,
            routes: vec![Route {
                id: "r1".into(),
                cluster: "c".into(),
            }],
            id_token_source: Some(IdTokenSource::gcp("metadata")),
            ..FilterConfig::default()
        }
    }

    #[test]
    fn keeps_templates_only_where_constant_address_binds_variables() {
        let constant = |p: &str| Some(PathTranslation::ConstantAddress { path: p.into() });
        let gateway = Gateway::build(config(vec![
            op("/a/{x}", constant("/c"), None),
            op("/b", constant("/c"), None),
            op(
                "/d/{x}",
                Some(PathTranslation::AppendPathToAddress {
                    prefix: "/p".into(),
                }),
                None,
            ),
            op("/e/*", constant("/c"), None),
        ]))
        .unwrap();
        assert!(gateway.rules(0).unwrap().bound_template.is_some());
        assert!(gateway.rules(1).unwrap().bound_template.is_none());
        assert!(gateway.rules(2).unwrap().bound_template.is_none());
        assert!(gateway.rules(3).unwrap().bound_template.is_none());
        assert!(gateway.rules(4).is_none());
    }

    #[test]
    fn audiences_are_distinct_in_order() {
        let gateway = Gateway::build(config(vec![
            op("/a", None, Some("https://b")),
            op("/b", None, Some("https://a")),
            op("/c", None, Some("https://b")),
            op("/d", None, None),
        ]))
        .unwrap();
        assert_eq!(gateway.audiences(), vec!["https://b", "https://a"]);
    }

    #[test]
    fn rejects_what_would_break_requests() {
        let bad_prefix = config(vec![op(
            "/a",
            Some(PathTranslation::AppendPathToAddress {
                prefix: "api".into(),
            }),
            None,
        )]);
        assert!(Gateway::build(bad_prefix)
            .unwrap_err()
            .contains("must start with '/'"));
        let empty_audience = config(vec![op("/a", None, Some(""))]);
        assert!(Gateway::build(empty_audience)
            .unwrap_err()
            .contains("empty audience"));
        let mut no_timeout = config(vec![op("/a", None, Some("x"))]);
        no_timeout.id_token_source.as_mut().unwrap().timeout_ms = 0;
        assert!(Gateway::build(no_timeout)
            .unwrap_err()
            .contains("timeout_ms"));
    }
}
