//! JWT authentication settings: the providers (OpenAPI `securityDefinitions` with
//! `x-google-issuer`) and each operation's `security` requirement. Read by the filter
//! and by `wasp-jwt`, which verifies tokens against them.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// ESPv2's JWKS cache duration (`--jwks_cache_duration_in_s`).
pub const DEFAULT_JWKS_CACHE_SECONDS: u64 = 300;
/// Clock skew allowed on `exp` and `nbf` (Envoy `jwt_authn` default; jwt-simple's 900 s is too lax).
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;

/// One JWT provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// The `securityDefinitions` key; requirements refer to the provider by it.
    pub id: String,
    /// `x-google-issuer`: the token's `iss` must equal it exactly.
    pub issuer: String,
    /// Where the keys come from: `x-google-jwks_uri`, or OIDC discovery when it is omitted.
    pub jwks: JwksSource,
    /// `x-google-audiences`, already comma-split and trimmed. Empty: the default audience applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// `x-google-jwt-locations`. Empty: ESPv2's three default locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<TokenLocation>,
    /// How long fetched keys are served before a refresh.
    #[serde(default = "default_cache_seconds")]
    pub jwks_cache_seconds: u64,
    /// Allowed clock skew on `exp` and `nbf`.
    #[serde(default = "default_skew_seconds")]
    pub clock_skew_seconds: u64,
    /// Reject tokens without `exp`. Off by default because ESPv2 (Envoy `jwt_authn` without
    /// `require_expiration`) accepts them; such tokens are cached for the cache TTL only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_expiration: bool,
    /// The longest lifetime a token may claim: `exp` minus `iat` (or minus now without
    /// `iat`). A token without `exp` is then refused too. `None`: any lifetime (ESPv2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_seconds: Option<u64>,
    /// While no key set for this provider has ever loaded, answer 503 with `Retry-After`
    /// instead of ESPv2's 401 `Jwks remote fetch is failed`, so a client can tell "the
    /// gateway cannot verify yet" from "your token is bad".
    #[serde(default, skip_serializing_if = "is_false")]
    pub unavailable_keys_503: bool,
    /// Endpoints Frameworks `allowed_client_ids`: when set, the token's `azp` must be one of
    /// them (an empty list lets no client in, as the Frameworks docs say). Off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_client_ids: Option<Vec<String>>,
}

fn default_cache_seconds() -> u64 {
    DEFAULT_JWKS_CACHE_SECONDS
}

fn default_skew_seconds() -> u64 {
    DEFAULT_CLOCK_SKEW_SECONDS
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Provider {
    /// A provider with the defaults for everything but issuer and key source.
    pub fn new(id: &str, issuer: &str, jwks: JwksSource) -> Provider {
        Provider {
            id: id.to_string(),
            issuer: issuer.to_string(),
            jwks,
            audiences: Vec::new(),
            locations: Vec::new(),
            jwks_cache_seconds: DEFAULT_JWKS_CACHE_SECONDS,
            clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
            require_expiration: false,
            max_lifetime_seconds: None,
            unavailable_keys_503: false,
            allowed_client_ids: None,
        }
    }

    /// The configured locations, or ESPv2's defaults when none are configured
    /// (custom locations replace the defaults, they do not add to them).
    pub fn effective_locations(&self) -> &[TokenLocation] {
        static DEFAULTS: LazyLock<Vec<TokenLocation>> = LazyLock::new(TokenLocation::defaults);
        if self.locations.is_empty() {
            &DEFAULTS
        } else {
            &self.locations
        }
    }
}

/// Where a provider's keys are fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwksSource {
    /// `x-google-jwks_uri`: a JWK set, an X.509 certificate map, or a base64url symmetric key.
    Uri(String),
    /// No `x-google-jwks_uri`: read `jwks_uri` from `<issuer>/.well-known/openid-configuration`.
    Discovery,
}

/// One place a token may be carried (`x-google-jwt-locations` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLocation {
    /// A request header (name compared case-insensitively). When `value_prefix` is set the
    /// value must start with it (compared case-insensitively, as auth schemes are), and the
    /// token is what follows.
    Header {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_prefix: Option<String>,
    },
    /// A query parameter (name compared case-sensitively, as ESPv2 does).
    Query { name: String },
}

impl TokenLocation {
    /// ESPv2's defaults: `Authorization: Bearer <t>`, `X-Goog-Iap-Jwt-Assertion: <t>`, `?access_token=<t>`.
    pub fn defaults() -> Vec<TokenLocation> {
        vec![
            TokenLocation::Header {
                name: "authorization".to_string(),
                value_prefix: Some("Bearer ".to_string()),
            },
            TokenLocation::Header {
                name: "x-goog-iap-jwt-assertion".to_string(),
                value_prefix: None,
            },
            TokenLocation::Query {
                name: "access_token".to_string(),
            },
        ]
    }
}

/// An operation's `security` list. No alternatives: the operation is not secured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityRequirement {
    pub alternatives: Vec<Alternative>,
    /// A request without any token passes; a token that is sent must verify (ESPv2's
    /// `allow_without_credential`, wasp's operation-level `x-wasp-jwt-allow-missing`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_missing: bool,
}

/// One `security` entry: everything in it is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<JwtRequirement>,
    /// API-key scheme names; enforced by the API-key stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<String>,
}

/// A JWT provider required by an alternative.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtRequirement {
    pub provider: String,
    /// Per-operation audiences; override the provider's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Required scope alternatives (the oauth2 scopes listed in `security`); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Where the filter sends the fetch for a key or discovery URL: the Envoy cluster the
