//! The service as the spec files describe it, whatever format they were written in.
//!
//! Every reader (`read::swagger2`, `read::openapi3`) produces these values; every later
//! stage (operations, routes, JWT providers, Service Control, quotas) reads only them.
//! Each piece keeps the JSON pointer it came from, so a later stage can still say where
//! in which file a problem is.

use crate::backend::Backend;
use crate::origin::Origin;
use crate::pointer::Pointer;
use std::collections::BTreeMap;
use wasp_config::control::{QuotaLimit, QuotaMetric};
use wasp_config::{SecurityRequirement, TokenLocation};

/// The format a spec file was written in; decides how messages name its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `swagger: "2.0"` with the 2.0 `x-google-*` extensions.
    Swagger2,
    /// `openapi: 3.0.x` or `3.1.x` with Google's 3.x dialect (`x-google-api-management`).
    OpenApi3,
}

impl Format {
    /// Where the API's own name is written.
    pub fn api_name_field(self) -> &'static str {
        match self {
            Format::Swagger2 => "x-google-api-name",
            Format::OpenApi3 => "x-google-api-management.apiName",
        }
    }

    /// Where quota metrics are declared, with an example entry.
    pub fn metrics_field(self, metric: &str) -> String {
        match self {
            Format::Swagger2 => format!(
                "x-google-management.metrics (name: {metric}, valueType: INT64, metricKind: DELTA)"
            ),
            Format::OpenApi3 => format!("x-google-api-management.metrics ({metric}: {{}})"),
        }
    }

    /// Where the security schemes are defined.
    pub fn schemes_field(self) -> &'static str {
        match self {
            Format::Swagger2 => "securityDefinitions",
            Format::OpenApi3 => "components.securitySchemes",
        }
    }

    /// Where quota metrics and limits are declared.
    pub fn management_field(self) -> &'static str {
        match self {
            Format::Swagger2 => "x-google-management",
            Format::OpenApi3 => "x-google-api-management",
        }
    }

    /// Where the service name is written.
    pub fn host_field(self) -> &'static str {
        match self {
            Format::Swagger2 => "host",
            Format::OpenApi3 => "the x-google-endpoint server's host",
        }
    }
}

/// The HTTP methods an operation can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Options,
    Head,
    Patch,
}

impl Method {
    /// A path-item key (`get`), as both formats write it.
    pub fn from_key(key: &str) -> Option<Method> {
        Some(match key {
            "get" => Method::Get,
            "put" => Method::Put,
            "post" => Method::Post,
            "delete" => Method::Delete,
            "options" => Method::Options,
            "head" => Method::Head,
            "patch" => Method::Patch,
            _ => return None,
        })
    }

    /// As on the wire: `GET`.
    pub fn upper(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Patch => "PATCH",
        }
    }

    /// As in generated names: `Get`.
    pub fn title(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Delete => "Delete",
            Method::Options => "Options",
            Method::Head => "Head",
            Method::Patch => "Patch",
        }
    }
}

/// `x-google-allow`: whether calls to undefined paths reach the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    Configured,
    All,
}

/// One spec file: one API of the service.
#[derive(Debug, Clone)]
pub struct Spec {
    pub file: String,
    pub format: Format,
    /// The service name (2.0 `host`; 3.x the host of the `x-google-endpoint` server).
    pub host: String,
    /// Where the service name was written.
    pub host_pointer: Pointer,
    /// The base path without its trailing `/` (so `/` becomes empty).
    pub base_path: String,
    pub allow: Allow,
    pub paths: Vec<PathEntry>,
    /// The document-level backend (the default of every operation).
    pub backend: Option<BackendRule>,
    /// Where CORS preflights were let through to the backend (`allowCors: true`).
    pub allow_cors: Option<Pointer>,
    /// The API's own name, with where it was written.
    pub api_name: Option<(String, Pointer)>,
    /// The security schemes operations may require.
    pub schemes: Vec<Scheme>,
    /// The document-level `security`; `None` when absent or `[]`.
    pub security: Option<SecurityRequirement>,
    /// Quota metrics and limits.
    pub management: Option<Management>,
    /// What was read but is not served (callbacks, webhooks); printed, not fatal.
    pub warnings: Vec<crate::errors::Diagnostic>,
}

/// One entry of `paths`.
#[derive(Debug, Clone)]
pub struct PathEntry {
    /// The key as written (`/shelves/{shelf}`), without the base path.
    pub path: String,
    pub pointer: Pointer,
    pub operations: Vec<SpecOperation>,
}

/// One operation (a method key inside a path item).
#[derive(Debug, Clone)]
pub struct SpecOperation {
    pub method: Method,
    pub operation_id: Option<String>,
    /// Points at the operation object (`/paths/~1hello/get`).
    pub pointer: Pointer,
    /// The operation's own backend; replaces the document-level one.
    pub backend: Option<BackendRule>,
    /// The operation's own `security` (replaces the document-level one): `None` when
    /// not written, `Some(None)` for `security: []`.
    pub security: Option<Option<SecurityRequirement>>,
    /// What one call costs, per metric.
    pub metric_costs: Option<MetricCosts>,
    /// wasp's `x-wasp-jwt-allow-missing: true`: no token passes, a sent one must verify.
    pub jwt_allow_missing: bool,
}

/// One security scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheme {
    /// The scheme's key; `security` entries name it.
    pub name: String,
    pub pointer: Pointer,
    pub kind: SchemeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemeKind {
    Jwt(JwtScheme),
    ApiKey(ApiKeyLocation),
}

/// A scheme with an issuer: a JWT provider as written.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtScheme {
    pub issuer: String,
    /// `None`: OIDC discovery from the issuer.
    pub jwks_uri: Option<JwksUri>,
    pub audiences: Vec<String>,
    /// Empty: ESPv2's default locations.
    pub locations: Vec<TokenLocation>,
    pub allowed_client_ids: Option<Vec<String>>,
    /// `x-wasp-jwt-require-exp`, when written.
    pub require_exp: Option<bool>,
    /// `x-wasp-jwt-max-lifetime-seconds`, when written.
    pub max_lifetime_seconds: Option<u64>,
}

/// The URL of a provider's keys, with the origin its fetch goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksUri {
    pub text: String,
    pub origin: Origin,
}

/// Where an apiKey scheme reads the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyLocation {
    Query(String),
    Header(String),
}

/// Where a backend rule applies from; decides its default path translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The whole document (2.0 top-level block; 3.x root `x-google-backend: <name>`).
    Top,
    /// One operation.
    Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    AppendPathToAddress,
    ConstantAddress,
}

/// A parsed backend `address`: the text as written (the default audience) and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub text: String,
    pub backend: Backend,
    /// Path with one trailing `/` trimmed; empty for none.
    pub path: String,
}

/// One backend rule as written (2.0 `x-google-backend` block; 3.x named backend).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendRule {
    pub level: Level,
    pub address: Option<Address>,
    pub jwt_audience: Option<String>,
    pub disable_auth: bool,
    pub translation: Option<Translation>,
    /// `Some` only for a positive deadline, in milliseconds (at least 1).
    pub deadline_ms: Option<u64>,
    pub http2: bool,
}

/// Quota metrics and limits of one file, each with where it was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Management {
    pub metrics: Vec<(QuotaMetric, Pointer)>,
    pub limits: Vec<(QuotaLimit, Pointer)>,
}

/// An operation's costs: metric -> (cost, where).
pub type MetricCosts = BTreeMap<String, (i64, Pointer)>;
