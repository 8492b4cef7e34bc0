//! Reads one OpenAPI 2.0 document (`swagger: "2.0"` with the 2.0 `x-google-*`
//! extensions) into the service model: only what wasp compiles, each piece with the
//! JSON pointer it came from.
//!
//! Everything else (`info`, `definitions`, `responses`, ...) is accepted and
//! ignored here, so a spec written for Cloud Endpoints compiles as it is.

use crate::errors::Diagnostics;
use crate::model::{Allow, Format, Method, Spec, SpecOperation};
use crate::model::{BackendRule, Level, Scheme};
use crate::pointer::Pointer;
use crate::read::backend_rule::{read_rule, SWAGGER2_BACKEND};
use crate::read::quota::{read_management, read_metric_costs};
use crate::read::security::read_security;
use crate::read::security_definitions::read_security_definitions;
use crate::read::yaml::{describe, shown, Reader};
use crate::read::{read_api_name, read_jwt_allow_missing, read_operation_id, PathsReader};
use serde_norway::{Mapping, Value};

/// Reads one 2.0 document, collecting every problem found.
pub fn read_swagger2(file: &str, document: &Value) -> Result<Spec, Diagnostics> {
    let mut reader = Swagger2 {
        r: Reader::new(file),
        schemes: Vec::new(),
    };
    let spec = reader.spec(document);
    let Swagger2 { r, .. } = reader;
    let (mut spec, warnings) = r.finish(spec)?;
    spec.warnings = warnings;
    Ok(spec)
}

struct Swagger2 {
    r: Reader,
    /// `securityDefinitions`, read first: `security` lists refer to them.
    schemes: Vec<Scheme>,
}

impl PathsReader for Swagger2 {
    fn reader(&mut self) -> &mut Reader {
        &mut self.r
    }

    fn path_item(&mut self, item: &Value, pointer: &Pointer) -> Option<Vec<SpecOperation>> {
        let item = self.r.mapping(item, pointer, "a path item", "")?;
        let mut operations = Vec::new();
        for (key, value) in self.r.entries(item, pointer, "this path item") {
            let key_pointer = pointer.child(key);
            if let Some(method) = Method::from_key(key) {
                if let Some(operation) = self.operation(method, value, key_pointer) {
                    operations.push(operation);
                }
            } else if key == "x-google-backend" {
                // ESPv2 silently ignores it here and users were bitten (esp-v2 #170, #437).
                self.r.problem(
                    &key_pointer,
                    "x-google-backend is not read at the path level (ESPv2 ignores it there); move it into each operation (get, post, ...) of this path, or to the top level of the document",
                );
            } else if key == "$ref" {
                self.r.problem(
                    &key_pointer,
                    "a $ref path item is not supported; write the operations inline under this path",
                );
            } else if key != "parameters" && !key.starts_with("x-") {
                self.r.problem(
                    &key_pointer,
                    format!("{key:?} is not an OpenAPI 2.0 operation; use get, put, post, delete, options, head or patch (lower case)"),
                );
            }
        }
        Some(operations)
    }
}

impl Swagger2 {
    /// An `x-google-backend` in `container` (a top-level or operation object).
    fn backend(&mut self, container: &Mapping, at: &Pointer, level: Level) -> Option<BackendRule> {
        let value = container.get("x-google-backend")?;
        read_rule(
            &mut self.r,
            value,
            &at.child("x-google-backend"),
            level,
            &SWAGGER2_BACKEND,
        )
    }

    fn spec(&mut self, document: &Value) -> Option<Spec> {
        let root = Pointer::root();
        let top = self.r.mapping(document, &root, "the document", "")?;
        self.swagger_version(top);
        self.schemes = read_security_definitions(&mut self.r, top);
        let security = read_security(&mut self.r, top, &root, &self.schemes, Format::Swagger2);
        let management = read_management(&mut self.r, top);
        let host = self.host(top);
        let base_path = self.base_path(top);
        let allow = self.allow(top);
        let paths = self.paths(top);
        let backend = self.backend(top, &root, Level::Top);
        let allow_cors = self.allow_cors(top);
        let api_name = top.get("x-google-api-name").and_then(|value| {
            read_api_name(
                &mut self.r,
                value,
                &root.child("x-google-api-name"),
                "x-google-api-name",
            )
        });
        Some(Spec {
            file: self.r.file().to_string(),
            format: Format::Swagger2,
            host: host?,
            host_pointer: root.child("host"),
            base_path: base_path?,
            allow: allow?,
            paths: paths?,
            backend,
            allow_cors,
            api_name,
            schemes: std::mem::take(&mut self.schemes),
            security: security.flatten(),
            management,
            warnings: Vec::new(),
        })
    }

