//! ESPv2's listener-edge options: an HTTPS listener (optionally requiring client
//! certificates), a health-check path answered by Envoy itself, header names with
//! underscores, HSTS, and headers added to every request or response. They shape only the
//! bootstrap; each is checked here and rendered as Envoy JSON.

use crate::errors::{Diagnostic, Diagnostics};
use clap::Args;
use serde_json::{json, Value};

/// ESPv2's HSTS value (`routegen/helpers/hsts.go`).
pub const HSTS_VALUE: &str = "max-age=31536000; includeSubdomains";

/// The edge options, as given.
#[derive(Debug, Clone, Default, Args)]
pub struct EdgeFlags {
    /// Answer 200 on this exact path (any method) from Envoy itself, for load balancers and
    /// Kubernetes probes; no API key, JWT or Service Control call (ESPv2's --healthz).
    #[arg(long, value_name = "PATH")]
    pub healthz: Option<String>,
    /// Accept header names with underscores (by default such requests get 400, as in ESPv2,
    /// because backends may treat `_` and `-` alike).
    #[arg(long)]
    pub underscores_in_headers: bool,
    /// Add `Strict-Transport-Security: max-age=31536000; includeSubdomains` to responses.
    #[arg(long)]
    pub enable_strict_transport_security: bool,
    /// NAME=VALUE set on every request to a backend, replacing a client's (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub add_request_header: Vec<String>,
    /// NAME=VALUE appended to every request to a backend (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub append_request_header: Vec<String>,
    /// NAME=VALUE set on every backend response, replacing the backend's (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub add_response_header: Vec<String>,
    /// NAME=VALUE appended to every backend response (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub append_response_header: Vec<String>,
    /// PEM certificate chain the listener presents, as Envoy sees the path: the listener
    /// speaks HTTPS (HTTP/2 or HTTP/1.1 by ALPN). Needs --ssl-server-key.
    #[arg(long, value_name = "PATH")]
    pub ssl_server_cert: Option<String>,
    /// PEM private key of --ssl-server-cert.
    #[arg(long, value_name = "PATH")]
    pub ssl_server_key: Option<String>,
    /// PEM CA bundle: clients must present a certificate it signed (mutual TLS).
    #[arg(long, value_name = "PATH")]
    pub ssl_server_root_cert: Option<String>,
    /// Oldest TLS version the listener accepts: TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3
    /// [default: Envoy's, TLSv1.2].
    #[arg(long, value_name = "VERSION", value_parser = TLS_VERSIONS)]
    pub ssl_minimum_protocol: Option<String>,
    /// Newest TLS version the listener accepts [default: Envoy's, TLSv1.3].
    #[arg(long, value_name = "VERSION", value_parser = TLS_VERSIONS)]
    pub ssl_maximum_protocol: Option<String>,
    /// The listener's TLS 1.2 cipher suites, colon-separated as OpenSSL/BoringSSL name them
    /// (ECDHE-RSA-AES128-GCM-SHA256:...) [default: Envoy's].
    #[arg(long, value_name = "LIST")]
    pub ssl_server_cipher_suites: Option<String>,
    /// Bytes Envoy buffers per downstream connection (ESPv2's
    /// --envoy_connection_buffer_limit_bytes) [default: Envoy's, 1 MiB].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1024..))]
    pub envoy_connection_buffer_limit_bytes: Option<u32>,
    /// What requests get while JWT keys or tokens (backend ID tokens, the metadata access
    /// token) have not arrived yet: always-init serves at once and a request waits for what
    /// it needs; block-init-on-any-error (ESPv2's default) answers every request 503, the
    /// --healthz probe too, until all have arrived once.
    #[arg(long, value_enum, default_value_t = DependencyErrorBehavior::AlwaysInit)]
    pub dependency_error_behavior: DependencyErrorBehavior,
    /// Compress responses with gzip or brotli when the client accepts it (Envoy's
    /// compressor filter, as ESPv2's --enable_response_compression).
    #[arg(long)]
    pub enable_response_compression: bool,
}

/// ESPv2's `--dependency_error_behavior` values (its spellings accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DependencyErrorBehavior {
    #[default]
    #[value(alias = "ALWAYS_INIT")]
    AlwaysInit,
    #[value(alias = "BLOCK_INIT_ON_ANY_ERROR")]
    BlockInitOnAnyError,
}

/// The names ESPv2's --ssl_minimum_protocol takes.
const TLS_VERSIONS: [&str; 4] = ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// The listener's TLS: its certificate and, for mutual TLS, the CA clients must prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    pub cert: String,
    pub key: String,
    pub client_ca: Option<String>,
    /// Envoy's names (`TLSv1_2`).
    pub minimum_version: Option<&'static str>,
    pub maximum_version: Option<&'static str>,
    pub cipher_suites: Vec<String>,
}

