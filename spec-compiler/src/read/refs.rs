//! OpenAPI 3 `$ref`s: inside one file (`#/components/securitySchemes/key`) and between
//! the files given to one compile (`common.yaml#/components/...`, relative to the
//! referring file). Refs to anything else (URLs, files not given) are refused, as Cloud
//! Endpoints and API Gateway refuse them, and so is every ref that does not resolve,
//! wherever it stands (a schema wasp never reads included), so a spec wasp compiles is
//! one Google accepts.

use crate::errors::{Diagnostic, Diagnostics};
use crate::pointer::Pointer;
use percent_encoding::percent_decode_str;
use serde_norway::{Mapping, Value};
use std::collections::BTreeSet;

/// How many `$ref`s one lookup follows before calling it a cycle.
const MAX_HOPS: usize = 16;

/// Every parsed file of one compile, by the name it was given as.
pub struct Documents<'a> {
    files: Vec<(&'a str, String, &'a Value)>,
}

/// What a `$ref` points at.
#[derive(Debug)]
pub struct Target<'a> {
    pub file: &'a str,
    pub pointer: Pointer,
    pub value: &'a Value,
}

impl<'a> Documents<'a> {
    pub fn new(parsed: &'a [(String, Value)]) -> Documents<'a> {
        Documents {
            files: parsed
                .iter()
                .map(|(name, doc)| (name.as_str(), normalize(name), doc))
                .collect(),
        }
    }

    fn document(&self, file: &str) -> Option<(&'a str, &'a Value)> {
        let wanted = normalize(file);
        self.files
            .iter()
            .find(|(_, normalized, _)| *normalized == wanted)
            .map(|(name, _, doc)| (*name, *doc))
    }

    /// `value` itself, or what it refers to when it is `{$ref: ...}` (followed until a
    /// value that is not a ref). `at` is where `value` stands in `file`.
    pub fn follow(
        &self,
        file: &'a str,
        at: &Pointer,
        value: &'a Value,
    ) -> Result<Target<'a>, String> {
        let mut target = Target {
            file,
            pointer: at.clone(),
            value,
        };
        for _ in 0..MAX_HOPS {
            let Some(reference) = ref_of(target.value) else {
                return Ok(target);
            };
            target = self.resolve(target.file, reference)?;
        }
        Err(format!(
            "$ref chains through more than {MAX_HOPS} refs (a cycle?); point it at the definition itself"
        ))
    }

