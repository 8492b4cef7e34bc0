//! The `wasp compile` binary end to end: files in, files (or errors) out.

use std::path::Path;
use std::process::{Command, Output};
use wasp_config::FilterConfig;

fn wasp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasp"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The wasm filter's `configuration` value inside the generated bootstrap.
fn embedded_filter_config(envoy_yaml: &str) -> String {
    let doc: serde_json::Value = serde_norway::from_str(envoy_yaml).unwrap();
    let filters = &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"];
    filters[0]["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// 2,500 paths x 4 methods, with variables, a custom verb and a basePath.
fn ten_thousand_operation_spec() -> String {
    let mut spec = String::from("swagger: \"2.0\"\nhost: big.endpoints.example.com\nbasePath: /v1\nx-google-allow: all\npaths:\n");
    for i in 0..2500 {
        spec.push_str(&format!(
            "  /r{i}/items/{{item_id}}:\n    get: {{operationId: get{i}}}\n    post: {{operationId: post{i}}}\n    put: {{operationId: put{i}}}\n  /r{i}/files/{{path=**}}:\n    delete: {{operationId: delete-{i}}}\n"
        ));
    }
    spec
}

#[test]
fn compiles_a_ten_thousand_operation_spec() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("big.yaml");
    std::fs::write(&spec_path, ten_thousand_operation_spec()).unwrap();
    let out = dir.path().join("out");
    let result = wasp(&[
        "compile",
        spec_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert!(result.status.success(), "{}", text(&result.stderr));
    let stdout = text(&result.stdout);
    assert!(stdout.contains("10005 operations"), "{stdout}");

    let filter_json = std::fs::read(out.join("filter.json")).unwrap();
    let config = FilterConfig::from_json(&filter_json).unwrap();
    assert!(stdout.contains(&config.config_hash), "{stdout}");
    assert_eq!(config.service_name, "big.endpoints.example.com");
    assert_eq!(config.operations.len(), 10_005);
    let api = "1.big_endpoints_example_com";
    let op = &config.operations[4 * 1234 + 1];
    assert_eq!(
        (op.name.as_str(), op.method.as_str()),
        (format!("{api}.Post1234").as_str(), "POST")
    );
    assert_eq!(op.template, "/v1/r1234/items/{item_id}");
    let op = &config.operations[4 * 2499 + 3];
    assert_eq!(op.name, format!("{api}.Delete_2499"));
    assert_eq!(
        (op.method.as_str(), op.template.as_str()),
        ("DELETE", "/v1/r2499/files/{path=**}")
    );
    assert_eq!(config.operations.iter().filter(|o| o.allow_all).count(), 5);
    assert!(config.operations.iter().all(|o| o.route == "r0"));
    assert_eq!(config.routes.len(), 1);
    assert_eq!(config.routes[0].cluster, "backend-127.0.0.1_8081");

    // The bootstrap carries exactly the filter config that was written.
    let envoy_yaml = std::fs::read_to_string(out.join("envoy.yaml")).unwrap();
    assert_eq!(
        embedded_filter_config(&envoy_yaml).as_bytes(),
        filter_json.as_slice()
    );
}

#[test]
fn same_inputs_same_output_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/openapi.yaml");
    let run = |out: &str, backend: &str| {
        let out = dir.path().join(out);
        let r = wasp(&[
            "compile",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            backend,
        ]);
        assert!(r.status.success(), "{}", text(&r.stderr));
        std::fs::read_to_string(out.join("filter.json")).unwrap()
    };
    let a = run("a", "http://127.0.0.1:8081");
    assert_eq!(a, run("b", "http://127.0.0.1:8081"));
    let other = run("c", "http://127.0.0.1:9000");
    let hash = |json: &str| {
        FilterConfig::from_json(json.as_bytes())
            .unwrap()
            .config_hash
    };
    assert_ne!(hash(&a), hash(&other));
    let hello = FilterConfig::from_json(a.as_bytes()).unwrap();
    let names: Vec<_> = hello
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.template.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("1.hello_endpoints_example_com.Hello", "/hello"),
            ("1.hello_endpoints_example_com.Goodbye", "/goodbye")
        ]
    );
}

#[test]
fn merges_several_files_and_reports_clashes_with_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.json");
    std::fs::write(
        &a,
        "swagger: '2.0'\nhost: m.example.com\npaths:\n  /a:\n    get: {operationId: getA}\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        r#"{"swagger":"2.0","host":"m.example.com","paths":{"/b":{"get":{"operationId":"getB"}}}}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = wasp(&[
        "compile",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let config = FilterConfig::from_json(&std::fs::read(out.join("filter.json")).unwrap()).unwrap();
    let templates: Vec<_> = config
        .operations
        .iter()
        .map(|o| o.template.as_str())
        .collect();
    assert_eq!(templates, ["/a", "/b"]);

    std::fs::write(
        &b,
        r#"{"swagger":"2.0","host":"m.example.com","paths":{"/a":{"get":{"operationId":"getA"}}}}"#,
    )
    .unwrap();
    let r = wasp(&[
        "compile",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: /paths/~1a/get/operationId: operationId \"getA\" is used twice (also at {}: /paths/~1a/get)",
            b.display(),
            a.display()
        )),
        "{stderr}"
    );
}

#[test]
fn bad_specs_and_options_exit_2_with_every_problem_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "swagger: '2.0'\npaths:\n  hello:\n    get: {}\n").unwrap();
    let out = dir.path().join("out");
    let r = wasp(&[
        "compile",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "ftp://x",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    assert!(stderr.contains("--backend: scheme \"ftp\""), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: the document has no host", bad.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: /paths/hello: path \"hello\" must start with '/'",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(!out.exists());

    let r = wasp(&["compile", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("cannot read the spec file"));
}
