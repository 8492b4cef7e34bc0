//! What the filter needs to know about an operation's backend (`x-google-backend`):
//! how to rewrite the path, and whether to attach an ID token.
//!
//! Address, deadline and protocol live in the Envoy bootstrap (cluster and route),
//! not here: the filter only picks the route by id.

use serde::{Deserialize, Serialize};

/// `x-google-backend.path_translation`, resolved by the compiler against the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PathTranslation {
    /// Backend path = `prefix` + the request path, query kept as sent. `prefix` is the
    /// address path with one trailing `/` trimmed and is never empty (an address
    /// without a path means no rewrite at all, so the compiler emits no translation).
    AppendPathToAddress { prefix: String },
    /// Backend path = `path` (the address path, `/` when empty). The operation's
    /// named path variables become query parameters, appended after the original
    /// query in template order, values copied raw (never decoded or re-encoded).
    ConstantAddress { path: String },
}

/// The backend wants an ID token (`Authorization: Bearer <token>`) for this audience.
/// The client's `Authorization` moves to `X-Forwarded-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendAuth {
    pub audience: String,
}

/// Where ID tokens come from: a server speaking the GCP metadata-server protocol
/// (`GET <path>?audience=<aud>&format=standard` with `Metadata-Flavor: Google`,
/// the body is the raw JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenSource {
    /// Envoy cluster the filter calls (dispatch_http_call).
    pub cluster: String,
    /// `:authority` of the call (`metadata.google.internal` on GCP).
    pub authority: String,
    /// `/computeMetadata/v1/instance/service-accounts/default/identity` on GCP.
    pub path: String,
    /// Where the OAuth access token for Google's Service Control comes from (JSON
    /// `{"access_token", "expires_in"}`); used only when Service Control asks for it.
    #[serde(default = "default_access_token_path")]
    pub access_token_path: String,
    /// Per-call timeout.
    pub timeout_ms: u64,
    /// Fetch a new token this long before the current one expires.
    pub refresh_before_expiry_s: u64,
    /// ID tokens minted by IAM for another service account instead of the metadata
    /// server's own identity (`--backend-auth-iam-service-account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamIdTokens>,
}

/// IAM Credentials' `generateIdToken`: `POST <path>` with the metadata server's access
/// token as `Authorization: Bearer`, body `{"audience", "includeEmail": true,
/// "delegates"}`, answer `{"token": "<jwt>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamIdTokens {
    /// Envoy cluster of the IAM Credentials API.
    pub cluster: String,
    /// `:authority` of the call (`iamcredentials.googleapis.com`).
    pub authority: String,
    /// `/v1/projects/-/serviceAccounts/<account>:generateIdToken`.
    pub path: String,
    /// The delegation chain as IAM names it: `projects/-/serviceAccounts/<account>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
}

impl IdTokenSource {
    /// GCP's metadata server reached through the given cluster.
    pub fn gcp(cluster: impl Into<String>) -> IdTokenSource {
        IdTokenSource {
            cluster: cluster.into(),
            authority: "metadata.google.internal".into(),
            path: "/computeMetadata/v1/instance/service-accounts/default/identity".into(),
            access_token_path: default_access_token_path(),
            timeout_ms: 5_000,
            refresh_before_expiry_s: 60,
            iam: None,
        }
    }
}

/// GCP's metadata path for the default service account's access token.
fn default_access_token_path() -> String {
    "/computeMetadata/v1/instance/service-accounts/default/token".into()
}

/// The key the filter keeps Service Control's access token under, beside the ID tokens'
/// audiences (the compiler refuses it as an audience).
pub const ACCESS_TOKEN_KEY: &str = "wasp:service-control-access-token";
