//! `CompileOptions`: everything besides the spec files that shapes a compile's output, as
//! the command line (`cli.rs`) fills it in.

use crate::backend_auth_iam::IamFlags;
use crate::bootstrap::BootstrapOptions;
use crate::cors::CorsFlags;
use crate::edge::EdgeFlags;
use crate::jwt_providers::JwtOptions;
use crate::service_control::ServiceControlFlags;
use crate::upstreams::ClusterNaming;

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
    /// Envoy runs the bootstrap this compile writes (targets envoy, compose, sidecar), not
    /// a control plane's routes: the filter config gets `own_routes`.
    pub own_routes: bool,
}

/// `--metadata-url`'s default: GCP's metadata server, only reachable on GCP.
pub const GCP_METADATA_URL: &str = "http://169.254.169.254";
