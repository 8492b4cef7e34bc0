//! Property tests: the spec readers (`read::read_specs`: OpenAPI 2.0 and 3.x) take any
//! file without panicking and answer with a spec or diagnostics that name the file.
//! The cargo-fuzz target `spec_reader` (fuzz/) runs the whole compile for longer.

use proptest::prelude::*;
use wasp_spec_compiler::read::read_specs;
use wasp_spec_compiler::read::source::SourceFile;

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

/// The same service in OpenAPI 3 (Google's 3.x dialect), with a `$ref`.
const SPEC3: &str = r##"openapi: 3.1.0
info: { title: T, version: "1.0" }
servers: [{ url: "https://t.endpoints.p.cloud.goog/api", x-google-endpoint: {} }]
x-google-api-management:
  metrics: { reads: { displayName: Reads } }
  quota: { limits: { rpm: { metric: reads, values: 5 } } }
  backends:
    b: { address: "https://b.example.com/x", pathTranslation: APPEND_PATH_TO_ADDRESS, jwtAudience: "https://b.example.com/x" }
    local: { address: "http://127.0.0.1:1", deadline: 2.5, disableAuth: true }
x-google-backend: b
components:
  securitySchemes:
    api_key: { $ref: "#/components/x-keys/api_key" }
    idp: { type: oauth2, flows: { implicit: { authorizationUrl: "", scopes: {} } }, x-google-auth: { issuer: "https://i.example", audiences: [a, b] } }
  x-keys:
    api_key: { type: apiKey, name: key, in: query }
security: [ { idp: [] } ]
paths:
  /v1/{name=**}:
    get:
      operationId: get
      security: [ { api_key: [] } ]
      x-google-quota: { reads: 1 }
      responses: { "200": { description: ok } }
  /v1/{id}:cancel:
    post: { operationId: cancel, x-google-backend: local }
"##;

fn read(name: &str, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let file = SourceFile {
        name: name.to_string(),
        bytes,
    };
    let (specs, problems) = read_specs(&[file]);
    prop_assert!(specs.len() + problems.len() > 0);
    for problem in problems {
        prop_assert_eq!(&problem.file, name);
        prop_assert!(!problem.message.is_empty());
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
        Just("3.0.4".to_string()),
        Just("[{ url: \"https://h.example.com/v1\", x-google-endpoint: {} }]".to_string()),
        Just("{ backends: { b: { address: \"https://h\", disableAuth: true } } }".to_string()),
        Just("{ $ref: \"#/paths\" }".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
    ];
    let key = prop_oneof![
        Just("swagger"),
        Just("openapi"),
        Just("servers"),
        Just("components"),
        Just("webhooks"),
        Just("x-google-api-management"),
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
        cut in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        for spec in [SPEC, SPEC3] {
            read("spec.yaml", spec.as_bytes()[..cut.index(spec.len())].to_vec())?;
            let mut bytes = spec.as_bytes().to_vec();
            let i = position.index(bytes.len());
            bytes[i] = byte;
            read("spec.yaml", bytes)?;
        }
    }
}

#[test]
fn the_real_specs_read() {
    for (name, text) in [("spec.yaml", SPEC), ("spec3.yaml", SPEC3)] {
        let file = SourceFile {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        };
        let (specs, problems) = read_specs(&[file]);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        assert_eq!(specs.len(), 1);
    }
}
