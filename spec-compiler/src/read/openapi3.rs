//! Reads one OpenAPI 3.0 or 3.1 document in Google's 3.x extension dialect (Cloud
//! Endpoints / API Gateway, `../docs/OPENAPI3.md`) into the service model, the same model
//! a 2.0 document gives:
//!
//! - the server marked `x-google-endpoint: {}` names the service (its host) and its URL
//!   path is the base path;
//! - `x-google-api-management` holds metrics, quota limits, named backends, `apiName` and
//!   `allowCors` (`api_management`);
//! - `x-google-backend` (document root or operation) names one of those backends; the
//!   default path translation follows where it is named, as 2.0's follows where the block
//!   stands (root: APPEND_PATH_TO_ADDRESS, operation: CONSTANT_ADDRESS);
//! - `components.securitySchemes` with `x-google-auth` are JWT providers
//!   (`security_schemes`), `security` lists work as in 2.0;
//! - an operation's `x-google-quota` maps metric names to costs directly.
//!
//! `$ref`s to path items and security schemes are followed (`refs`); callbacks and
//! webhooks are requests the API makes, which no gateway serves: they draw a warning.

use crate::errors::Diagnostics;
use crate::model::{Allow, BackendRule, Format, Level, Method, Scheme, Spec, SpecOperation};
use crate::pointer::Pointer;
use crate::read::api_management::{read_api_management, ApiManagement};
use crate::read::quota::read_cost_map;
use crate::read::refs::{ignored_beside_ref, ref_of, Documents};
use crate::read::security::read_security;
use crate::read::security_schemes::read_security_schemes;
use crate::read::yaml::{describe, shown, Reader};
use crate::read::{
    base_path, is_service_name, read_jwt_allow_missing, read_operation_id, PathsReader,
};
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;

/// Path-item keys that are not operations and that wasp accepts without reading.
const PATH_ITEM_OTHER_KEYS: [&str; 4] = ["summary", "description", "servers", "parameters"];

/// Keys an operation (or the document) may carry but a path item may not: said, never
/// dropped in silence.
const OPERATION_ONLY_KEYS: [&str; 6] = [
    "x-google-backend",
    "x-google-quota",
    "x-google-model-router",
    "x-google-mcp-tool",
    "security",
    crate::read::JWT_ALLOW_MISSING,
];

/// 2.0 root fields and where OpenAPI 3 (Google's dialect) says the same.
const SWAGGER2_ROOT_FIELDS: [(&str, &str); 8] = [
    (
        "host",
        "the host in the url of the server marked x-google-endpoint",
    ),
    (
        "basePath",
        "the path in the url of the server marked x-google-endpoint",
    ),
    (
        "schemes",
        "the scheme in the url of the server marked x-google-endpoint",
    ),
    ("securityDefinitions", "components.securitySchemes"),
    (
        "x-google-management",
        "x-google-api-management (metrics and quota.limits as maps keyed by name)",
    ),
    (
        "x-google-endpoints",
        "a server marked x-google-endpoint, and allowCors in x-google-api-management",
    ),
    ("x-google-api-name", "x-google-api-management.apiName"),
    ("x-google-quota", "x-google-quota on each operation"),
];

/// API Gateway features wasp does not build, on an operation.
const UNSUPPORTED_OPERATION_EXTENSIONS: [(&str, &str); 2] = [
    ("x-google-model-router", "API Gateway's model routing"),
    ("x-google-mcp-tool", "API Gateway's MCP tools"),
];

/// Reads one 3.x document. `Ok(None)`: a file other files only take `$ref` targets from
/// (`referenced`, without `x-google-api-management`).
pub fn read_openapi3(
    file: &str,
    document: &Value,
    documents: &Documents,
    referenced: bool,
) -> Result<Option<Spec>, Diagnostics> {
    let mut reader = OpenApi3 {
        r: Reader::new(file),
        documents,
        schemes: Vec::new(),
        backends: BTreeMap::new(),
    };
    let spec = match reader.spec(document, referenced) {
        Some(None) => return Ok(None),
        Some(Some(spec)) => Some(spec),
        None => None,
    };
    let (mut spec, warnings) = reader.r.finish(spec)?;
    spec.warnings = warnings;
    Ok(Some(spec))
}

