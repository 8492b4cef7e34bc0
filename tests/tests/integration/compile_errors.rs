//! A bad spec makes `wasp compile` exit non-zero and say where (file and JSON
//! pointer) and what to change, before anything reaches Envoy.

use wasp_tests::spec::run_compile;
use wasp_tests::Tools;

const MATCHING: &str = include_str!("../../specs/matching.yaml");

/// Compiles `spec`; asserts failure and that stderr names the spec file and
/// every one of `needles`. Returns stderr.
fn rejected(spec: &str, needles: &[&str]) -> String {
    let tools = Tools::from_env();
    let run = run_compile(&tools, spec, "http://127.0.0.1:9");
    let stderr = run.stderr();
    assert!(
        !run.output.status.success(),
        "wasp compile accepted a bad spec; stderr:\n{stderr}"
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
