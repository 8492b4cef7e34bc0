//! The generated bootstrap: Envoy accepts it offline, and a filter config the
//! filter cannot read stops Envoy from serving, with the filter's reason logged.

use std::path::Path;
use std::time::Duration;

use wasp_tests::envoy::{validate, Envoy};
use wasp_tests::spec::{compile, compile_with};
use wasp_tests::{CompileInput, Tools};

const MATCHING: &str = include_str!("../../specs/matching.yaml");
const HELLO: &str = include_str!("../../../examples/hello/openapi.yaml");
const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

#[test]
fn generated_bootstraps_pass_envoy_validate() {
    let tools = Tools::from_env();
    // The hello example checks API keys: its bootstrap has the Service Control cluster.
    let hello = CompileInput::new(HELLO).args([
        "--service-control-url",
        "http://127.0.0.1:8790",
        "--producer-project-id",
        "hello-demo",
    ]);
    for input in [CompileInput::new(MATCHING), hello] {
        let compiled = compile_with(&tools, &input, "http://127.0.0.1:9");
        let (ok, output) = validate(&tools.envoy, &compiled.envoy_yaml);
        assert!(
            ok,
            "envoy --mode validate rejected the generated bootstrap:\n{output}"
        );
    }
}

/// Replaces the filter configuration string inside the wasm filter of a
/// bootstrap; returns how many filters were changed.
fn replace_filter_config(node: &mut serde_json::Value, garbage: &str) -> usize {
    if node.get("@type").and_then(|t| t.as_str()) == Some(WASM_FILTER_TYPE) {
        if let Some(value) = node.pointer_mut("/config/configuration/value") {
            *value = serde_json::Value::String(garbage.to_string());
            return 1;
        }
    }
    match node {
        serde_json::Value::Object(map) => map
            .values_mut()
            .map(|v| replace_filter_config(v, garbage))
            .sum(),
        serde_json::Value::Array(items) => items
            .iter_mut()
            .map(|v| replace_filter_config(v, garbage))
            .sum(),
        _ => 0,
    }
}

/// Writes `envoy.json` next to `envoy_yaml` with the filter config replaced.
fn bootstrap_with_filter_config(envoy_yaml: &Path, garbage: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(envoy_yaml).unwrap();
    let mut bootstrap: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(
        replace_filter_config(&mut bootstrap, garbage),
        1,
        "expected one wasm filter with a string configuration in {}",
        envoy_yaml.display()
    );
    let out = envoy_yaml.with_file_name("envoy.json");
    std::fs::write(&out, serde_json::to_string_pretty(&bootstrap).unwrap()).unwrap();
    out
}

/// Starts Envoy on a broken filter config; it must not serve, and its log must
/// contain every one of `reasons`.
fn assert_refused(garbage: &str, reasons: &[&str]) {
    let tools = Tools::from_env();
    let compiled = compile(&tools, MATCHING, "http://127.0.0.1:9");
    let config = bootstrap_with_filter_config(&compiled.envoy_yaml, garbage);
    let started = Envoy::start_within(
        &tools.envoy,
        &config,
        compiled.path(),
        Duration::from_secs(10),
    );
    let failure = match started {
        Ok(envoy) => panic!(
            "Envoy served with filter config {garbage:?}:\n{}",
            wasp_tests::envoy::tail(&envoy.log(), 40)
        ),
        Err(failure) => failure,
    };
    for reason in reasons {
        assert!(
            failure.log.contains(reason),
            "Envoy refused ({}), but its log lacks {reason:?}:\n{}",
            failure.reason,
            wasp_tests::envoy::tail(&failure.log, 40)
        );
    }
}

#[test]
fn filter_config_that_is_not_json_stops_envoy_with_the_reason() {
    assert_refused(
        "this is { not json",
        &["configuration rejected", "filter config is not valid JSON"],
    );
}

#[test]
fn filter_config_of_another_schema_version_stops_envoy_with_the_reason() {
    let garbage =
        r#"{"version":999,"config_hash":"x","service_name":"s","operations":[],"routes":[]}"#;
    assert_refused(
        garbage,
        &[
            "configuration rejected",
            "schema version 999 is not supported",
        ],
    );
}
