//! The command line: `wasp compile SPEC... [options]`.

use crate::backend_auth_iam::IamFlags;
use crate::bootstrap::{
    AccessLog, AccessLogFormat, BootstrapOptions, ClientAddress, DnsLookupFamily, PathHandling,
};
use crate::compile::CompileOptions;
use crate::cors::CorsFlags;
use crate::deploy::DeployFlags;
use crate::edge::EdgeFlags;
use crate::jwt_providers::JwtOptions;
use crate::service_control::ServiceControlFlags;
use crate::telemetry::TelemetryFlags;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "wasp",
    version,
    about = "OpenAPI 2.0 (Cloud Endpoints) -> Envoy with the wasp filter"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile spec files into <out>/filter.json and <out>/envoy.yaml.
    Compile(CompileArgs),
    /// Check spec files and options as compile does; write nothing (exit 0 or 2).
    Validate(CompileArgs),
    /// List the configs in a store (oldest first; `*` marks the current one).
    Configs(StoreArg),
    /// Make a stored config current: Envoy (started with <store>/envoy.yaml) takes it
    /// without a restart; with --admin, wait until Envoy confirms (exit 1 if it refuses).
    Rollout(RolloutArgs),
    /// Make the config that was current before the current one current again.
    Rollback(RollbackArgs),
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The config store (`wasp compile --store`).
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct EnvoyAdminArgs {
    /// Envoy's admin API (http://127.0.0.1:9901): confirm Envoy took the config.
    #[arg(long, value_name = "URL")]
    pub envoy_admin: Option<String>,
    /// How long to wait for Envoy's confirmation.
    #[arg(long, default_value_t = 10)]
    pub timeout_seconds: u64,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// The config id (`wasp compile --store` prints it).
    pub id: String,
    #[command(flatten)]
    pub admin: EnvoyAdminArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub admin: EnvoyAdminArgs,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// OpenAPI 2.0 files (YAML or JSON) describing one service; merged.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Where operations without an x-google-backend address go: http[s]://host[:port].
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub backend: String,
    /// Send every operation to --backend, also those whose x-google-backend names an address
    /// (its deadline, protocol, path translation and ID token still apply), as ESPv2's
    /// --enable_backend_address_override: a local stack for a spec written for the cloud.
    #[arg(long)]
    pub enable_backend_address_override: bool,
    /// Server speaking the GCP metadata protocol that mints backend-auth ID
    /// tokens (http[s]://host[:port]); used only when an operation needs one.
    #[arg(long, default_value = crate::compile::GCP_METADATA_URL)]
    pub metadata_url: String,
    /// Listener address; port 0 lets the OS pick (read it from the admin API).
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = socket_address)]
    pub listen: SocketAddr,
    /// Envoy admin address.
    #[arg(long, default_value = "127.0.0.1:9901", value_parser = socket_address)]
    pub admin: SocketAddr,
    /// Path of the filter module as Envoy sees it (default: /etc/wasp/wasp_filter.wasm;
    /// /wasm/plugin.wasm for --target sidecar, where the filter image is mounted).
    #[arg(long)]
    pub wasm: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "./generated")]
    pub out: PathBuf,
    /// Also keep the result as an immutable config in this store (named by its config
    /// hash, printed); `wasp rollout` makes it current.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Redirect (307) paths with escaped slashes (%2F, %5C) to their unescaped form
    /// instead of forwarding them unchanged (ESPv2's --disallow_escaped_slashes_in_path).
    #[arg(long, alias = "disallow-escaped-slashes")]
    pub disallow_escaped_slashes_in_path: bool,
    /// `*`, `{x}` and `**` match no segment with a `:` (HttpRule's rule; ESPv2's
    /// --disallow_colon_in_wildcard_path_segment), so `/v1/a:b` is not `/v1/{name}`.
    #[arg(long)]
    pub disallow_colon_in_wildcard_path_segment: bool,
    /// Match and forward paths as sent: no RFC 3986 normalization (%4A stays encoded,
    /// `.` and `..` stay segments).
    #[arg(long)]
    pub disable_normalize_path: bool,
    /// Keep `//` in paths (an empty segment) instead of merging it into `/`.
    #[arg(long)]
    pub disable_merge_slashes_in_path: bool,
    /// Take the client address from the connection (Envoy appends it to X-Forwarded-For)
    /// instead of from X-Forwarded-For alone. Use it where wasp is the first proxy.
    #[arg(long)]
    pub envoy_use_remote_address: bool,
    /// Proxies in front whose X-Forwarded-For entries are trusted: the client address is the
    /// entry this many from the right. With fewer proxies really in front, a client picks
    /// its own address (and so passes IP-restricted keys). ESPv2's default.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub envoy_xff_num_trusted_hops: u32,
    /// Take the caller IP that Service Control checks keys against from the first
    /// `Forwarded: for=` of the request (ESPv2's --client_ip_from_forwarded_header); trust it
    /// only behind a proxy that sets that header.
    #[arg(long)]
    pub client_ip_from_forwarded_header: bool,
    /// The access log: text (one line) or json (one object per line: operation, consumer,
    /// code, flags, denial reason, latencies, config id, request id; never a query or key).
    #[arg(long, value_enum, default_value_t = AccessLogFormat::Text)]
    pub access_log_format: AccessLogFormat,
    /// Write the access log to this file (as Envoy sees the path) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub access_log_path: Option<String>,
    /// Which addresses of a backend's DNS name Envoy connects to.
    #[arg(long, value_enum, default_value_t = DnsLookupFamily::V4Preferred)]
    pub backend_dns_lookup_family: DnsLookupFamily,
    /// CA bundle that verifies https backends.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub root_certs: String,
    /// Directory with client.crt and client.key (PEM, as Envoy sees the path) that https
    /// backends get as this gateway's client certificate (mutual TLS; ESPv2's
    /// --ssl_backend_client_cert_path).
    #[arg(long, value_name = "DIR")]
    pub ssl_backend_client_cert_path: Option<String>,
    /// TLS 1.2 cipher suites offered to https backends, colon-separated
    /// (ECDHE-RSA-AES128-GCM-SHA256:...) [default: Envoy's].
    #[arg(long, value_name = "LIST")]
    pub ssl_backend_client_cipher_suites: Option<String>,
    #[command(flatten)]
    pub cors: CorsFlags,
    #[command(flatten)]
    pub edge: EdgeFlags,
    /// Send the matched operation's name to the backend in X-Endpoint-Api-Operation-Name.
    #[arg(long)]
    pub enable_operation_name_header: bool,
    /// Prefix of the headers the gateway sends the backend (<prefix>API-UserInfo,
    /// <prefix>API-Consumer-Type/-Number, <prefix>Api-Operation-Name).
    #[arg(long, value_name = "PREFIX", default_value = wasp_config::DEFAULT_GENERATED_HEADER_PREFIX)]
    pub generated_header_prefix: String,
    /// How long fetched JWKS are used before a refresh (ESPv2's --jwks_cache_duration_in_s).
    #[arg(long, default_value_t = wasp_config::auth::DEFAULT_JWKS_CACHE_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_cache_seconds: u64,
    /// Clock skew allowed on a JWT's exp and nbf.
    #[arg(long, default_value_t = wasp_config::auth::DEFAULT_CLOCK_SKEW_SECONDS, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwt_clock_skew_seconds: u64,
    /// Refuse JWTs without an exp claim (ESPv2 and Envoy's jwt_authn accept them). A
    /// scheme's x-wasp-jwt-require-exp overrides it.
    #[arg(long)]
    pub jwt_require_exp: bool,
    /// Refuse JWTs whose exp is more than this many seconds after iat (or after now,
    /// without iat), and JWTs without exp. A scheme's x-wasp-jwt-max-lifetime-seconds
    /// overrides it.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub jwt_max_lifetime_seconds: Option<u64>,
    /// Accept any `aud` where no audiences are configured, instead of requiring
    /// https://<host> (ESPv2's --disable_jwt_audience_service_name_check).
    #[arg(long)]
    pub disable_jwt_audience_service_name_check: bool,
    /// Pad the base64url in X-Endpoint-API-UserInfo (ESPv2's --jwt_pad_forward_payload_header).
    #[arg(long)]
    pub jwt_pad_forward_payload_header: bool,
    /// Status while a provider's keys have never loaded: 401 (ESPv2's "Jwks remote fetch
    /// is failed") or 503 with Retry-After, so clients can tell an outage from a bad token.
    #[arg(long, default_value = "401", value_parser = ["401", "503"])]
    pub jwks_unavailable_status: String,
    /// Another origin (https://host[:port]) an OIDC discovery document may point its
    /// jwks_uri at; the issuer's origin always gets a cluster. Repeatable.
    #[arg(long, value_name = "URL")]
    pub jwks_origin: Vec<String>,
    /// Ignore the oauth2 scopes listed in security, as ESPv2 does (by default a token
    /// must carry one of them in its scope claim).
    #[arg(long)]
    pub ignore_jwt_scopes: bool,
    /// The service's GCP project, charged for calls without an API key in control.json;
    /// default: the project in a <api>.endpoints.<project>.cloud.goog host.
    #[arg(long, value_name = "PROJECT")]
    pub producer_project_id: Option<String>,
    #[command(flatten)]
    pub service_control: ServiceControlFlags,
    #[command(flatten)]
    pub backend_auth_iam: IamFlags,
    #[command(flatten)]
    pub telemetry: TelemetryFlags,
    #[command(flatten)]
    pub deploy: DeployFlags,
}

