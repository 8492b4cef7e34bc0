//! Spec operations -> filter operations: names as ESPv2 reports them,
//! templates with basePath, and the checks that span files (one service, unique
//! names, each method + template once).

use crate::errors::{Diagnostic, Diagnostics};
use crate::pointer::Pointer;
use crate::spec::{Allow, Method, Spec};
use std::collections::HashMap;
use wasp_config::{Operation, PathTemplate, Segment};

/// The operations of all spec files, plus the service they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceOperations {
    pub service_name: String,
    pub operations: Vec<Operation>,
}

/// The methods `x-google-allow: all` opens on `/**`, as the api-compiler
/// generates them (no HEAD or OPTIONS).
const ALLOW_ALL_METHODS: [&str; 5] = ["Get", "Delete", "Patch", "Post", "Put"];

/// `1.<host with '.' and '-' replaced by '_'>`, the API name of the service.
pub fn api_name(host: &str) -> String {
    format!("1.{}", host.replace(['.', '-'], "_"))
}

/// The api-compiler's method name: first letter upper-cased, every character
/// outside `[A-Za-z0-9_]` replaced by `_` (`get-shelf` -> `Get_shelf`).
pub fn method_name(operation_id: &str) -> String {
    let mut chars = operation_id.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    first
        .into_iter()
        .chain(chars)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The operationId used when a spec gives none: the method, then every word of
/// the template (literals, variable names and a custom verb), each with its
/// first letter upper-cased. `GET /v1/shelves/{shelf_id}:archive` ->
/// `GetV1ShelvesShelf_idArchive`; wildcards become `Any` (`*`) and `AnyPath`
/// (`**`); the root path `/` gives `GetRoot`.
pub fn derived_operation_id(method: Method, template: &PathTemplate) -> String {
    let mut id = method.title().to_string();
    let mut push_word = |word: &str| {
        for part in word.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.extend(chars);
            }
        }
    };
    for segment in &template.segments {
        match segment {
            Segment::Literal(text) => push_word(text),
            Segment::Single(Some(name)) | Segment::Multi(Some(name)) => push_word(name),
            Segment::Single(None) => push_word("Any"),
            Segment::Multi(None) => push_word("AnyPath"),
        }
    }
    if let Some(verb) = &template.verb {
        push_word(verb);
    }
    if template.segments.is_empty() && template.verb.is_none() {
        push_word("Root");
    }
    id
}

/// What makes two templates the same route: segments with variable names
/// erased (`/a/{x}` and `/a/*` collide) plus the custom verb.
type RouteShape = (Vec<Segment>, Option<String>);

fn route_shape(template: &PathTemplate) -> RouteShape {
    let segments = template
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => Segment::Literal(text.clone()),
            Segment::Single(_) => Segment::Single(None),
            Segment::Multi(_) => Segment::Multi(None),
        })
        .collect();
    (segments, template.verb.clone())
}

/// Where something was first defined, to name both places in an error.
struct Origin {
    file: String,
    pointer: Pointer,
    /// The operationId as written, or the template for a method+path clash.
    label: String,
}

impl Origin {
    /// `/paths/~1hi/get` in the same file, `other.yaml: /paths/~1hi/get` otherwise.
    fn place(&self, from_file: &str) -> String {
        if self.file == from_file {
            self.pointer.to_string()
        } else {
            format!("{}: {}", self.file, self.pointer)
        }
    }
}