struct OpenApi3<'d> {
    r: Reader,
    documents: &'d Documents<'d>,
    /// `components.securitySchemes`, read before any `security` list.
    schemes: Vec<Scheme>,
    /// `x-google-api-management.backends`, read before any `x-google-backend`.
    backends: BTreeMap<String, BackendRule>,
}

impl PathsReader for OpenApi3<'_> {
    fn reader(&mut self) -> &mut Reader {
        &mut self.r
    }

    /// A path item, following a `$ref` (to `components.pathItems` or another file).
    fn path_item(&mut self, item: &Value, pointer: &Pointer) -> Option<Vec<SpecOperation>> {
        let map = self.r.mapping(item, pointer, "a path item", "")?;
        if ref_of(item).is_none() {
            return self.path_item_operations(map, pointer, pointer);
        }
        if let Some(own) = ignored_beside_ref(item) {
            self.r.problem(&pointer.child(own), format!("{own} stands beside this path item's $ref, where it would be ignored; write it in the referenced path item instead"));
            return None;
        }
        let file = self.r.file().to_string();
        let target = match self.documents.follow(&file, pointer, item) {
            Ok(target) => target,
            Err(message) => {
                self.r.problem(&pointer.child("$ref"), message);
                return None;
            }
        };
        if target.file == file {
            let map = self
                .r
                .mapping(target.value, &target.pointer, "a path item", "")?;
            return self.path_item_operations(map, &target.pointer, pointer);
        }
        // Problems inside the other file are reported there; the operations keep the
        // pointer of the path they serve here.
        let mut other = OpenApi3 {
            r: Reader::new(target.file),
            documents: self.documents,
            schemes: std::mem::take(&mut self.schemes),
            backends: std::mem::take(&mut self.backends),
        };
        let operations = other
            .r
            .mapping(target.value, &target.pointer, "a path item", "")
            .and_then(|map| other.path_item_operations(map, &target.pointer, pointer));
        self.schemes = std::mem::take(&mut other.schemes);
        self.backends = std::mem::take(&mut other.backends);
        self.r.absorb(other.r);
        operations
    }
}

