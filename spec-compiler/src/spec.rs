//! A typed view of one OpenAPI 2.0 document: only what wasp compiles today,
//! each piece with the JSON pointer it came from.
//!
//! Everything else (`info`, `definitions`, `responses`, ...) is accepted and
//! ignored here, so a spec written for Cloud Endpoints compiles as it is.

use crate::errors::{Diagnostic, Diagnostics};
use crate::management::{read_management, read_metric_costs, Management, MetricCosts};
use crate::pointer::Pointer;
use crate::security::read_security;
use crate::security_definitions::{read_security_definitions, Scheme};
use crate::source::describe;
use crate::x_google_backend::{read_rule, BackendRule, Level};
use serde_norway::{Mapping, Value};
use wasp_config::SecurityRequirement;

/// The HTTP methods OpenAPI 2.0 allows as path-item keys.
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
    fn from_key(key: &str) -> Option<Method> {
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

/// One parsed spec file.
#[derive(Debug, Clone)]
pub struct Spec {
    pub file: String,
    /// `host`: the service name.
    pub host: String,
    /// `basePath` without its trailing `/` (so `/` becomes empty).
    pub base_path: String,
    pub allow: Allow,
    pub paths: Vec<PathEntry>,
    /// The top-level `x-google-backend`.
    pub backend: Option<BackendRule>,
    /// `x-google-endpoints` has an entry with `allowCors: true`.
    pub allow_cors: bool,
    /// `x-google-api-name`, with where it was written.
    pub api_name: Option<(String, Pointer)>,
    /// `securityDefinitions`.
    pub schemes: Vec<Scheme>,
    /// The top-level `security`; `None` when absent or `[]`.
    pub security: Option<SecurityRequirement>,
    /// `x-google-management`.
    pub management: Option<Management>,
}

/// One entry of `paths`.
#[derive(Debug, Clone)]
pub struct PathEntry {
    /// The key as written (`/shelves/{shelf}`), without basePath.
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
    /// The operation-level `x-google-backend`; replaces the top-level one.
    pub backend: Option<BackendRule>,
    /// The operation's own `security` (replaces the top-level one): `None` when not
    /// written, `Some(None)` for `security: []`.
    pub security: Option<Option<SecurityRequirement>>,
    /// `x-google-quota.metricCosts`.
    pub metric_costs: Option<MetricCosts>,
    /// wasp's `x-wasp-jwt-allow-missing: true`: no token passes, a sent one must verify.
    pub jwt_allow_missing: bool,
}

/// wasp's operation-level extension for ESPv2's `allow_without_credential`.
pub const JWT_ALLOW_MISSING: &str = "x-wasp-jwt-allow-missing";

/// Reads one spec document, collecting every problem found.
pub fn read_spec(file: &str, document: &Value) -> Result<Spec, Diagnostics> {
    let mut reader = Reader {
        file,
        problems: Vec::new(),
        schemes: Vec::new(),
    };
    let spec = reader.spec(document);
    match spec {
        Some(spec) if reader.problems.is_empty() => Ok(spec),
        _ => Err(reader.problems),
    }
}

struct Reader<'a> {
    file: &'a str,
    problems: Diagnostics,
    /// `securityDefinitions`, read first: `security` lists refer to them.
    schemes: Vec<Scheme>,
}