/// One header a route adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEdit {
    pub name: String,
    pub value: String,
    /// Append to the existing values instead of replacing them.
    pub append: bool,
}

/// The checked edge options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeOptions {
    pub healthz: Option<String>,
    pub underscores_in_headers: bool,
    pub strict_transport_security: bool,
    pub request_headers: Vec<HeaderEdit>,
    pub response_headers: Vec<HeaderEdit>,
    pub tls: Option<ListenerTls>,
    pub connection_buffer_limit_bytes: Option<u32>,
    /// Requests wait (503) until every dependency answered once; the health check then
    /// runs after the filter, which holds the probe too.
    pub block_until_ready: bool,
    /// gzip and brotli compressor filters.
    pub response_compression: bool,
}

impl EdgeFlags {
    /// Checks every option; all problems at once.
    pub fn options(&self) -> Result<EdgeOptions, Diagnostics> {
        let mut problems = Diagnostics::new();
        let healthz = self.healthz.as_deref().and_then(|path| {
            health_path(path)
                .map_err(|e| problems.push(Diagnostic::option("--healthz", e)))
                .ok()
        });
        let mut edits = |flag: &str, given: &[String], append: bool| -> Vec<HeaderEdit> {
            given
                .iter()
                .filter_map(|text| {
                    header_edit(text, append)
                        .map_err(|e| problems.push(Diagnostic::option(flag, e)))
                        .ok()
                })
                .collect()
        };
        let mut request_headers = edits("--add-request-header", &self.add_request_header, false);
        request_headers.extend(edits(
            "--append-request-header",
            &self.append_request_header,
            true,
        ));
        let mut response_headers = edits("--add-response-header", &self.add_response_header, false);
        response_headers.extend(edits(
            "--append-response-header",
            &self.append_response_header,
            true,
        ));
        let minimum_version = self.ssl_minimum_protocol.as_deref().map(envoy_tls_version);
        let maximum_version = self.ssl_maximum_protocol.as_deref().map(envoy_tls_version);
        if let (Some(min), Some(max)) = (&self.ssl_minimum_protocol, &self.ssl_maximum_protocol) {
            if min > max {
                problems.push(Diagnostic::option(
                    "--ssl-minimum-protocol",
                    format!("{min} is newer than --ssl-maximum-protocol {max}; swap them"),
                ));
            }
        }
        let cipher_suites: Vec<String> = self
            .ssl_server_cipher_suites
            .iter()
            .flat_map(|list| list.split(':'))
            .map(str::trim)
            .filter(|suite| !suite.is_empty())
            .map(str::to_string)
            .collect();
        let tls = match (&self.ssl_server_cert, &self.ssl_server_key) {
            (Some(cert), Some(key)) => Some(ListenerTls {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.ssl_server_root_cert.clone(),
                minimum_version,
                maximum_version,
                cipher_suites,
            }),
            (None, None) => {
                let tls_only = [
                    (
                        "--ssl-server-root-cert",
                        self.ssl_server_root_cert.is_some(),
                    ),
                    (
                        "--ssl-minimum-protocol",
                        self.ssl_minimum_protocol.is_some(),
                    ),
                    (
                        "--ssl-maximum-protocol",
                        self.ssl_maximum_protocol.is_some(),
                    ),
                    (
                        "--ssl-server-cipher-suites",
                        self.ssl_server_cipher_suites.is_some(),
                    ),
                ];
                for (flag, _) in tls_only.iter().filter(|(_, given)| *given) {
                    problems.push(Diagnostic::option(
                        flag,
                        "this needs an HTTPS listener; add --ssl-server-cert and --ssl-server-key",
                    ));
                }
                None
            }
            (Some(_), None) => {
                problems.push(Diagnostic::option(
                    "--ssl-server-cert",
                    "the certificate needs its private key; add --ssl-server-key PATH",
                ));
                None
            }
            (None, Some(_)) => {
                problems.push(Diagnostic::option(
                    "--ssl-server-key",
                    "the key needs its certificate; add --ssl-server-cert PATH",
                ));
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(EdgeOptions {
            tls,
            connection_buffer_limit_bytes: self.envoy_connection_buffer_limit_bytes,
            response_compression: self.enable_response_compression,
            block_until_ready: self.dependency_error_behavior
                == DependencyErrorBehavior::BlockInitOnAnyError,
            healthz,
            underscores_in_headers: self.underscores_in_headers,
            strict_transport_security: self.enable_strict_transport_security,
            request_headers,
            response_headers,
        })
    }

    /// For the config hash.
    pub fn hashed(&self) -> String {
        format!("{self:?}")
    }
}

/// `TLSv1.2` -> Envoy's `TLSv1_2` (the parser only lets ESPv2's four names through).
fn envoy_tls_version(version: &str) -> &'static str {
    match version {
        "TLSv1.0" => "TLSv1_0",
        "TLSv1.1" => "TLSv1_1",
        "TLSv1.3" => "TLSv1_3",
        _ => "TLSv1_2",
    }
}

/// ESPv2 prepends a missing `/`; a query or fragment could never match `:path` exactly.
fn health_path(path: &str) -> Result<String, String> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{path:?} is not a plain path; write it like /healthz (no query, no spaces)"
        ));
    }
    Ok(path)
}