    /// The value `reference` (the text of a `$ref`) names, seen from `from`.
    pub fn resolve(&self, from: &'a str, reference: &str) -> Result<Target<'a>, String> {
        let (file_part, fragment) = match reference.split_once('#') {
            Some((file, fragment)) => (file, fragment),
            None => (reference, ""),
        };
        if file_part.contains("://") {
            return Err(format!("$ref {reference:?} refers outside the given files (Cloud Endpoints and API Gateway refuse external refs); save that document beside this one, pass it to wasp compile too and refer to it by its relative path"));
        }
        let (file, document) = if file_part.is_empty() {
            self.document(from)
                .ok_or_else(|| format!("$ref {reference:?}: this file is not loaded"))?
        } else {
            let path = relative_to(from, file_part);
            self.document(&path).ok_or_else(|| {
                format!("$ref {reference:?} names {path:?}, which is not one of the files given to wasp compile; pass it too (refs between the given files are resolved) or fix the path")
            })?
        };
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(format!("$ref {reference:?} uses a fragment that is not a JSON pointer; write #/components/... (anchors are not supported)"));
        }
        let mut pointer = Pointer::root();
        let mut value = document;
        for raw in fragment.split('/').skip(1) {
            let token = decode_token(raw);
            let next = match value {
                Value::Mapping(map) => map.get(token.as_str()),
                Value::Sequence(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            pointer = pointer.child(&token);
            value = next.ok_or_else(|| {
                format!("$ref {reference:?} does not resolve: {file} has nothing at {pointer}; fix the pointer or define it there")
            })?;
        }
        Ok(Target {
            file,
            pointer,
            value,
        })
    }

    /// Checks every `$ref` in every OpenAPI 3 document and in every file those refer to;
    /// returns the files referred to from another file.
    pub fn check_openapi3_refs(&self) -> Result<BTreeSet<&'a str>, Diagnostics> {
        let mut problems = Diagnostics::new();
        let mut referenced = BTreeSet::new();
        let mut pending: Vec<&'a str> = self
            .files
            .iter()
            .filter(|(_, _, doc)| matches!(doc, Value::Mapping(m) if m.contains_key("openapi")))
            .map(|(name, _, _)| *name)
            .collect();
        let mut walked = BTreeSet::new();
        while let Some(file) = pending.pop() {
            if !walked.insert(file) {
                continue;
            }
            let Some((_, document)) = self.document(file) else {
                continue;
            };
            let mut refs = Vec::new();
            collect_refs(document, &Pointer::root(), &mut refs);
            for (at, reference) in refs {
                match self.resolve(file, reference) {
                    Ok(target) if target.file != file => {
                        referenced.insert(target.file);
                        pending.push(target.file);
                    }
                    Ok(_) => {}
                    Err(message) => problems.push(Diagnostic::new(file, &at, message)),
                }
            }
        }
        match problems.is_empty() {
            true => Ok(referenced),
            false => Err(problems),
        }
    }
}

/// Keys written beside a `$ref` that OpenAPI 3 ignores there (all but `summary` and
/// `description`): what a reader must refuse rather than drop.
pub fn ignored_beside_ref(value: &Value) -> Option<&str> {
    let Value::Mapping(map) = value else {
        return None;
    };
    map.keys()
        .filter_map(Value::as_str)
        .find(|k| !matches!(*k, "$ref" | "summary" | "description"))
}

/// The target of `{$ref: "..."}`; `None` for any other value.
pub fn ref_of(value: &Value) -> Option<&str> {
    match value {
        Value::Mapping(map) => match map.get("$ref") {
            Some(Value::String(reference)) => Some(reference),
            _ => None,
        },
        _ => None,
    }
}

/// Every string `$ref` under `value`, with the pointer of the `$ref` key.
fn collect_refs<'v>(value: &'v Value, at: &Pointer, found: &mut Vec<(Pointer, &'v str)>) {
    match value {
        Value::Mapping(map) => collect_in_mapping(map, at, found),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_refs(item, &at.child(&i.to_string()), found);
            }
        }
        _ => {}
    }
}

/// Keys whose values are literal data (examples, defaults, enumerations), where a
/// `$ref` key is content, not a reference.
const LITERAL_KEYS: [&str; 4] = ["example", "default", "enum", "const"];

fn collect_in_mapping<'v>(map: &'v Mapping, at: &Pointer, found: &mut Vec<(Pointer, &'v str)>) {
    for (key, item) in map {
        let Value::String(key) = key else { continue };
        match item {
            Value::String(reference) if key == "$ref" => found.push((at.child(key), reference)),
            _ if LITERAL_KEYS.contains(&key.as_str()) => {}
            // 3.0 `examples`: a map of Example Objects (each may be a $ref) whose `value`
            // is literal; 3.1 schema `examples`: a list of literal values.
            Value::Mapping(examples) if key == "examples" => {
                for (name, example) in examples {
                    let (Value::String(name), Value::Mapping(example)) = (name, example) else {
                        continue;
                    };
                    let example_at = at.child(key).child(name);
                    let refs = example.iter().filter(|(k, _)| k.as_str() != Some("value"));
                    for (k, v) in refs {
                        match (k.as_str(), v) {
                            (Some("$ref"), Value::String(r)) => {
                                found.push((example_at.child("$ref"), r))
                            }
                            (Some(k), other) => collect_refs(other, &example_at.child(k), found),
                            _ => {}
                        }
                    }
                }
            }
            Value::Sequence(_) if key == "examples" => {}
            other => collect_refs(other, &at.child(key), found),
        }
    }
}

