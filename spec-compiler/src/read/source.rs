//! Reading a spec file into one document tree, whatever its syntax.
//!
//! YAML and JSON both become a `serde_norway::Value`: its mappings keep the
//! order of the file (so operations come out in spec order and "first
//! defined at" means the first one a reader sees), and it rejects duplicate
//! keys in either syntax.

use crate::errors::Diagnostic;
use crate::pointer::Pointer;
use serde_norway::Value;

/// One input file: its name as given (used in every error) and its bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Json,
    Yaml,
}

/// `.json` is JSON and `.yaml`/`.yml` YAML; otherwise a document whose first
/// non-blank character is `{` is JSON (a YAML spec is a block mapping).
fn detect_syntax(name: &str, bytes: &[u8]) -> Syntax {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        return Syntax::Json;
    }
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return Syntax::Yaml;
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Syntax::Json,
        _ => Syntax::Yaml,
    }
}

/// Parses a file into a document, resolving YAML merge keys (`<<: *anchor`).
pub fn parse_document(file: &SourceFile) -> Result<Value, Diagnostic> {
    let root = Pointer::root();
    let parsed = match detect_syntax(&file.name, &file.bytes) {
        Syntax::Json => serde_json::from_slice::<Value>(&file.bytes).map_err(|e| {
            Diagnostic::new(
                &file.name,
                &root,
                format!("not valid JSON ({e}); fix the syntax at that line and column"),
            )
        }),
        Syntax::Yaml => serde_norway::from_slice::<Value>(&file.bytes).map_err(|e| {
            Diagnostic::new(
                &file.name,
                &root,
                format!("not valid YAML ({e}); fix the syntax at that line and column"),
            )
        }),
    };
    let mut document = parsed?;
    document.apply_merge().map_err(|e| {
        Diagnostic::new(
            &file.name,
            &root,
            format!(
                "a YAML merge key (<<) cannot be applied ({e}); merge only mappings into mappings"
            ),
        )
    })?;
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn yaml_and_json_give_the_same_tree() {
        let yaml = parse_document(&file("a.yaml", "swagger: '2.0'\nhost: h\n")).unwrap();
        let json = parse_document(&file("a.json", r#"{"swagger":"2.0","host":"h"}"#)).unwrap();
        assert_eq!(yaml, json);
        // No extension: detected by content.
        let sniffed =
            parse_document(&file("spec", "  {\"swagger\":\"2.0\",\"host\":\"h\"}")).unwrap();
        assert_eq!(sniffed, json);
    }

    #[test]
    fn unparseable_input_names_the_file_and_the_position() {
        let e = parse_document(&file("bad.yaml", "swagger: '2.0'\npaths: [\n")).unwrap_err();
        assert_eq!(e.file, "bad.yaml");
        assert!(e.message.starts_with("not valid YAML"), "{e}");
        assert!(e.message.contains("line"), "{e}");
        let e = parse_document(&file("bad.json", "{\"swagger\": }")).unwrap_err();
        assert!(e.message.starts_with("not valid JSON"), "{e}");
        assert!(e.message.contains("column"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let e = parse_document(&file("d.yaml", "host: a\nhost: b\n")).unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn merge_keys_are_resolved() {
        let doc = parse_document(&file(
            "m.yaml",
            "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
        ))
        .unwrap();
        assert_eq!(doc["other"]["x"].as_i64(), Some(1));
    }
}
