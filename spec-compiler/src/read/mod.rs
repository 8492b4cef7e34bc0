//! The read stage: spec files -> the service model (`crate::model`).
//!
//! `source` parses bytes into one document tree; `yaml` is the only place that reads
//! values out of it; one reader per input format (`swagger2`, `openapi3`) turns a
//! document into a `Spec`, using the feature readers both formats share
//! (`backend_rule`, `security_definitions`, `security`, `quota`). `refs` resolves
//! OpenAPI 3 `$ref`s inside a file and between the given files.

pub mod api_management;
pub mod backend_rule;
pub mod openapi3;
pub mod quota;
pub mod refs;
pub mod security;
pub mod security_definitions;
pub mod security_schemes;
pub mod source;
pub mod swagger2;
pub mod yaml;

use crate::errors::{Diagnostic, Diagnostics};
use crate::model::{PathEntry, Spec, SpecOperation};
use crate::pointer::Pointer;
use refs::Documents;
use serde_norway::{Mapping, Value};
use source::{parse_document, SourceFile};
use yaml::{describe, Reader};

/// wasp's operation-level extension for ESPv2's `allow_without_credential`.
pub const JWT_ALLOW_MISSING: &str = "x-wasp-jwt-allow-missing";

/// Reads every file: the specs (one per API), and every problem found. Files that
/// only hold `$ref` targets of OpenAPI 3 documents are read as such, not as APIs.
pub fn read_specs(files: &[SourceFile]) -> (Vec<Spec>, Diagnostics) {
    let mut problems = Diagnostics::new();
    let mut parsed = Vec::with_capacity(files.len());
    for file in files {
        match parse_document(file) {
            Ok(document) => parsed.push((file.name.clone(), document)),
            Err(problem) => problems.push(problem),
        }
    }
    let documents = Documents::new(&parsed);
    let referenced = match documents.check_openapi3_refs() {
        Ok(referenced) => referenced,
        Err(found) => {
            problems.extend(found);
            return (Vec::new(), problems);
        }
    };
    let mut specs = Vec::with_capacity(parsed.len());
    for (name, document) in &parsed {
        let read = if document_has(document, "openapi") {
            openapi3::read_openapi3(
                name,
                document,
                &documents,
                referenced.contains(name.as_str()),
            )
        } else if referenced.contains(name.as_str()) && !document_has(document, "swagger") {
            continue; // a file of $ref targets only
        } else {
            swagger2::read_swagger2(name, document).map(Some)
        };
        match read {
            Ok(Some(spec)) => specs.push(spec),
            Ok(None) => {}
            Err(found) => problems.extend(found),
        }
    }
    if specs.is_empty() && problems.is_empty() && !files.is_empty() {
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        problems.push(Diagnostic::option(
            "wasp compile",
            format!("{} only hold $ref targets of other documents; pass the OpenAPI document (openapi: 3.x with x-google-api-management) that refers to them too", names.join(", ")),
        ));
    }
    (specs, problems)
}

/// What both formats share in `paths`: each key a path starting with `/` (or an `x-`
/// extension), each value a path item the format's reader turns into operations.
pub trait PathsReader {
    fn reader(&mut self) -> &mut Reader;

    /// The operations of one path item at `pointer`; `None` when it has problems (reported).
    fn path_item(&mut self, item: &Value, pointer: &Pointer) -> Option<Vec<SpecOperation>>;

    /// The document's `paths`, in the order written.
    fn paths(&mut self, top: &Mapping) -> Option<Vec<PathEntry>> {
        let pointer = Pointer::root().child("paths");
        let Some(value) = top.get("paths") else {
            self.reader().problem(
                &Pointer::root(),
                "the document has no paths; add a paths mapping with at least one operation",
            );
            return None;
        };
        let r = self.reader();
        let paths = r.mapping(value, &pointer, "paths", "")?;
        let items = r.entries(paths, &pointer, "paths");
        let mut entries = Vec::with_capacity(items.len());
        for (path, item) in items {
            if path.starts_with("x-") {
                continue; // specification extension, not a path
            }
            let item_pointer = pointer.child(path);
            if !path.starts_with('/') {
                self.reader().problem(
                    &item_pointer,
                    format!("path {path:?} must start with '/'; write \"/{path}\""),
                );
                continue;
            }
            if let Some(operations) = self.path_item(item, &item_pointer) {
                entries.push(PathEntry {
                    path: path.to_string(),
                    pointer: item_pointer,
                    operations,
                });
            }
        }
        Some(entries)
    }
}

fn document_has(document: &Value, key: &str) -> bool {
    matches!(document, Value::Mapping(top) if top.contains_key(key))
}

/// A service name: a DNS name without scheme, port or path.
pub fn is_service_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-'])
}

/// A base path as written at `at` (2.0 `basePath`, 3.x the server URL's path), without
/// its trailing `/`.
pub fn base_path(r: &mut Reader, path: &str, at: &Pointer, what: &str) -> Option<String> {
    if path.starts_with('/') && !path.contains(['{', '}', '*', '?', '#']) {
        return Some(path.trim_end_matches('/').to_string());
    }
    r.problem(
        at,
        format!("{what} {path:?} must be a plain path starting with '/' (like /v1), without variables, wildcards or query"),
    );
    None
}

/// An API name such as `producer` (letters, digits, `_`, `.`, `-`), written as `field`.
pub fn read_api_name(
    r: &mut Reader,
    value: &Value,
    at: &Pointer,
    field: &str,
) -> Option<(String, Pointer)> {
    match value {
        Value::String(name)
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !name.starts_with(['.', '-']) =>
        {
            Some((name.clone(), at.clone()))
        }
        Value::String(name) => {
            r.problem(
                at,
                format!("{field} {name:?} is not an API name; use letters, digits, '_', '.' and '-' only, such as producer"),
            );
            None
        }
        other => {
            r.problem(
                at,
                format!(
                    "{field} must be a string such as producer, not {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

/// An operation's `operationId`: `Some(None)` when absent, `None` when invalid (reported).
pub fn read_operation_id(
    r: &mut Reader,
    operation: &Mapping,
    at: &Pointer,
) -> Option<Option<String>> {
    let id_pointer = at.child("operationId");
    match operation.get("operationId") {
        None => Some(None),
        Some(Value::String(id)) if !id.trim().is_empty() => Some(Some(id.clone())),
        Some(Value::String(_)) => {
            r.problem(
                &id_pointer,
                "operationId is empty; give the operation a unique name such as getShelf",
            );
            None
        }
        Some(other) => {
            r.problem(
                &id_pointer,
                format!(
                    "operationId must be a string such as getShelf, not {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

/// wasp's [`JWT_ALLOW_MISSING`] on an operation (absent or invalid: false).
pub fn read_jwt_allow_missing(r: &mut Reader, operation: &Mapping, at: &Pointer) -> bool {
    r.bool(operation, JWT_ALLOW_MISSING, at)
        .flatten()
        .unwrap_or(false)
}