/// One JSON pointer token: percent-decoded (URI fragment), then `~1` -> `/`, `~0` -> `~`.
fn decode_token(raw: &str) -> String {
    percent_decode_str(raw)
        .decode_utf8_lossy()
        .replace("~1", "/")
        .replace("~0", "~")
}

/// `relative` (as written in a `$ref`) seen from the directory of `from`.
fn relative_to(from: &str, relative: &str) -> String {
    if relative.starts_with('/') {
        return relative.to_string();
    }
    match from.rfind('/') {
        Some(slash) => format!("{}/{relative}", &from[..slash]),
        None => relative.to_string(),
    }
}

/// A path with `.` and `a/..` removed, so two spellings of one file compare equal.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" if !parts.is_empty() => {}
            "." => {}
            ".." if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(files: &[(&str, &str)]) -> Vec<(String, Value)> {
        files
            .iter()
            .map(|(name, yaml)| (name.to_string(), serde_norway::from_str(yaml).unwrap()))
            .collect()
    }

    #[test]
    fn local_and_cross_file_refs_resolve_with_escapes() {
        let parsed = docs(&[
            (
                "specs/api.yaml",
                "openapi: 3.0.4\ncomponents:\n  securitySchemes:\n    key: {$ref: './common/schemes.yaml#/key'}\npaths:\n  /a:\n    $ref: '#/x-items/~1a%7Bid%7D'\nx-items:\n  /a{id}: {get: {}}\n",
            ),
            ("specs/common/schemes.yaml", "key: {type: apiKey, name: key, in: query}\n"),
        ]);
        let d = Documents::new(&parsed);
        let t = d
            .resolve("specs/api.yaml", "#/x-items/~1a%7Bid%7D")
            .unwrap();
        assert_eq!(t.pointer.as_str(), "/x-items/~1a{id}");
        assert!(t.value.get("get").is_some());
        let at = Pointer::root().child("k");
        let scheme = &parsed[0].1["components"]["securitySchemes"]["key"];
        let t = d.follow("specs/api.yaml", &at, scheme).unwrap();
        assert_eq!(
            (t.file, t.pointer.as_str()),
            ("specs/common/schemes.yaml", "/key")
        );
        assert_eq!(t.value["in"].as_str(), Some("query"));
        let referenced = d.check_openapi3_refs().unwrap();
        assert!(referenced.contains("specs/common/schemes.yaml"));
    }

    #[test]
    fn unresolvable_external_and_cyclic_refs_are_refused() {
        let parsed = docs(&[(
            "api.yaml",
            "openapi: 3.1.0\na: {$ref: '#/b'}\nb: {$ref: '#/a'}\nc: {$ref: 'https://example.com/x.yaml'}\nd: {$ref: 'other.yaml#/x'}\ne: [{$ref: '#/nothing/here'}]\n",
        )]);
        let d = Documents::new(&parsed);
        let e = d.check_openapi3_refs().unwrap_err();
        let shown: Vec<_> = e.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with("api.yaml: /c/$ref: $ref \"https://example.com/x.yaml\" refers outside the given files"), "{shown:?}");
        assert!(
            shown[1].contains("names \"other.yaml\", which is not one of the files given"),
            "{shown:?}"
        );
        assert!(shown[2].starts_with("api.yaml: /e/0/$ref: $ref \"#/nothing/here\" does not resolve: api.yaml has nothing at /nothing"), "{shown:?}");
        let cycle = d
            .follow("api.yaml", &Pointer::root(), &parsed[0].1["a"])
            .unwrap_err();
        assert!(cycle.contains("a cycle"), "{cycle}");
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize("./a/../b/c.yaml"), "b/c.yaml");
        assert_eq!(normalize("a/./b.yaml"), "a/b.yaml");
        assert_eq!(relative_to("x/api.yaml", "../c.yaml"), "x/../c.yaml");
        assert_eq!(normalize("x/../c.yaml"), "c.yaml");
    }
}