/// compiler generated for the URL's origin (TLS with SNI for `https`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksCluster {
    /// `https://host[:port]` or `http://host[:port]`, as written in the URL, lower-case host.
    pub origin: String,
    /// Envoy cluster name.
    pub cluster: String,
}

/// A URL split into what a callout needs, once its origin maps to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest<'a> {
    pub cluster: &'a str,
    /// `:authority` (host, with the port when the URL has one).
    pub authority: &'a str,
    /// `:path`, `/` when the URL has none.
    pub path: &'a str,
}

/// Splits `url` and finds its cluster; `None` when no cluster serves its origin (a
/// discovered `jwks_uri` on a host the compiler did not know, for instance).
pub fn fetch_request<'a>(clusters: &'a [JwksCluster], url: &'a str) -> Option<FetchRequest<'a>> {
    let scheme_end = url.find("://")?;
    let rest = url.get(scheme_end + 3..)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len)?;
    let origin = url.get(..scheme_end + 3 + authority_len)?;
    let path = rest.get(authority_len..).unwrap_or("");
    let path = path.split('#').next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let cluster = clusters
        .iter()
        .find(|c| c.origin.eq_ignore_ascii_case(origin))?;
    Some(FetchRequest {
        cluster: &cluster.cluster,
        authority,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_has_espv2_defaults() {
        let provider: Provider = serde_json::from_str(
            r#"{"id":"firebase","issuer":"https://securetoken.google.com/p","jwks":{"uri":"https://keys.example/x509"}}"#,
        )
        .unwrap();
        assert_eq!(provider.jwks_cache_seconds, 300);
        assert_eq!(provider.clock_skew_seconds, 60);
        assert!(!provider.require_expiration);
        assert_eq!(
            provider.effective_locations(),
            TokenLocation::defaults().as_slice()
        );
        let discovery: Provider = serde_json::from_str(
            r#"{"id":"a","issuer":"https://a","jwks":"discovery","locations":[{"query":{"name":"t"}}]}"#,
        )
        .unwrap();
        assert_eq!(discovery.jwks, JwksSource::Discovery);
        assert_eq!(
            discovery.effective_locations(),
            [TokenLocation::Query { name: "t".into() }].as_slice()
        );
        let round_trip: Provider =
            serde_json::from_str(&serde_json::to_string(&provider).unwrap()).unwrap();
        assert_eq!(round_trip, provider);
    }

    #[test]
    fn urls_map_to_the_cluster_of_their_origin() {
        let clusters = vec![
            JwksCluster {
                origin: "https://www.googleapis.com".into(),
                cluster: "jwks_0".into(),
            },
            JwksCluster {
                origin: "http://127.0.0.1:8081".into(),
                cluster: "jwks_1".into(),
            },
        ];
        assert_eq!(
            fetch_request(
                &clusters,
                "https://www.googleapis.com/service_accounts/v1/jwk/x@y?a=b#f"
            ),
            Some(FetchRequest {
                cluster: "jwks_0",
                authority: "www.googleapis.com",
                path: "/service_accounts/v1/jwk/x@y?a=b",
            })
        );
        assert_eq!(
            fetch_request(&clusters, "http://127.0.0.1:8081"),
            Some(FetchRequest {
                cluster: "jwks_1",
                authority: "127.0.0.1:8081",
                path: "/",
            })
        );
        assert_eq!(fetch_request(&clusters, "https://127.0.0.1:8081/k"), None);
        assert_eq!(fetch_request(&clusters, "https://evil.example/k"), None);
        assert_eq!(fetch_request(&clusters, "not a url"), None);
        assert_eq!(
            fetch_request(&clusters, "https://u@www.googleapis.com/k"),
            None
        );
    }

    #[test]
    fn filter_configs_must_name_known_providers_and_clusters() {
        let config = |providers: &str, clusters: &str, security: &str| {
            format!(
                r#"{{"version":1,"config_hash":"h","service_name":"s","routes":[{{"id":"r","cluster":"c"}}],
                "providers":{providers},"jwks_clusters":{clusters},
                "operations":[{{"name":"1.a.Get","method":"GET","template":"/a","route":"r","security":{security}}}]}}"#
            )
        };
        let idp =
            r#"[{"id":"idp","issuer":"https://i","jwks":{"uri":"https://keys.example/jwks"}}]"#;
        let cluster = r#"[{"origin":"https://keys.example","cluster":"jwks_keys"}]"#;
        let needs_idp = r#"{"alternatives":[{"jwt":[{"provider":"idp"}]}]}"#;
        let parsed =
            crate::FilterConfig::from_json(config(idp, cluster, needs_idp).as_bytes()).unwrap();
        assert_eq!(parsed.providers.len(), 1);
        assert!(parsed.operations[0].security.is_some());
        let unknown =
            crate::FilterConfig::from_json(config("[]", "[]", needs_idp).as_bytes()).unwrap_err();
        assert!(
            unknown.contains("unknown JWT provider \"idp\""),
            "{unknown}"
        );
        let no_cluster =
            crate::FilterConfig::from_json(config(idp, "[]", needs_idp).as_bytes()).unwrap_err();
        assert!(no_cluster.contains("jwks_clusters"), "{no_cluster}");
        let twice = format!("[{0},{0}]", &idp[1..idp.len() - 1]);
        assert!(
            crate::FilterConfig::from_json(config(&twice, cluster, "null").as_bytes())
                .unwrap_err()
                .contains("appears twice")
        );
    }
}