impl CompileArgs {
    /// The options `compile` takes, from the command line.
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            backend: self.backend.clone(),
            metadata_url: self.metadata_url.clone(),
            backend_auth_iam: self.backend_auth_iam.clone(),
            backend_address_override: self.enable_backend_address_override,
            cors: self.cors.clone(),
            edge: self.edge.clone(),
            operation_name_header: self.enable_operation_name_header,
            generated_header_prefix: self.generated_header_prefix.clone(),
            bootstrap: BootstrapOptions {
                listen: self.listen,
                admin: self.admin,
                wasm: self
                    .wasm
                    .clone()
                    .unwrap_or_else(|| self.deploy.target.default_wasm_path().to_string()),
                paths: PathHandling {
                    disable_normalize_path: self.disable_normalize_path,
                    disable_merge_slashes: self.disable_merge_slashes_in_path,
                    disallow_escaped_slashes: self.disallow_escaped_slashes_in_path,
                    disallow_colon_in_wildcard: self.disallow_colon_in_wildcard_path_segment,
                },
                root_certs: self.root_certs.clone(),
                backend_client_cert_dir: self.ssl_backend_client_cert_path.clone(),
                backend_cipher_suites: self.ssl_backend_client_cipher_suites.clone(),
                service_control_client_cert_dir: self
                    .service_control
                    .service_control_client_cert_path
                    .clone(),
                backend_dns_lookup_family: self.backend_dns_lookup_family,
                access_log: AccessLog {
                    format: self.access_log_format,
                    path: self.access_log_path.clone(),
                },
                telemetry: self.telemetry.clone(),
                client_address: ClientAddress {
                    use_remote_address: self.envoy_use_remote_address,
                    xff_num_trusted_hops: self.envoy_xff_num_trusted_hops,
                    from_forwarded_header: self.client_ip_from_forwarded_header,
                },
            },
            jwt: JwtOptions {
                jwks_cache_seconds: self.jwks_cache_seconds,
                clock_skew_seconds: self.jwt_clock_skew_seconds,
                extra_origins: self.jwks_origin.clone(),
                require_exp: self.jwt_require_exp,
                max_lifetime_seconds: self.jwt_max_lifetime_seconds,
                unavailable_keys_503: self.jwks_unavailable_status == "503",
                no_default_audience: self.disable_jwt_audience_service_name_check,
                pad_userinfo: self.jwt_pad_forward_payload_header,
            },
            ignore_jwt_scopes: self.ignore_jwt_scopes,
            producer_project_id: self.producer_project_id.clone(),
            service_control: self.service_control.clone(),
            cluster_naming: self.deploy.target.cluster_naming(),
            own_routes: !self.deploy.target.mesh_owns_envoy(),
        }
    }

    /// What `compile_options` gives when only the spec files are named: to tell the
    /// options a user set.
    pub fn default_options() -> CompileOptions {
        match Cli::try_parse_from(["wasp", "compile", "spec.yaml"]).map(|cli| cli.command) {
            Ok(Command::Compile(args)) => args.compile_options(),
            _ => unreachable!("a bare compile command parses"),
        }
    }
}