/// Collects every operation of every spec, reporting all cross-file problems.
pub fn collect_operations(
    specs: &[Spec],
    route_id: &str,
) -> Result<ServiceOperations, Diagnostics> {
    let mut problems = Diagnostics::new();
    let Some(first) = specs.first() else {
        return Err(vec![Diagnostic::option(
            "wasp compile",
            "no spec files given; pass at least one openapi.yaml",
        )]);
    };
    let service_name = first.host.clone();
    let api = api_name(&service_name);
    for spec in &specs[1..] {
        if spec.host != service_name {
            problems.push(Diagnostic::new(
                &spec.file,
                &Pointer::root().child("host"),
                format!(
                    "host {:?} differs from {:?} in {}; all spec files of one compile describe one service, so give them the same host",
                    spec.host, service_name, first.file
                ),
            ));
        }
    }

    let mut operations = Vec::new();
    let mut by_name: HashMap<String, Origin> = HashMap::new();
    let mut by_route: HashMap<(&'static str, RouteShape), Origin> = HashMap::new();
    for spec in specs {
        for entry in &spec.paths {
            let text = format!("{}{}", spec.base_path, entry.path);
            let template = match PathTemplate::parse(&text) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(Diagnostic::new(&spec.file, &entry.pointer, e.to_string()));
                    continue;
                }
            };
            for op in &entry.operations {
                let (id, id_pointer) = match &op.operation_id {
                    Some(id) => (id.clone(), op.pointer.child("operationId")),
                    None => (
                        derived_operation_id(op.method, &template),
                        op.pointer.clone(),
                    ),
                };
                let name = format!("{api}.{}", method_name(&id));
                let label = match &op.operation_id {
                    Some(id) => format!("operationId {id:?}"),
                    None => format!(
                        "the name {id} derived from {} {text} (it has no operationId)",
                        op.method.upper()
                    ),
                };
                if let Some(prior) = by_name.get(&name) {
                    let message = if op.operation_id.is_some() && prior.label == label {
                        format!(
                            "{label} is used twice (also at {}); give each operation a unique operationId",
                            prior.place(&spec.file)
                        )
                    } else {
                        format!(
                            "{label} gives operation name {name}, already taken by {} at {}; give each operation a unique operationId",
                            prior.label,
                            prior.place(&spec.file)
                        )
                    };
                    problems.push(Diagnostic::new(&spec.file, &id_pointer, message));
                    continue;
                }
                let key = (op.method.upper(), route_shape(&template));
                if let Some(prior) = by_route.get(&key) {
                    problems.push(Diagnostic::new(
                        &spec.file,
                        &op.pointer,
                        format!(
                            "{} {text} is already defined at {} ({} {}); a method and path template may appear once across all spec files, so remove or merge one",
                            op.method.upper(),
                            prior.place(&spec.file),
                            op.method.upper(),
                            prior.label
                        ),
                    ));
                    continue;
                }
                by_name.insert(
                    name.clone(),
                    Origin {
                        file: spec.file.clone(),
                        pointer: op.pointer.clone(),
                        label,
                    },
                );
                by_route.insert(
                    key,
                    Origin {
                        file: spec.file.clone(),
                        pointer: op.pointer.clone(),
                        label: text.clone(),
                    },
                );
                operations.push(Operation {
                    name,
                    method: op.method.upper().to_string(),
                    template: text.clone(),
                    route: route_id.to_string(),
                    allow_all: false,
                    path_translation: None,
                    backend_auth: None,
                });
            }
        }
    }

    if specs.iter().any(|s| s.allow == Allow::All) {
        let any_path = PathTemplate::parse("/**")
            .map_err(|e| vec![Diagnostic::option("wasp compile", e.to_string())])?;
        for method in ALLOW_ALL_METHODS {
            let upper = method.to_ascii_uppercase();
            // A spec that defines this method on `/**` itself keeps its own operation.
            let taken = by_route
                .keys()
                .any(|(m, shape)| *m == upper && *shape == route_shape(&any_path));
            if !taken {
                operations.push(Operation {
                    name: format!("{api}.Google_Autogenerated_Unrecognized_{method}_Method_Call"),
                    method: upper,
                    template: "/**".to_string(),
                    route: route_id.to_string(),
                    allow_all: true,
                    path_translation: None,
                    backend_auth: None,
                });
            }
        }
    }

    if problems.is_empty() {
        Ok(ServiceOperations {
            service_name,
            operations,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::read_spec;

    fn spec(file: &str, yaml: &str) -> Spec {
        let doc: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        read_spec(file, &doc).unwrap()
    }

    fn messages(result: Result<ServiceOperations, Diagnostics>) -> Vec<String> {
        result.unwrap_err().iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn names_follow_the_api_compiler() {
        assert_eq!(
            api_name("echo-api.endpoints.my-proj.cloud.goog"),
            "1.echo_api_endpoints_my_proj_cloud_goog"
        );
        assert_eq!(method_name("getShelf"), "GetShelf");
        assert_eq!(method_name("list shelves.v2-beta"), "List_shelves_v2_beta");
        assert_eq!(method_name("_x"), "_x");
    }

    #[test]
    fn derives_an_operation_id_from_method_and_template() {
        let t = PathTemplate::parse("/v1/shelves/{shelf_id}/books/*:archive").unwrap();
        assert_eq!(
            derived_operation_id(Method::Get, &t),
            "GetV1ShelvesShelf_idBooksAnyArchive"
        );
        let t = PathTemplate::parse("/files/{path=**}").unwrap();
        assert_eq!(derived_operation_id(Method::Post, &t), "PostFilesPath");
        let t = PathTemplate::parse("/").unwrap();
        assert_eq!(derived_operation_id(Method::Delete, &t), "DeleteRoot");
        let t = PathTemplate::parse("/api-v2/user.info").unwrap();
        assert_eq!(derived_operation_id(Method::Get, &t), "GetApiV2UserInfo");
    }

    #[test]
    fn builds_names_templates_and_routes() {
        let s = spec(
            "a.yaml",
            "swagger: '2.0'\nhost: hello.endpoints.example.com\nbasePath: /v1\npaths:\n  /hello:\n    get: {operationId: hello}\n  /shelves/{shelf}:\n    delete: {}\n",
        );
        let ops = collect_operations(&[s], "r0").unwrap();
        assert_eq!(ops.service_name, "hello.endpoints.example.com");
        let got: Vec<_> = ops
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    o.method.as_str(),
                    o.template.as_str(),
                    o.route.as_str(),
                    o.allow_all,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "1.hello_endpoints_example_com.Hello",
                    "GET",
                    "/v1/hello",
                    "r0",
                    false
                ),
                (
                    "1.hello_endpoints_example_com.DeleteV1ShelvesShelf",
                    "DELETE",
                    "/v1/shelves/{shelf}",
                    "r0",
                    false
                ),
            ]
        );
    }

    #[test]
    fn allow_all_adds_five_unrecognized_methods() {
        let s = spec(
            "a.yaml",
            "swagger: '2.0'\nhost: h.example.com\nx-google-allow: all\npaths:\n  /a:\n    get: {operationId: a}\n",
        );
        let ops = collect_operations(&[s], "r0").unwrap().operations;
        assert_eq!(ops.len(), 6);
        let auto: Vec<_> = ops[1..]
            .iter()
            .map(|o| (o.name.as_str(), o.method.as_str()))
            .collect();
        assert_eq!(
            auto,
            vec![
                (
                    "1.h_example_com.Google_Autogenerated_Unrecognized_Get_Method_Call",
                    "GET"
                ),
                (
                    "1.h_example_com.Google_Autogenerated_Unrecognized_Delete_Method_Call",
                    "DELETE"
                ),
                (
                    "1.h_example_com.Google_Autogenerated_Unrecognized_Patch_Method_Call",
                    "PATCH"
                ),
                (
                    "1.h_example_com.Google_Autogenerated_Unrecognized_Post_Method_Call",
                    "POST"
                ),
                (
                    "1.h_example_com.Google_Autogenerated_Unrecognized_Put_Method_Call",
                    "PUT"
                ),
            ]
        );
        assert!(ops[1..].iter().all(|o| o.allow_all && o.template == "/**"));
        assert!(!ops[0].allow_all);
    }

    #[test]
    fn duplicate_operation_id() {
        let s = spec(
            "examples/bad.yaml",
            "swagger: '2.0'\nhost: h.example.com\npaths:\n  /hi:\n    get: {operationId: hello}\n  /hello:\n    get: {operationId: hello}\n    post: {operationId: Hello}\n",
        );
        assert_eq!(
            messages(collect_operations(&[s], "r0")),
            vec![
                r#"examples/bad.yaml: /paths/~1hello/get/operationId: operationId "hello" is used twice (also at /paths/~1hi/get); give each operation a unique operationId"#,
                r#"examples/bad.yaml: /paths/~1hello/post/operationId: operationId "Hello" gives operation name 1.h_example_com.Hello, already taken by operationId "hello" at /paths/~1hi/get; give each operation a unique operationId"#,
            ]
        );
    }

    #[test]
    fn duplicate_method_and_template_across_files() {
        let a = spec("a.yaml", "swagger: '2.0'\nhost: h.example.com\npaths:\n  /s/{id}:\n    get: {operationId: one}\n");
        let b = spec(
            "b.yaml",
            "swagger: '2.0'\nhost: h.example.com\nbasePath: /s\npaths:\n  /{name}/:\n    get: {operationId: two}\n    put: {operationId: three}\n",
        );
        let ops = collect_operations(&[a.clone(), b], "r0");
        assert_eq!(
            messages(ops),
            vec!["b.yaml: /paths/~1{name}~1/get: GET /s/{name}/ is already defined at a.yaml: /paths/~1s~1{id}/get (GET /s/{id}); a method and path template may appear once across all spec files, so remove or merge one"]
        );
        let within = spec(
            "c.yaml",
            "swagger: '2.0'\nhost: h.example.com\npaths:\n  /x:\n    get: {operationId: one}\n  /x/:\n    get: {operationId: two}\n",
        );
        let e = messages(collect_operations(&[within], "r0"));
        assert!(
            e[0].starts_with(
                "c.yaml: /paths/~1x~1/get: GET /x/ is already defined at /paths/~1x/get"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn bad_template_uses_the_template_error_as_the_fix() {
        let s = spec("a.yaml", "swagger: '2.0'\nhost: h.example.com\npaths:\n  /a/{x:\n    get: {}\n  /b/**/c:\n    get: {}\n");
        assert_eq!(
            messages(collect_operations(&[s], "r0")),
            vec![
                r#"a.yaml: /paths/~1a~1{x: segment "{x" opens a variable with '{' but does not close it with '}'"#,
                r#"a.yaml: /paths/~1b~1**~1c: in "/b/**/c" a '**' wildcard must be the last segment; move it to the end or use '*'"#,
            ]
        );
    }

    #[test]
    fn spec_files_must_share_one_host() {
        let a = spec("a.yaml", "swagger: '2.0'\nhost: a.example.com\npaths: {}\n");
        let b = spec("b.yaml", "swagger: '2.0'\nhost: b.example.com\npaths: {}\n");
        let e = messages(collect_operations(&[a, b], "r0"));
        assert!(
            e[0].starts_with(
                r#"b.yaml: /host: host "b.example.com" differs from "a.example.com" in a.yaml"#
            ),
            "{e:?}"
        );
    }
}