impl OpenApi3<'_> {
    fn spec(&mut self, document: &Value, referenced: bool) -> Option<Option<Spec>> {
        let root = Pointer::root();
        let top = self.r.mapping(document, &root, "the document", "")?;
        self.version(top);
        if only_webhooks(top) {
            self.r.problem(&root.child("webhooks"), "this document defines only webhooks (requests the API sends to its subscribers), which a gateway never serves; add paths with the operations clients call");
            return None;
        }
        self.swagger2_leftovers(top);
        let Some(management) = top.get("x-google-api-management") else {
            if referenced {
                return Some(None);
            }
            self.r.problem(&root, "an OpenAPI 3 document needs x-google-api-management at the top level (Cloud Endpoints and API Gateway require it); add x-google-api-management: {} and put its metrics, quota and backends there");
            return None;
        };
        if top.contains_key("x-google-allow") {
            self.r.problem(&root.child("x-google-allow"), "x-google-allow is not available in OpenAPI 3 (Cloud Endpoints and API Gateway do not support it there); list every path the backend serves, or keep this API in OpenAPI 2.0 to pass undefined paths");
        }
        let management = read_api_management(
            &mut self.r,
            management,
            &root.child("x-google-api-management"),
        );
        let server = self.server(top);
        self.schemes = read_security_schemes(&mut self.r, top, self.documents);
        let security = read_security(&mut self.r, top, &root, &self.schemes, Format::OpenApi3);
        if let Some(management) = &management {
            self.backends = management.backends.clone();
        }
        let backend = self.backend(top, &root, Level::Top);
        if top.get("webhooks").is_some_and(|w| !is_empty_mapping(w)) {
            self.r.warn(&root.child("webhooks"), "webhooks are not served: they are requests the API sends to its subscribers, which never pass through the gateway; only paths are compiled");
        }
        let paths = self.paths(top);
        let (host, host_pointer, base_path) = server?;
        let ApiManagement {
            management,
            api_name,
            allow_cors,
            ..
        } = management?;
        Some(Some(Spec {
            file: self.r.file().to_string(),
            format: Format::OpenApi3,
            host,
            host_pointer,
            base_path,
            allow: Allow::Configured,
            paths: paths?,
            backend,
            allow_cors,
            api_name,
            schemes: std::mem::take(&mut self.schemes),
            security: security.flatten(),
            // No metrics and no limits: nothing for a control service, as in a 2.0 spec
            // without x-google-management.
            management: (!management.metrics.is_empty() || !management.limits.is_empty())
                .then_some(management),
            warnings: Vec::new(),
        }))
    }

    /// 2.0 fields a 3.x reader would otherwise skip in silence: each has a 3.x place.
    fn swagger2_leftovers(&mut self, top: &Mapping) {
        for (field, instead) in SWAGGER2_ROOT_FIELDS {
            if top.contains_key(field) {
                self.r.problem(
                    &Pointer::root().child(field),
                    format!(
                        "{field} is OpenAPI 2.0; in OpenAPI 3 write {instead}, and remove {field}"
                    ),
                );
            }
        }
    }

    fn version(&mut self, top: &Mapping) {
        let at = Pointer::root().child("openapi");
        match top.get("openapi") {
            Some(Value::String(v)) if v.starts_with("3.0.") || v.starts_with("3.1.") => {}
            Some(Value::String(v)) => self.r.problem(
                &at,
                format!("OpenAPI {v:?} is not supported; wasp reads OpenAPI 3.0 and 3.1 (such as openapi: 3.0.4) and swagger: \"2.0\""),
            ),
            Some(other) => self.r.problem(
                &at,
                format!("openapi is {}, but it must be a version string; quote it: openapi: \"3.0.4\"", shown(other)),
            ),
            None => {}
        }
    }

    /// The server marked `x-google-endpoint`: (host, where, base path).
    fn server(&mut self, top: &Mapping) -> Option<(String, Pointer, String)> {
        let at = Pointer::root().child("servers");
        let example = "servers: [{url: https://my-api.endpoints.my-project.cloud.goog/v1, x-google-endpoint: {}}]";
        let Some(servers) = top.get("servers") else {
            self.r.problem(&Pointer::root(), format!("the document has no servers; add {example} (the marked server's host is the service name, its path the base path)"));
            return None;
        };
        let servers = self.r.list(
            servers,
            &at,
            "servers",
            "[{url: https://..., x-google-endpoint: {}}]",
        )?;
        let mut marked = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            let server_at = at.child(&i.to_string());
            if let Some(server) =
                self.r
                    .mapping(server, &server_at, "a server", "{url: https://...}")
            {
                if server.contains_key("x-google-endpoint") {
                    marked.push((server, server_at));
                }
            }
        }
        let mut marked = marked.into_iter();
        let Some((server, server_at)) = marked.next() else {
            self.r.problem(&at, format!("no server is marked with x-google-endpoint; mark the one whose host is the service name, as in {example}"));
            return None;
        };
        for (_, also) in marked {
            self.r.problem(&also.child("x-google-endpoint"), format!("only one server may carry x-google-endpoint (so does {server_at}); remove the marker from all but the server that names the service"));
        }
        self.endpoint_marker(server, &server_at);
        let url_at = server_at.child("url");
        let url = self.r.required_string(
            server,
            "url",
            &server_at,
            "https://my-api.endpoints.my-project.cloud.goog/v1",
        )?;
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            self.r.problem(&url_at, format!("url {url:?} gives no service name; the server marked with x-google-endpoint needs a full URL such as https://my-api.endpoints.my-project.cloud.goog/v1"));
            return None;
        };
        let (host, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if host.contains(['{', '}']) || path.contains(['{', '}']) {
            self.r.problem(&url_at, format!("url {url:?} uses server variables; write the service's URL literally in the server marked with x-google-endpoint"));
            return None;
        }
        if host.contains(':') {
            self.r.problem(&url_at, format!("url {url:?} has a port; the marked server's host is the service name, which has none (Cloud Endpoints refuses a custom port): write https://{}{path}", host.split(':').next().unwrap_or(host)));
            return None;
        }
        if !is_service_name(host) {
            self.r.problem(&url_at, format!("the host of url {url:?} is not a service name; write a DNS name such as my-api.endpoints.my-project.cloud.goog"));
            return None;
        }
        let base = match path {
            "" => String::new(),
            path => base_path(&mut self.r, path, &url_at, "the path of url")?,
        };
        Some((host.to_string(), url_at, base))
    }

    /// `servers` on a path item or an operation: allowed and ignored (the gateway serves
    /// one host and base path), but the service's marker belongs only at the top level.
    fn servers_elsewhere(&mut self, servers: &Value, at: &Pointer) {
        let Value::Sequence(servers) = servers else {
            return;
        };
        for (i, server) in servers.iter().enumerate() {
            if matches!(server, Value::Mapping(m) if m.contains_key("x-google-endpoint")) {
                self.r.problem(&at.child(&i.to_string()).child("x-google-endpoint"), "x-google-endpoint marks the service's server in the document's top-level servers only; move the marker there");
            }
        }
    }

    /// `x-google-endpoint: {}`: Google's examples write nothing inside.
    fn endpoint_marker(&mut self, server: &Mapping, server_at: &Pointer) {
        let at = server_at.child("x-google-endpoint");
        let marker = match server.get("x-google-endpoint") {
            None | Some(Value::Null) => return,
            Some(Value::Mapping(marker)) => marker,
            Some(other) => {
                self.r.problem(
                    &at,
                    format!("x-google-endpoint must be {{}}, not {}", describe(other)),
                );
                return;
            }
        };
        for (key, _) in self.r.entries(marker, &at, "x-google-endpoint") {
            if key == "allowCors" {
                self.r.problem(&at.child(key), "allowCors belongs in x-google-api-management in OpenAPI 3; move it there: x-google-api-management: {allowCors: true}");
            } else {
                self.r.problem(&at.child(key), format!("{key:?} is not a field of x-google-endpoint (it marks the server, write x-google-endpoint: {{}}); remove it"));
            }
        }
    }

    /// `x-google-backend: <name>` in `container` (the document or an operation).
    fn backend(&mut self, container: &Mapping, at: &Pointer, level: Level) -> Option<BackendRule> {
        let value = container.get("x-google-backend")?;
        let at = at.child("x-google-backend");
        let defined = || {
            let names: Vec<&str> = self.backends.keys().map(String::as_str).collect();
            match names.is_empty() {
                true => "x-google-api-management.backends defines none".to_string(),
                false => format!("defined: {}", names.join(", ")),
            }
        };
        let name = match value {
            Value::String(name) => name,
            Value::Mapping(_) => {
                let message = format!("in OpenAPI 3, x-google-backend is the name of an entry of x-google-api-management.backends, not a block ({}); move this block there as backends: {{my-backend: {{address: ..., pathTranslation: ..., jwtAudience: ...}}}} (camelCase fields) and write x-google-backend: my-backend", defined());
                self.r.problem(&at, message);
                return None;
            }
            other => {
                self.r.problem(&at, format!("x-google-backend must be the name of a backend in x-google-api-management.backends, not {}", describe(other)));
                return None;
            }
        };
        let Some(rule) = self.backends.get(name) else {
            let message = format!("x-google-backend names {name:?}, which is not defined in x-google-api-management.backends ({}); define it there or fix the name", defined());
            self.r.problem(&at, message);
            return None;
        };
        Some(BackendRule {
            level,
            ..rule.clone()
        })
    }

    /// The operations of one path item written at `at`, served at `served` (the path's pointer).
    fn path_item_operations(
        &mut self,
        item: &Mapping,
        at: &Pointer,
        served: &Pointer,
    ) -> Option<Vec<SpecOperation>> {
        let mut operations = Vec::new();
        for (key, value) in self.r.entries(item, at, "this path item") {
            let key_at = at.child(key);
            if let Some(method) = Method::from_key(key) {
                if let Some(mut operation) = self.operation(method, value, key_at) {
                    operation.pointer = served.child(key);
                    operations.push(operation);
                }
            } else if key == "trace" {
                self.r.problem(&key_at, "trace operations are not served by wasp (ESPv2 serves get, put, post, delete, options, head and patch); remove it");
            } else if OPERATION_ONLY_KEYS.contains(&key) {
                self.r.problem(&key_at, format!("{key} is not read at the path level; write it in each operation (get, post, ...) of this path, or at the top level of the document where it may stand there"));
            } else if key == "servers" {
                self.servers_elsewhere(value, &key_at);
            } else if !PATH_ITEM_OTHER_KEYS.contains(&key)
                && !key.starts_with("x-")
                && key != "$ref"
            {
                self.r.problem(&key_at, format!("{key:?} is not an OpenAPI 3 operation; use get, put, post, delete, options, head or patch (lower case)"));
            }
        }
        Some(operations)
    }

    fn operation(
        &mut self,
        method: Method,
        value: &Value,
        pointer: Pointer,
    ) -> Option<SpecOperation> {
        let operation = self.r.mapping(value, &pointer, "an operation", "")?;
        let operation_id = read_operation_id(&mut self.r, operation, &pointer)?;
        for (extension, feature) in UNSUPPORTED_OPERATION_EXTENSIONS {
            if operation.contains_key(extension) {
                self.r.problem(
                    &pointer.child(extension),
                    format!("{extension} ({feature}) is not supported by wasp; remove it"),
                );
            }
        }
        if let Some(servers) = operation.get("servers") {
            self.servers_elsewhere(servers, &pointer.child("servers"));
        }
        if operation.contains_key("callbacks") {
            self.r.warn(&pointer.child("callbacks"), "callbacks are not served: they are requests the API sends to its clients, which never pass through the gateway");
        }
        let backend = self.backend(operation, &pointer, Level::Operation);
        let security = read_security(
            &mut self.r,
            operation,
            &pointer,
            &self.schemes,
            Format::OpenApi3,
        );
        let metric_costs = self.costs(operation, &pointer);
        let jwt_allow_missing = read_jwt_allow_missing(&mut self.r, operation, &pointer);
        Some(SpecOperation {
            method,
            operation_id,
            pointer,
            backend,
            security,
            metric_costs,
            jwt_allow_missing,
        })
    }

    /// `x-google-quota: {metric: cost}` (3.x drops 2.0's `metricCosts` level).
    fn costs(&mut self, operation: &Mapping, at: &Pointer) -> Option<crate::model::MetricCosts> {
        let value = operation.get("x-google-quota")?;
        let at = at.child("x-google-quota");
        let costs = self
            .r
            .mapping(value, &at, "x-google-quota", "{read-requests: 1}")?;
        if let Some(Value::Mapping(_)) = costs.get("metricCosts") {
            self.r.problem(&at.child("metricCosts"), "in OpenAPI 3, x-google-quota maps metric names to costs directly; write x-google-quota: {read-requests: 1} without metricCosts");
            return None;
        }
        Some(read_cost_map(&mut self.r, costs, &at))
    }
}

/// A 3.1 document whose API is only webhooks: no paths, or none with anything in them.
fn only_webhooks(top: &Mapping) -> bool {
    top.contains_key("webhooks") && top.get("paths").is_none_or(is_empty_mapping)
}

fn is_empty_mapping(value: &Value) -> bool {
    matches!(value, Value::Mapping(m) if m.is_empty()) || value.is_null()
}
