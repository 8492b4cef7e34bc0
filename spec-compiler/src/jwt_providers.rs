//! The service's JWT providers (every file's oauth2 schemes) and the clusters their key
//! and discovery fetches go through.
//!
//! Several files may define the same scheme name only with the same settings: the filter
//! knows a provider by that name, so two meanings would make one file's operations check
//! the other's issuer.

use crate::errors::{Diagnostic, Diagnostics};
use crate::jwks_clusters::{known_key_origins, JwksClusters};
use crate::model::Spec;
use crate::model::{JwtScheme, SchemeKind};
use crate::origin::parse_origin;
use wasp_config::{JwksSource, Provider};

/// The `--jwks-*` / `--jwt-*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtOptions {
    /// How long fetched keys are served before a refresh (ESPv2: 300 s).
    pub jwks_cache_seconds: u64,
    /// Allowed clock skew on `exp` / `nbf`.
    pub clock_skew_seconds: u64,
    /// Extra origins discovered `jwks_uri`s may point at (`--jwks-origin`).
    pub extra_origins: Vec<String>,
    /// `--jwt-require-exp`: tokens without `exp` are refused (a scheme's
    /// `x-wasp-jwt-require-exp` overrides it).
    pub require_exp: bool,
    /// `--jwt-max-lifetime-seconds` (a scheme's `x-wasp-jwt-max-lifetime-seconds` overrides it).
    pub max_lifetime_seconds: Option<u64>,
    /// `--jwks-unavailable-status 503`: 503 with `Retry-After` while a provider's keys
    /// have never loaded, instead of ESPv2's 401.
    pub unavailable_keys_503: bool,
    /// `--disable-jwt-audience-service-name-check`.
    pub no_default_audience: bool,
    /// `--jwt-pad-forward-payload-header`.
    pub pad_userinfo: bool,
}

impl Default for JwtOptions {
    fn default() -> Self {
        JwtOptions {
            jwks_cache_seconds: wasp_config::auth::DEFAULT_JWKS_CACHE_SECONDS,
            clock_skew_seconds: wasp_config::auth::DEFAULT_CLOCK_SKEW_SECONDS,
            extra_origins: Vec::new(),
            require_exp: false,
            max_lifetime_seconds: None,
            unavailable_keys_503: false,
            no_default_audience: false,
            pad_userinfo: false,
        }
    }
}

/// Providers in definition order plus the clusters they need.
#[derive(Debug, Default)]
pub struct JwtPlan {
    pub providers: Vec<Provider>,
    pub clusters: JwksClusters,
}

pub fn plan_providers(specs: &[Spec], options: &JwtOptions) -> Result<JwtPlan, Diagnostics> {
    let mut problems = Diagnostics::new();
    let mut plan = JwtPlan::default();
    let mut defined_in: Vec<&str> = Vec::new();
    for spec in specs {
        for scheme in &spec.schemes {
            let SchemeKind::Jwt(jwt) = &scheme.kind else {
                continue;
            };
            let provider = provider(&scheme.name, jwt, options);
            if let Some(i) = plan.providers.iter().position(|p| p.id == scheme.name) {
                if plan.providers.get(i) != Some(&provider) {
                    problems.push(Diagnostic::new(
                        &spec.file,
                        &scheme.pointer,
                        format!(
                            "scheme {:?} is also defined in {} with other settings; the files describe one service, so give the schemes different names or the same settings",
                            scheme.name,
                            defined_in.get(i).copied().unwrap_or("another file")
                        ),
                    ));
                }
                continue;
            }
            match &jwt.jwks_uri {
                Some(uri) => plan.clusters.add(&uri.origin),
                None => {
                    // Checked when the scheme was read: a discovery issuer is an http(s) URL.
                    if let Ok(origin) = parse_origin(&jwt.issuer) {
                        plan.clusters.add(&origin);
                    }
                    for extra in known_key_origins(&jwt.issuer) {
                        if let Ok(origin) = parse_origin(extra) {
                            plan.clusters.add(&origin);
                        }
                    }
                }
            }
            plan.providers.push(provider);
            defined_in.push(&spec.file);
        }
    }
    if !plan.providers.is_empty() {
        for extra in &options.extra_origins {
            match parse_origin(extra) {
                Ok(origin) => plan.clusters.add(&origin),
                Err(e) => problems.push(Diagnostic::option(
                    "--jwks-origin",
                    format!("{e}; write an origin such as https://keys.example.com"),
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

fn provider(id: &str, jwt: &JwtScheme, options: &JwtOptions) -> Provider {
    let jwks = match &jwt.jwks_uri {
        Some(uri) => JwksSource::Uri(uri.text.clone()),
        None => JwksSource::Discovery,
    };
    Provider {
        audiences: jwt.audiences.clone(),
        locations: jwt.locations.clone(),
        jwks_cache_seconds: options.jwks_cache_seconds,
        clock_skew_seconds: options.clock_skew_seconds,
        allowed_client_ids: jwt.allowed_client_ids.clone(),
        require_expiration: jwt.require_exp.unwrap_or(options.require_exp),
        max_lifetime_seconds: jwt.max_lifetime_seconds.or(options.max_lifetime_seconds),
        unavailable_keys_503: options.unavailable_keys_503,
        ..Provider::new(id, &jwt.issuer, jwks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(require_exp: Option<bool>, max_lifetime_seconds: Option<u64>) -> JwtScheme {
        JwtScheme {
            issuer: "https://idp.example".into(),
            jwks_uri: None,
            audiences: Vec::new(),
            locations: Vec::new(),
            allowed_client_ids: None,
            require_exp,
            max_lifetime_seconds,
        }
    }

    #[test]
    fn a_schemes_own_token_rules_override_the_options() {
        let strict = JwtOptions {
            require_exp: true,
            max_lifetime_seconds: Some(3600),
            unavailable_keys_503: true,
            ..JwtOptions::default()
        };
        let from_options = provider("idp", &scheme(None, None), &strict);
        assert!(from_options.require_expiration && from_options.unavailable_keys_503);
        assert_eq!(from_options.max_lifetime_seconds, Some(3600));
        let own = provider("idp", &scheme(Some(false), Some(60)), &strict);
        assert!(!own.require_expiration);
        assert_eq!(own.max_lifetime_seconds, Some(60));
        let defaults = provider("idp", &scheme(None, None), &JwtOptions::default());
        assert!(!defaults.require_expiration && !defaults.unavailable_keys_503);
        assert_eq!(defaults.max_lifetime_seconds, None);
    }
}