/// `NAME=VALUE` (split at the first `=`). Names are HTTP tokens and not pseudo headers or
/// `host`; values are literal (Envoy's `%` substitutions are escaped).
fn header_edit(text: &str, append: bool) -> Result<HeaderEdit, String> {
    let fix = "write it as NAME=VALUE, such as x-gateway=wasp";
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("{text:?} has no '='; {fix}"));
    };
    let name = name.trim();
    if !crate::header_name::is_header_name(name) {
        return Err(format!("{name:?} is not a header name; {fix}"));
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(
            "the Host header is chosen per backend (x-google-backend); remove this option".into(),
        );
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of {name} has a control character; {fix}"
        ));
    }
    Ok(HeaderEdit {
        name: name.to_ascii_lowercase(),
        value: value.replace('%', "%%"),
        append,
    })
}

impl EdgeOptions {
    /// ESPv2's `headers_with_underscores_action`.
    pub fn underscores_action(&self) -> &'static str {
        if self.underscores_in_headers {
            "ALLOW"
        } else {
            "REJECT_REQUEST"
        }
    }

    /// Envoy's health-check filter for `--healthz`, placed before the wasm filter so a probe
    /// needs no credentials and makes no callout (after it when requests wait for the
    /// dependencies, so the filter can hold the probe too).
    pub fn health_check_filter(&self) -> Option<Value> {
        let path = self.healthz.as_deref()?;
        Some(json!({
            "name": "envoy.filters.http.health_check",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
                "pass_through_mode": false,
                "headers": [{ "name": ":path", "string_match": { "exact": path } }],
            },
        }))
    }

    /// Envoy's compressor filters for `--enable-response-compression`: gzip, then brotli
    /// (Envoy picks by the client's `Accept-Encoding`), with Envoy's defaults (responses of
    /// 30 bytes or more, text/JSON/XML/JavaScript content types, no `Cache-Control: no-transform`).
    pub fn compressor_filters(&self) -> Vec<Value> {
        if !self.response_compression {
            return Vec::new();
        }
        let filter = |library: &str, typed: &str| {
            json!({
                "name": format!("envoy.filters.http.compressor.{library}"),
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor",
                    "compressor_library": {
                        "name": library,
                        "typed_config": { "@type": typed },
                    },
                },
            })
        };
        vec![
            filter(
                "gzip",
                "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip",
            ),
            filter(
                "brotli",
                "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli",
            ),
        ]
    }

    /// Virtual-host `request_headers_to_add`.
    pub fn request_headers_to_add(&self) -> Vec<Value> {
        self.request_headers.iter().map(header_option).collect()
    }

    /// Virtual-host `response_headers_to_add`, HSTS first.
    pub fn response_headers_to_add(&self) -> Vec<Value> {
        let hsts = self.strict_transport_security.then(|| HeaderEdit {
            name: "strict-transport-security".into(),
            value: HSTS_VALUE.into(),
            append: false,
        });
        hsts.iter()
            .chain(&self.response_headers)
            .map(header_option)
            .collect()
    }
}

impl ListenerTls {
    /// The listener's `transport_socket`: Envoy's TLS with ALPN (the HTTP connection
    /// manager's AUTO codec then speaks HTTP/2 or HTTP/1.1), client certificates required and
    /// verified when a CA is given.
    pub fn transport_socket(&self) -> Value {
        let mut common = json!({
            "tls_certificates": [{
                "certificate_chain": { "filename": self.cert },
                "private_key": { "filename": self.key },
            }],
            "alpn_protocols": ["h2", "http/1.1"],
        });
        let mut context = json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        });
        if let Some(ca) = &self.client_ca {
            common["validation_context"] = json!({ "trusted_ca": { "filename": ca } });
            context["require_client_certificate"] = json!(true);
        }
        let mut params = serde_json::Map::new();
        if let Some(min) = self.minimum_version {
            params.insert("tls_minimum_protocol_version".into(), json!(min));
        }
        if let Some(max) = self.maximum_version {
            params.insert("tls_maximum_protocol_version".into(), json!(max));
        }
        if !self.cipher_suites.is_empty() {
            params.insert("cipher_suites".into(), json!(self.cipher_suites));
        }
        if !params.is_empty() {
            common["tls_params"] = Value::Object(params);
        }
        context["common_tls_context"] = common;
        json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
    }
}

