//! Property tests: the spec reader (`source::parse_document` then `spec::read_spec`) takes
//! any file without panicking and answers with a spec or diagnostics that name the file.
//! The cargo-fuzz target `spec_reader` (fuzz/) runs the whole compile for longer.

use proptest::prelude::*;
use wasp_spec_compiler::source::{parse_document, SourceFile};
use wasp_spec_compiler::spec::read_spec;

/// A real spec (the hello example's shape), for truncation and byte flips.
const SPEC: &str = r#"swagger: "2.0"
info: { title: T, version: "1.0" }
host: t.endpoints.p.cloud.goog
basePath: /api
x-google-allow: all
x-google-backend: { address: "https://b.example.com/x", path_translation: APPEND_PATH_TO_ADDRESS }
x-google-management:
  metrics: [{ name: reads, valueType: INT64, metricKind: DELTA }]
  quota: { limits: [{ name: rpm, metric: reads, unit: "1/min/{project}", values: { STANDARD: 5 } }] }
securityDefinitions:
  api_key: { type: apiKey, name: key, in: query }
  idp: { type: oauth2, authorizationUrl: "", flow: implicit, x-google-issuer: "https://i.example", x-google-audiences: "a, b" }
security: [ { idp: [] } ]
paths:
  /v1/{name=**}:
    get:
      operationId: get
      security: [ { api_key: [] } ]
      x-google-quota: { metricCosts: { reads: 1 } }
      responses: { "200": { description: ok } }
  /v1/{id}:cancel:
    post: { operationId: cancel, x-google-backend: { address: "http://127.0.0.1:1", deadline: 2.5 } }
"#;

fn read(name: &str, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let file = SourceFile {
        name: name.to_string(),
        bytes,
    };
    match parse_document(&file) {
        Ok(document) => {
            if let Err(problems) = read_spec(name, &document) {
                prop_assert!(!problems.is_empty());
                for problem in problems {
                    prop_assert_eq!(&problem.file, name);
                    prop_assert!(!problem.message.is_empty());
                }
            }
        }
        Err(problem) => prop_assert_eq!(&problem.file, name),
    }
    Ok(())
}

/// YAML built from the keys a spec has, with values of any shape.
fn spec_like() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"2.0\"".to_string()),
        Just("all".to_string()),
        Just("/a/{b}".to_string()),
        Just("{ get: { operationId: x } }".to_string()),
        Just("[{ a: [] }]".to_string()),
        Just("{ address: \"https://h/p\", path_translation: CONSTANT_ADDRESS }".to_string()),
        Just("{ type: oauth2, x-google-issuer: i }".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
    ];
    let key = prop_oneof![
        Just("swagger"),
        Just("host"),
        Just("basePath"),
        Just("paths"),
        Just("security"),
        Just("securityDefinitions"),
        Just("x-google-backend"),
        Just("x-google-allow"),
        Just("x-google-management"),
        Just("x-google-endpoints"),
        Just("schemes"),
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|members| {
        members
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_a_spec_or_diagnostics(bytes in prop::collection::vec(any::<u8>(), 0..800)) {
        read("spec", bytes.clone())?;
        read("spec.json", bytes.clone())?;
        read("spec.yaml", bytes)?;
    }

    #[test]
    fn spec_shaped_yaml_is_a_spec_or_diagnostics(text in spec_like()) {
        read("spec.yaml", text.into_bytes())?;
    }

    #[test]
    fn damaged_real_specs_are_a_spec_or_diagnostics(
        cut in 0..SPEC.len(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        read("spec.yaml", SPEC.as_bytes()[..cut].to_vec())?;
        let mut bytes = SPEC.as_bytes().to_vec();
        let i = position.index(bytes.len());
        bytes[i] = byte;
        read("spec.yaml", bytes)?;
    }
}

#[test]
fn the_real_spec_reads() {
    let file = SourceFile {
        name: "spec.yaml".into(),
        bytes: SPEC.as_bytes().to_vec(),
    };
    let document = parse_document(&file).unwrap();
    read_spec("spec.yaml", &document).unwrap();
}