    /// `x-google-endpoints: [{name, target, allowCors}]`; only `allowCors` matters here.
    fn allow_cors(&mut self, top: &Mapping) -> Option<Pointer> {
        let pointer = Pointer::root().child("x-google-endpoints");
        let value = top.get("x-google-endpoints")?;
        let Value::Sequence(entries) = value else {
            self.r.problem(
                &pointer,
                format!("x-google-endpoints must be a list such as [{{name: my-api.endpoints.my-project.cloud.goog, allowCors: true}}], not {}", describe(value)),
            );
            return None;
        };
        let mut allow = None;
        for (i, entry) in entries.iter().enumerate() {
            let at = pointer.child(&i.to_string());
            let Some(entry) = self
                .r
                .mapping(entry, &at, "an x-google-endpoints entry", "")
            else {
                continue;
            };
            if self.r.bool(entry, "allowCors", &at) == Some(Some(true)) && allow.is_none() {
                allow = Some(pointer.clone());
            }
        }
        allow
    }

    fn swagger_version(&mut self, top: &Mapping) {
        let pointer = Pointer::root().child("swagger");
        match top.get("swagger") {
            Some(Value::String(v)) if v == "2.0" => {}
            Some(Value::String(v)) => self.r.problem(
                &pointer,
                format!("swagger version {v:?} is not supported; wasp reads OpenAPI 2.0 (swagger: \"2.0\"), 3.0 and 3.1 (openapi: 3.0.4)"),
            ),
            Some(Value::Number(n)) => self.r.problem(
                &pointer,
                format!("swagger is the number {n}, but it must be the string \"2.0\"; quote it: swagger: \"2.0\""),
            ),
            Some(other) => self.r.problem(
                &pointer,
                format!("swagger is {}; write swagger: \"2.0\"", describe(other)),
            ),
            None => self.r.problem(
                &Pointer::root(),
                "the document has no swagger or openapi field; add swagger: \"2.0\" (or openapi: 3.0.4 for an OpenAPI 3 document) at the top level",
            ),
        }
    }

    fn host(&mut self, top: &Mapping) -> Option<String> {
        let pointer = Pointer::root().child("host");
        let host = match top.get("host") {
            Some(Value::String(h)) => h,
            Some(other) => {
                self.r.problem(
                    &pointer,
                    format!(
                        "host must be a string (the service name), not {}",
                        describe(other)
                    ),
                );
                return None;
            }
            None => {
                self.r.problem(
                    &Pointer::root(),
                    "the document has no host; add host: <service name> (for example my-api.endpoints.my-project.cloud.goog), Cloud Endpoints requires it",
                );
                return None;
            }
        };
        if !crate::read::is_service_name(host) {
            self.r.problem(
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
            Some(Value::String(b)) => crate::read::base_path(&mut self.r, b, &pointer, "basePath"),
            Some(other) => {
                self.r.problem(
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
                self.r.problem(
                    &pointer,
                    format!("x-google-allow is {}; use \"configured\" (only the paths in the spec, the default) or \"all\" (also pass undefined paths to the backend)", shown(other)),
                );
                None
            }
        }
    }

    fn operation(
        &mut self,
        method: Method,
        value: &Value,
        pointer: Pointer,
    ) -> Option<SpecOperation> {
        let operation = self.r.mapping(value, &pointer, "an operation", "")?;
        let operation_id = read_operation_id(&mut self.r, operation, &pointer)?;
        let backend = self.backend(operation, &pointer, Level::Operation);
        let security = read_security(
            &mut self.r,
            operation,
            &pointer,
            &self.schemes,
            Format::Swagger2,
        );
        let metric_costs = read_metric_costs(&mut self.r, operation, &pointer);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<Spec, Diagnostics> {
        let doc: Value = serde_norway::from_str(yaml).unwrap();
        read_swagger2("t.yaml", &doc)
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
                r#"t.yaml: /swagger: swagger version "3.0" is not supported; wasp reads OpenAPI 2.0 (swagger: "2.0"), 3.0 and 3.1 (openapi: 3.0.4)"#
            ]
        );
        let e = errors("swagger: 2.0\nhost: h.example.com\npaths: {}\n");
        assert!(
            e[0].starts_with("t.yaml: /swagger: swagger is the number 2.0"),
            "{e:?}"
        );
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
        assert!(cors("[{name: api.example.com, allowCors: true}]")
            .unwrap()
            .allow_cors
            .is_some());
        assert!(
            cors("[{name: a, target: 10.0.0.1}, {name: b, allowCors: True}]")
                .unwrap()
                .allow_cors
                .is_some()
        );
        assert!(cors("[{name: api.example.com}]")
            .unwrap()
            .allow_cors
            .is_none());
        assert!(read(&format!("{HEAD}paths: {{}}\n"))
            .unwrap()
            .allow_cors
            .is_none());
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
