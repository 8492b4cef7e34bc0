//! The generated manifests as data: multi-document YAML read into JSON values.

use serde_json::Value;

/// The documents of a multi-document YAML file.
pub fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| {
            let value: serde_norway::Value =
                serde::Deserialize::deserialize(document).expect("a YAML document");
            serde_json::to_value(value).expect("YAML that is JSON-shaped")
        })
        .collect()
}

/// The one document of `kind` (panics when there is not exactly one).
pub fn one<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}