impl Reader<'_> {
    fn problem(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(self.file, pointer, message));
    }

    /// An `x-google-backend` in `container` (a top-level or operation object).
    fn backend(&mut self, container: &Mapping, at: &Pointer, level: Level) -> Option<BackendRule> {
        let value = container.get("x-google-backend")?;
        match read_rule(self.file, value, &at.child("x-google-backend"), level) {
            Ok(rule) => Some(rule),
            Err(found) => {
                self.problems.extend(found);
                None
            }
        }
    }

    fn mapping<'v>(
        &mut self,
        value: &'v Value,
        pointer: &Pointer,
        what: &str,
    ) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            other => {
                self.problem(
                    pointer,
                    format!(
                        "{what} must be a mapping (key: value pairs), not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn spec(&mut self, document: &Value) -> Option<Spec> {
        let root = Pointer::root();
        let top = self.mapping(document, &root, "the document")?;
        self.swagger_version(top);
        self.schemes = read_security_definitions(self.file, top, &mut self.problems);
        let security = self.security(top, &root);
        let management = read_management(self.file, top, &mut self.problems);
        let host = self.host(top);
        let base_path = self.base_path(top);
        let allow = self.allow(top);
        let paths = self.paths(top);
        let backend = self.backend(top, &root, Level::Top);
        let allow_cors = self.allow_cors(top);
        let api_name = self.api_name(top);
        Some(Spec {
            file: self.file.to_string(),
            host: host?,
            base_path: base_path?,
            allow: allow?,
            paths: paths?,
            backend,
            allow_cors,
            api_name,
            schemes: std::mem::take(&mut self.schemes),
            security: security.flatten(),
            management,
        })
    }

    /// A `security` list in `container`: `None` when absent or invalid (reported).
    fn security(
        &mut self,
        container: &Mapping,
        at: &Pointer,
    ) -> Option<Option<SecurityRequirement>> {
        let value = container.get("security")?;
        read_security(
            self.file,
            value,
            &at.child("security"),
            &self.schemes,
            &mut self.problems,
        )
    }

    /// `x-google-endpoints: [{name, target, allowCors}]`; only `allowCors` matters here.
    fn allow_cors(&mut self, top: &Mapping) -> bool {
        let pointer = Pointer::root().child("x-google-endpoints");
        let Some(value) = top.get("x-google-endpoints") else {
            return false;
        };
        let Value::Sequence(entries) = value else {
            self.problem(
                &pointer,
                format!("x-google-endpoints must be a list such as [{{name: my-api.endpoints.my-project.cloud.goog, allowCors: true}}], not {}", describe(value)),
            );
            return false;
        };
        let mut allow = false;
        for (i, entry) in entries.iter().enumerate() {
            let at = pointer.child(&i.to_string());
            let Some(entry) = self.mapping(entry, &at, "an x-google-endpoints entry") else {
                continue;
            };
            match entry.get("allowCors") {
                None => {}
                Some(Value::Bool(b)) => allow |= b,
                Some(other) => self.problem(
                    &at.child("allowCors"),
                    format!("allowCors must be true or false, not {}", describe(other)),
                ),
            }
        }
        allow
    }

    /// `x-google-api-name`: a name such as `producer` (letters, digits, `_`, `.`, `-`).
    fn api_name(&mut self, top: &Mapping) -> Option<(String, Pointer)> {
        let pointer = Pointer::root().child("x-google-api-name");
        let value = top.get("x-google-api-name")?;
        match value {
            Value::String(name)
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                    && !name.starts_with(['.', '-']) =>
            {
                Some((name.clone(), pointer))
            }
            Value::String(name) => {
                self.problem(
                    &pointer,
                    format!("x-google-api-name {name:?} is not an API name; use letters, digits, '_', '.' and '-' only, such as producer"),
                );
                None
            }
            other => {
                self.problem(
                    &pointer,
                    format!(
                        "x-google-api-name must be a string such as producer, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn swagger_version(&mut self, top: &Mapping) {
        let pointer = Pointer::root().child("swagger");
        match top.get("swagger") {
            Some(Value::String(v)) if v == "2.0" => {}
            Some(Value::String(v)) => self.problem(
                &pointer,
                format!("swagger version {v:?} is not supported; wasp reads OpenAPI 2.0: write swagger: \"2.0\""),
            ),
            Some(Value::Number(n)) => self.problem(
                &pointer,
                format!("swagger is the number {n}, but it must be the string \"2.0\"; quote it: swagger: \"2.0\""),
            ),
            Some(other) => self.problem(
                &pointer,
                format!("swagger is {}; write swagger: \"2.0\"", describe(other)),
            ),
            None if top.contains_key("openapi") => self.problem(
                &Pointer::root().child("openapi"),
                "OpenAPI 3 documents are not supported (Cloud Endpoints reads OpenAPI 2.0); convert the spec to swagger: \"2.0\"",
            ),
            None => self.problem(
                &Pointer::root(),
                "the document has no swagger field; add swagger: \"2.0\" at the top level",
            ),
        }
    }

    fn host(&mut self, top: &Mapping) -> Option<String> {
        let pointer = Pointer::root().child("host");
        let host = match top.get("host") {
            Some(Value::String(h)) => h,
            Some(other) => {
                self.problem(
                    &pointer,
                    format!(
                        "host must be a string (the service name), not {}",
                        describe(other)
                    ),
                );
                return None;
            }
            None => {
                self.problem(
                    &Pointer::root(),
                    "the document has no host; add host: <service name> (for example my-api.endpoints.my-project.cloud.goog), Cloud Endpoints requires it",
                );
                return None;
            }
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !host.starts_with(['.', '-']);
        if !valid {
            self.problem(
                &pointer,
                format!("host {host:?} is not a service name; write a DNS name such as my-api.endpoints.my-project.cloud.goog, without scheme, port or path"),
            );
            return None;
        }
        Some(host.clone())
    }

    fn base_path(&mut self, top: &Mapping) -> Option<String> {
        let pointer = Pointer::root().child("basePath");
        match top.get("basePath") {
            None => Some(String::new()),
            Some(Value::String(b))
                if b.starts_with('/') && !b.contains(['{', '}', '*', '?', '#']) =>
            {
                Some(b.trim_end_matches('/').to_string())
            }
            Some(Value::String(b)) => {
                self.problem(
                    &pointer,
                    format!("basePath {b:?} must be a plain path starting with '/' (like /v1), without variables, wildcards or query"),
                );
                None
            }
            Some(other) => {
                self.problem(
                    &pointer,
                    format!(
                        "basePath must be a string like /v1, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn allow(&mut self, top: &Mapping) -> Option<Allow> {
        let pointer = Pointer::root().child("x-google-allow");
        match top.get("x-google-allow") {
            None => Some(Allow::Configured),
            Some(Value::String(v)) if v == "configured" => Some(Allow::Configured),
            Some(Value::String(v)) if v == "all" => Some(Allow::All),
            Some(other) => {
                let shown = match other {
                    Value::String(s) => format!("{s:?}"),
                    v => describe(v).to_string(),
                };
                self.problem(
                    &pointer,
                    format!("x-google-allow is {shown}; use \"configured\" (only the paths in the spec, the default) or \"all\" (also pass undefined paths to the backend)"),
                );
                None
            }
        }
    }

    fn paths(&mut self, top: &Mapping) -> Option<Vec<PathEntry>> {
        let pointer = Pointer::root().child("paths");
        let Some(value) = top.get("paths") else {
            self.problem(
                &Pointer::root(),
                "the document has no paths; add a paths mapping with at least one operation",
            );
            return None;
        };
        let paths = self.mapping(value, &pointer, "paths")?;
        let mut entries = Vec::with_capacity(paths.len());
        for (key, item) in paths {
            let Value::String(path) = key else {
                self.problem(
                    &pointer,
                    format!(
                        "a key of paths is {}; path keys are strings starting with '/'",
                        describe(key)
                    ),
                );
                continue;
            };
            if path.starts_with("x-") {
                continue; // specification extension, not a path
            }
            let item_pointer = pointer.child(path);
            if !path.starts_with('/') {
                self.problem(
                    &item_pointer,
                    format!("path {path:?} must start with '/'; write \"/{path}\""),
                );
                continue;
            }
            if let Some(operations) = self.path_item(item, &item_pointer) {
                entries.push(PathEntry {
                    path: path.clone(),
                    pointer: item_pointer,
                    operations,
                });
            }
        }
        Some(entries)
    }

    fn path_item(&mut self, item: &Value, pointer: &Pointer) -> Option<Vec<SpecOperation>> {
        let item = self.mapping(item, pointer, "a path item")?;
        let mut operations = Vec::new();
        for (key, value) in item {
            let Value::String(key) = key else {
                self.problem(
                    pointer,
                    format!(
                        "a key of this path item is {}; use HTTP methods such as get or post",
                        describe(key)
                    ),
                );
                continue;
            };
            let key_pointer = pointer.child(key);
            if let Some(method) = Method::from_key(key) {
                if let Some(operation) = self.operation(method, value, key_pointer) {
                    operations.push(operation);
                }
            } else if key == "x-google-backend" {
                // ESPv2 silently ignores it here and users were bitten (esp-v2 #170, #437).
                self.problem(
                    &key_pointer,
                    "x-google-backend is not read at the path level (ESPv2 ignores it there); move it into each operation (get, post, ...) of this path, or to the top level of the document",
                );
            } else if key == "$ref" {
                self.problem(
                    &key_pointer,
                    "a $ref path item is not supported; write the operations inline under this path",
                );
            } else if key != "parameters" && !key.starts_with("x-") {
                self.problem(
                    &key_pointer,
                    format!("{key:?} is not an OpenAPI 2.0 operation; use get, put, post, delete, options, head or patch (lower case)"),
                );
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
        let operation = self.mapping(value, &pointer, "an operation")?;
        let id_pointer = pointer.child("operationId");
        let operation_id = match operation.get("operationId") {
            None => None,
            Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
            Some(Value::String(_)) => {
                self.problem(
                    &id_pointer,
                    "operationId is empty; give the operation a unique name such as getShelf",
                );
                return None;
            }
            Some(other) => {
                self.problem(
                    &id_pointer,
                    format!(
                        "operationId must be a string such as getShelf, not {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let backend = self.backend(operation, &pointer, Level::Operation);
        let security = self.security(operation, &pointer);
        let metric_costs = read_metric_costs(self.file, operation, &pointer, &mut self.problems);
        let jwt_allow_missing = match operation.get(JWT_ALLOW_MISSING) {
            None => false,
            Some(Value::Bool(allow)) => *allow,
            Some(other) => {
                self.problem(
                    &pointer.child(JWT_ALLOW_MISSING),
                    format!(
                        "{JWT_ALLOW_MISSING} must be true or false, not {}",
                        describe(other)
                    ),
                );
                false
            }
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Spec, Diagnostics> {
        let doc: Value = serde_norway::from_str(yaml).unwrap();
        read_spec("t.yaml", &doc)
    }

    fn errors(yaml: &str) -> Vec<String> {
        read(yaml)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const HEAD: &str = "swagger: '2.0'\nhost: api.example.com\n";

    #[test]
    fn reads_operations_in_spec_order() {
        let spec = read(&format!(
            "{HEAD}basePath: /v1/\nx-google-allow: all\nx-google-backend: {{address: https://x}}\npaths:\n  /b:\n    parameters: []\n    post: {{operationId: makeB}}\n    get: {{}}\n  /a:\n    get: {{operationId: getA, x-google-quota: {{metricCosts: {{reads: 1}}}}}}\n"
        ))
        .unwrap();
        assert_eq!(spec.host, "api.example.com");
        assert_eq!(spec.base_path, "/v1");
        assert_eq!(spec.allow, Allow::All);
        let seen: Vec<_> = spec
            .paths
            .iter()
            .flat_map(|p| {
                p.operations
                    .iter()
                    .map(move |o| (p.path.as_str(), o.method, o.operation_id.clone()))
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("/b", Method::Post, Some("makeB".into())),
                ("/b", Method::Get, None),
                ("/a", Method::Get, Some("getA".into())),
            ]
        );
        assert_eq!(
            spec.paths[0].operations[0].pointer.as_str(),
            "/paths/~1b/post"
        );
    }

    #[test]
    fn base_path_defaults_to_root() {
        let spec = read(&format!("{HEAD}paths: {{}}\n")).unwrap();
        assert_eq!(spec.base_path, "");
        assert_eq!(
            read(&format!("{HEAD}basePath: /\npaths: {{}}\n"))
                .unwrap()
                .base_path,
            ""
        );
    }

    #[test]
    fn wrong_swagger_version() {
        let e = errors("swagger: '3.0'\nhost: h.example.com\npaths: {}\n");
        assert_eq!(
            e,
            vec![
                r#"t.yaml: /swagger: swagger version "3.0" is not supported; wasp reads OpenAPI 2.0: write swagger: "2.0""#
            ]
        );
        let e = errors("swagger: 2.0\nhost: h.example.com\npaths: {}\n");
        assert!(
            e[0].starts_with("t.yaml: /swagger: swagger is the number 2.0"),
            "{e:?}"
        );
        let e = errors("openapi: 3.0.0\nhost: h.example.com\npaths: {}\n");
        assert!(e[0].starts_with("t.yaml: /openapi: OpenAPI 3"), "{e:?}");
    }

    #[test]
    fn missing_or_bad_host() {
        let e = errors("swagger: '2.0'\npaths: {}\n");
        assert!(
            e[0].starts_with("t.yaml: the document has no host; add host:"),
            "{e:?}"
        );
        let e = errors("swagger: '2.0'\nhost: https://api.example.com/v1\npaths: {}\n");
        assert!(
            e[0].starts_with(
                "t.yaml: /host: host \"https://api.example.com/v1\" is not a service name"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn path_must_start_with_slash() {
        let e = errors(&format!(
            "{HEAD}paths:\n  hello:\n    get: {{operationId: hello}}\n"
        ));
        assert_eq!(
            e,
            vec![r#"t.yaml: /paths/hello: path "hello" must start with '/'; write "/hello""#]
        );
    }

    #[test]
    fn non_mapping_where_a_mapping_is_required() {
        let e = errors(&format!("{HEAD}paths: [a, b]\n"));
        assert_eq!(
            e,
            vec!["t.yaml: /paths: paths must be a mapping (key: value pairs), not a list"]
        );
        let e = errors(&format!("{HEAD}paths:\n  /a: 3\n  /b:\n    get: hello\n"));
        assert_eq!(
            e,
            vec![
                "t.yaml: /paths/~1a: a path item must be a mapping (key: value pairs), not a number",
                "t.yaml: /paths/~1b/get: an operation must be a mapping (key: value pairs), not a string",
            ]
        );
        let e = errors("- swagger\n");
        assert_eq!(
            e,
            vec!["t.yaml: the document must be a mapping (key: value pairs), not a list"]
        );
    }

    #[test]
    fn bad_x_google_allow() {
        let e = errors(&format!("{HEAD}x-google-allow: everything\npaths: {{}}\n"));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                r#"t.yaml: /x-google-allow: x-google-allow is "everything"; use "configured""#
            ),
            "{e:?}"
        );
    }

    #[test]
    fn ref_path_items_and_unknown_methods_are_rejected_clearly() {
        let e = errors(&format!(
            "{HEAD}paths:\n  /a:\n    $ref: '#/x'\n    trace: {{}}\n    GET: {{}}\n"
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("t.yaml: /paths/~1a/$ref: a $ref path item is not supported"));
        assert!(
            e[1].starts_with("t.yaml: /paths/~1a/trace: \"trace\" is not an OpenAPI 2.0 operation")
        );
        assert!(e[2].contains("(lower case)"));
    }

    #[test]
    fn collects_every_problem_in_a_file() {
        let e = errors(
            "swagger: '1.2'\nhost: 'a b'\nbasePath: v1\npaths:\n  /a:\n    get: {operationId: 7}\n",
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[3].starts_with("t.yaml: /paths/~1a/get/operationId: operationId must be a string")
        );
    }

    #[test]
    fn reads_backends_at_top_and_operation_level() {
        let spec = read(&format!(
            "{HEAD}x-google-backend: {{address: 'https://top.example.com'}}\npaths:\n  /a:\n    get:\n      x-google-backend: {{deadline: 3}}\n    post: {{}}\n"
        ))
        .unwrap();
        let top = spec.backend.unwrap();
        assert_eq!(top.level, Level::Top);
        assert_eq!(top.address.unwrap().backend.host, "top.example.com");
        let ops = &spec.paths[0].operations;
        let own = ops[0].backend.as_ref().unwrap();
        assert_eq!(
            (own.level, own.deadline_ms),
            (Level::Operation, Some(3_000))
        );
        assert!(ops[1].backend.is_none());
    }

    #[test]
    fn path_level_backend_is_rejected_with_where_to_move_it() {
        let e = errors(&format!(
            "{HEAD}paths:\n  /a:\n    x-google-backend: {{address: 'https://x.example.com'}}\n    get: {{}}\n"
        ));
        assert_eq!(
            e,
            ["t.yaml: /paths/~1a/x-google-backend: x-google-backend is not read at the path level (ESPv2 ignores it there); move it into each operation (get, post, ...) of this path, or to the top level of the document"]
        );
    }

    #[test]
    fn backend_errors_point_into_the_operation() {
        let e = errors(&format!(
            "{HEAD}paths:\n  /a:\n    get:\n      x-google-backend: {{protocol: h3}}\n"
        ));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("t.yaml: /paths/~1a/get/x-google-backend/protocol: protocol \"h3\""),
            "{e:?}"
        );
    }

    #[test]
    fn allow_cors_from_x_google_endpoints() {
        let cors = |entries: &str| {
            read(&format!(
                "{HEAD}x-google-endpoints: {entries}\npaths: {{}}\n"
            ))
        };
        assert!(
            cors("[{name: api.example.com, allowCors: true}]")
                .unwrap()
                .allow_cors
        );
        assert!(
            cors("[{name: a, target: 10.0.0.1}, {name: b, allowCors: True}]")
                .unwrap()
                .allow_cors
        );
        assert!(!cors("[{name: api.example.com}]").unwrap().allow_cors);
        assert!(!read(&format!("{HEAD}paths: {{}}\n")).unwrap().allow_cors);
        let e = errors(&format!(
            "{HEAD}x-google-endpoints: [{{allowCors: 'yes'}}]\npaths: {{}}\n"
        ));
        assert_eq!(e, ["t.yaml: /x-google-endpoints/0/allowCors: allowCors must be true or false, not a string"]);
        let e = errors(&format!(
            "{HEAD}x-google-endpoints: {{allowCors: true}}\npaths: {{}}\n"
        ));
        assert!(
            e[0].starts_with("t.yaml: /x-google-endpoints: x-google-endpoints must be a list"),
            "{e:?}"
        );
    }

    #[test]
    fn api_names_are_plain_names() {
        let spec = read(&format!(
            "{HEAD}x-google-api-name: producer.v1\npaths: {{}}\n"
        ))
        .unwrap();
        assert_eq!(spec.api_name.unwrap().0, "producer.v1");
        let e = errors(&format!("{HEAD}x-google-api-name: 'my api'\npaths: {{}}\n"));
        assert!(
            e[0].starts_with(
                "t.yaml: /x-google-api-name: x-google-api-name \"my api\" is not an API name"
            ),
            "{e:?}"
        );
        let e = errors(&format!("{HEAD}x-google-api-name: 2\npaths: {{}}\n"));
        assert!(
            e[0].contains("must be a string such as producer, not a number"),
            "{e:?}"
        );
    }
}
