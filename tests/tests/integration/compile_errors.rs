//! A bad spec makes `wasp compile` exit non-zero and say where (file and JSON
//! pointer) and what to change, before anything reaches Envoy.

use wasp_tests::spec::{run_compile, run_compile_with};
use wasp_tests::{CompileInput, Tools};

const MATCHING: &str = include_str!("../../specs/matching.yaml");

/// Compiles `spec`; asserts failure and that stderr names the spec file and
/// every one of `needles`. Returns stderr.
fn rejected(spec: &str, needles: &[&str]) -> String {
    let tools = Tools::from_env();
    let run = run_compile(&tools, spec, "http://127.0.0.1:9");
    let stderr = run.stderr();
    assert_eq!(
        run.output.status.code(),
        Some(2),
        "wasp compile must exit 2 on a bad spec; stderr:\n{stderr}"
    );
    let file = run.spec.display().to_string();
    assert!(
        stderr.contains(&file),
        "stderr does not name the file {file}:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(
        !run.dir.path().join("envoy.yaml").exists(),
        "a rejected spec still produced envoy.yaml"
    );
    stderr
}

#[test]
fn unclosed_variable_in_a_path_names_the_path_pointer() {
    let spec = MATCHING.replace("/items/{id}:", "/items/{id:");
    // JSON pointer escapes '/' as '~1'.
    rejected(&spec, &["/paths/~1items~1{id"]);
}

#[test]
fn unknown_x_google_allow_value_is_rejected() {
    let spec = MATCHING.replace(
        "schemes: [http]",
        "schemes: [http]\nx-google-allow: everything",
    );
    rejected(&spec, &["/x-google-allow"]);
}

#[test]
fn not_a_swagger_2_document_is_rejected() {
    let spec = MATCHING.replace("swagger: \"2.0\"", "swagger: \"3.0\"");
    rejected(&spec, &["/swagger"]);
}

/// `/hello`'s GET operation with an `x-google-backend` block (flow YAML).
fn hello_backend(backend: &str) -> String {
    MATCHING.replace(
        "      operationId: hello\n",
        &format!("      operationId: hello\n      x-google-backend: {backend}\n"),
    )
}

const HELLO_BACKEND: &str = "/paths/~1hello/get/x-google-backend";

#[test]
fn jwt_audience_with_disable_auth_is_rejected_with_the_operations_pointer() {
    let spec = hello_backend("{address: 'https://b.example', jwt_audience: a, disable_auth: true}");
    rejected(&spec, &[HELLO_BACKEND]);
}

#[test]
fn an_address_scheme_other_than_http_or_https_is_rejected() {
    rejected(
        &hello_backend("{address: 'ftp://b.example/x'}"),
        &[&format!("{HELLO_BACKEND}/address")],
    );
}

#[test]
fn unknown_path_translation_and_protocol_values_are_rejected() {
    rejected(
        &hello_backend("{address: 'https://b.example', path_translation: PREPEND}"),
        &[&format!("{HELLO_BACKEND}/path_translation")],
    );
    rejected(
        &hello_backend("{address: 'https://b.example', protocol: h3}"),
        &[&format!("{HELLO_BACKEND}/protocol")],
    );
}

#[test]
fn a_non_numeric_deadline_is_rejected() {
    rejected(
        &hello_backend("{address: 'https://b.example', deadline: soon}"),
        &[&format!("{HELLO_BACKEND}/deadline")],
    );
}

#[test]
fn x_google_backend_at_the_path_level_is_rejected() {
    let spec = MATCHING.replace(
        "  /hello:\n    get:\n",
        "  /hello:\n    x-google-backend: {address: 'https://b.example'}\n    get:\n",
    );
    rejected(&spec, &["/paths/~1hello/x-google-backend"]);
}

#[test]
fn a_cors_option_without_a_preset_is_rejected() {
    let tools = Tools::from_env();
    let input = CompileInput::new(MATCHING).args(["--cors-allow-origin", "https://app.example"]);
    let run = run_compile_with(&tools, &input, "http://127.0.0.1:9");
    let stderr = run.stderr();
    assert_eq!(run.output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--cors-allow-origin"), "{stderr}");
    assert!(stderr.contains("--cors-preset"), "{stderr}");
}