/// An IP and port; Envoy listens on addresses, not names.
fn socket_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not IP:PORT; write it like 0.0.0.0:8080, 127.0.0.1:0 or [::]:8080")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_espv2() {
        let cli = Cli::try_parse_from(["wasp", "compile", "a.yaml", "b.json"]).unwrap();
        let (Command::Compile(args) | Command::Validate(args)) = cli.command else {
            panic!("a compile command");
        };
        assert_eq!(args.specs.len(), 2);
        assert_eq!(args.backend, "http://127.0.0.1:8081");
        assert_eq!(args.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(args.admin.to_string(), "127.0.0.1:9901");
        assert_eq!(args.out, PathBuf::from("./generated"));
        assert!(!args.disallow_escaped_slashes_in_path);
        assert!(!args.disable_normalize_path && !args.disable_merge_slashes_in_path);
        assert!(!args.envoy_use_remote_address);
        assert_eq!(args.envoy_xff_num_trusted_hops, 2);
        assert_eq!(args.metadata_url, "http://169.254.169.254");
        assert_eq!(args.cors.cors_preset, None);
        assert_eq!(args.jwks_cache_seconds, 300);
        assert_eq!(args.jwt_clock_skew_seconds, 60);
        assert!(!args.jwt_require_exp && args.jwt_max_lifetime_seconds.is_none());
        assert_eq!(args.jwks_unavailable_status, "401");
        assert!(args.jwks_origin.is_empty() && !args.ignore_jwt_scopes);
        assert_eq!(args.producer_project_id, None);
        let sc = &args.service_control;
        assert_eq!(sc.service_control_url, None);
        assert_eq!(
            sc.service_control_fail_policy,
            crate::service_control::FailPolicyFlag::Open
        );
        assert_eq!(
            (
                sc.service_control_check_timeout_ms,
                sc.service_control_check_retries
            ),
            (1000, 3)
        );
        assert_eq!(
            (
                sc.service_control_quota_timeout_ms,
                sc.service_control_quota_retries
            ),
            (1000, 1)
        );
        assert_eq!(
            (
                sc.service_control_report_timeout_ms,
                sc.service_control_report_retries
            ),
            (2000, 5)
        );
        assert!(!sc.remove_api_key);
        assert_eq!(sc.service_control_check_cache_seconds, 60);
        let zero = Cli::try_parse_from(["wasp", "compile", "a.yaml", "--jwks-cache-seconds", "0"]);
        assert!(zero.is_err());
    }

    #[test]
    fn cors_options_parse_and_unknown_presets_are_refused() {
        let cli = Cli::try_parse_from([
            "wasp",
            "compile",
            "a.yaml",
            "--cors-preset",
            "cors_with_regex",
            "--cors-allow-origin-regex",
            "^https://a$",
            "--cors-allow-credentials",
            "--cors-max-age",
            "1h",
        ])
        .unwrap();
        let (Command::Compile(args) | Command::Validate(args)) = cli.command else {
            panic!("a compile command");
        };
        assert_eq!(args.cors.cors_preset.as_deref(), Some("cors_with_regex"));
        assert!(args.cors.cors_allow_credentials);
        assert_eq!(args.cors.cors_max_age.as_deref(), Some("1h"));
        let e =
            Cli::try_parse_from(["wasp", "compile", "a.yaml", "--cors-preset", "all"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("[possible values: basic, cors_with_regex]"),
            "{e}"
        );
    }

    #[test]
    fn port_zero_is_accepted_and_names_are_not() {
        let cli = Cli::try_parse_from([
            "wasp",
            "compile",
            "a.yaml",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "[::1]:0",
        ]);
        let (Command::Compile(args) | Command::Validate(args)) = cli.unwrap().command else {
            panic!("a compile command");
        };
        assert_eq!(args.listen.port(), 0);
        let e = Cli::try_parse_from(["wasp", "compile", "a.yaml", "--listen", "localhost:80"])
            .unwrap_err();
        assert!(e.to_string().contains("write it like 0.0.0.0:8080"), "{e}");
        assert!(Cli::try_parse_from(["wasp", "compile"]).is_err());
    }
}