fn header_option(edit: &HeaderEdit) -> Value {
    let action = if edit.append {
        "APPEND_IF_EXISTS_OR_ADD"
    } else {
        "OVERWRITE_IF_EXISTS_OR_ADD"
    };
    json!({ "header": { "key": edit.name, "value": edit.value }, "append_action": action })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> EdgeFlags {
        EdgeFlags::default()
    }

    #[test]
    fn defaults_are_espv2s() {
        let options = flags().options().unwrap();
        assert_eq!(options, EdgeOptions::default());
        assert_eq!(options.underscores_action(), "REJECT_REQUEST");
        assert!(options.health_check_filter().is_none());
        assert!(options.request_headers_to_add().is_empty());
        assert!(options.response_headers_to_add().is_empty());
    }

    #[test]
    fn options_render_as_envoy_config() {
        let options = EdgeFlags {
            healthz: Some("healthz".into()),
            underscores_in_headers: true,
            enable_strict_transport_security: true,
            add_request_header: vec!["X-Env=prod=1".into()],
            append_request_header: vec!["x-tag=".into()],
            add_response_header: vec!["x-served-by=wasp 100%".into()],
            append_response_header: vec![],
            ssl_server_cert: Some("/etc/wasp/tls.crt".into()),
            ssl_server_key: Some("/etc/wasp/tls.key".into()),
            ssl_server_root_cert: Some("/etc/wasp/clients.pem".into()),
            ssl_minimum_protocol: Some("TLSv1.3".into()),
            ssl_maximum_protocol: None,
            ssl_server_cipher_suites: None,
            envoy_connection_buffer_limit_bytes: Some(32768),
            dependency_error_behavior: DependencyErrorBehavior::BlockInitOnAnyError,
            enable_response_compression: true,
        }
        .options()
        .unwrap();
        assert!(options.block_until_ready);
        let compressors = options.compressor_filters();
        assert_eq!(compressors.len(), 2);
        assert_eq!(
            compressors[0]["typed_config"]["compressor_library"]["name"],
            "gzip"
        );
        assert_eq!(options.healthz.as_deref(), Some("/healthz"));
        assert_eq!(options.underscores_action(), "ALLOW");
        let filter = options.health_check_filter().unwrap();
        assert_eq!(
            filter["typed_config"]["headers"][0]["string_match"]["exact"],
            "/healthz"
        );
        assert_eq!(
            options.request_headers_to_add(),
            vec![
                json!({"header": {"key": "x-env", "value": "prod=1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}),
                json!({"header": {"key": "x-tag", "value": ""}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}),
            ]
        );
        let response = options.response_headers_to_add();
        assert_eq!(response[0]["header"]["value"], HSTS_VALUE);
        // A literal percent sign, not an Envoy substitution.
        assert_eq!(response[1]["header"]["value"], "wasp 100%%");
        let socket = options.tls.unwrap().transport_socket();
        let context = &socket["typed_config"];
        assert_eq!(context["require_client_certificate"], true);
        assert_eq!(
            context["common_tls_context"]["tls_certificates"][0]["private_key"]["filename"],
            "/etc/wasp/tls.key"
        );
        assert_eq!(
            context["common_tls_context"]["validation_context"]["trusted_ca"]["filename"],
            "/etc/wasp/clients.pem"
        );
        assert_eq!(
            context["common_tls_context"]["alpn_protocols"],
            json!(["h2", "http/1.1"])
        );
        assert_eq!(
            context["common_tls_context"]["tls_params"],
            json!({ "tls_minimum_protocol_version": "TLSv1_3" })
        );
        assert_eq!(options.connection_buffer_limit_bytes, Some(32768));
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_and_a_fix() {
        let problems = EdgeFlags {
            healthz: Some("/health?x=1".into()),
            add_request_header: vec!["novalue".into(), "bad name=1".into(), "Host=x".into()],
            append_response_header: vec!["x-a=line\nbreak".into()],
            ssl_server_cert: Some("c.pem".into()),
            ..flags()
        }
        .options()
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 6, "{text:?}");
        assert!(text[5].contains("--ssl-server-cert") && text[5].contains("--ssl-server-key"));
        let alone = EdgeFlags {
            ssl_server_root_cert: Some("ca.pem".into()),
            ..flags()
        };
        assert!(alone.options().is_err());
        assert!(text[0].contains("--healthz") && text[0].contains("like /healthz"));
        assert!(text[1].contains("--add-request-header") && text[1].contains("has no '='"));
        assert!(text[2].contains("is not a header name"));
        assert!(text[3].contains("Host header"));
        assert!(text[4].contains("--append-response-header") && text[4].contains("control"));
    }
}
