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
            // The example's /greeting needs a key and charges quota (make demo's options).
            "--service-control-url",
            "http://127.0.0.1:8790",
            "--producer-project-id",
            "hello-demo",
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
    // The example sets allowCors: an OPTIONS operation per template follows.
    assert_eq!(
        names,
        vec![
            ("1.hello_endpoints_example_com.Hello", "/hello"),
            ("1.hello_endpoints_example_com.Goodbye", "/goodbye"),
            ("1.hello_endpoints_example_com.Greeting", "/greeting"),
            (
                "1.hello_endpoints_example_com.ESPv2_Autogenerated_CORS_Hello",
                "/hello"
            ),
            (
                "1.hello_endpoints_example_com.ESPv2_Autogenerated_CORS_Goodbye",
                "/goodbye"
            ),
            (
                "1.hello_endpoints_example_com.ESPv2_Autogenerated_CORS_Greeting",
                "/greeting"
            )
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
        "swagger: '2.0'\nhost: m.example.com\nx-google-api-name: alpha\npaths:\n  /a:\n    get: {operationId: getA}\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        r#"{"swagger":"2.0","host":"m.example.com","x-google-api-name":"beta","paths":{"/b":{"get":{"operationId":"getB"}}}}"#,
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
    let names: Vec<_> = config.operations.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["1.alpha.GetA", "1.beta.GetB"]);

    std::fs::write(
        &b,
        r#"{"swagger":"2.0","host":"m.example.com","x-google-api-name":"beta","paths":{"/a":{"get":{"operationId":"getA"}}}}"#,
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
            "{}: /paths/~1a/get: GET /a is already defined at {}: /paths/~1a/get",
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

#[test]
fn validate_checks_what_compile_checks_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "swagger: '2.0'\nhost: v.example.com\npaths:\n  /hello:\n    get: {operationId: hello}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = wasp(&[
        "validate",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let stdout = text(&r.stdout);
    assert!(
        stdout.starts_with("wasp: valid: 1 operations, config hash "),
        "{stdout}"
    );
    assert!(!out.exists(), "validate wrote {}", out.display());

    // The same problems, file and pointer as compile, and exit 2.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "swagger: '2.0'\nhost: v.example.com\npaths:\n  hello:\n    get: {}\n",
    )
    .unwrap();
    let args = [
        bad.to_str().unwrap(),
        "--healthz",
        "/h?x",
        "--out",
        out.to_str().unwrap(),
    ];
    let validated = wasp(&[&["validate"][..], &args].concat());
    let compiled = wasp(&[&["compile"][..], &args].concat());
    assert_eq!(validated.status.code(), Some(2));
    assert_eq!(text(&validated.stderr), text(&compiled.stderr));
    let stderr = text(&validated.stderr);
    assert!(
        stderr.contains("/paths/hello: path \"hello\" must start with '/'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--healthz: \"/h?x\" is not a plain path"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Compiles `spec` with extra options into a fresh directory.
fn compile_spec(spec: &str, extra: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.yaml");
    std::fs::write(&path, spec).unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "compile",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = wasp(&refs);
    (dir, output)
}

const BACKENDS: &str = "swagger: '2.0'
host: b.example.com
x-google-backend:
  address: https://top.example.com/api/
  protocol: h2
paths:
  /top/{id}:
    get: {operationId: top}
  /fn/{id}:
    get:
      operationId: fn
      x-google-backend: {address: 'https://fn.example.com/helloGET', deadline: 2.5, jwt_audience: aud-1}
  /open:
    get:
      operationId: open
      x-google-backend: {address: 'http://10.0.0.9:8000', disable_auth: true}
  /local:
    get:
      operationId: local
      x-google-backend: {deadline: 30}
";

#[test]
fn id_tokens_from_the_default_metadata_server_are_warned_about() {
    let (_dir, r) = compile_spec(BACKENDS, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let stderr = text(&r.stderr);
    assert!(
        stderr.contains("wasp: warning: 1.b_example_com.Top and 1 more get a backend ID token")
            && stderr.contains("Set --metadata-url"),
        "{stderr}"
    );
    let (_dir, r) = compile_spec(BACKENDS, &["--metadata-url", "http://127.0.0.1:9999"]);
    assert!(!text(&r.stderr).contains("warning"), "{}", text(&r.stderr));
}

#[test]
fn jwt_allow_missing_needs_a_jwt_requirement_and_a_boolean() {
    let spec = |value: &str| {
        format!("swagger: '2.0'\nhost: m.example.com\npaths:\n  /a:\n    get: {{operationId: a, x-wasp-jwt-allow-missing: {value}}}\n")
    };
    let (_dir, r) = compile_spec(&spec("true"), &[]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    assert!(
        stderr.contains("/paths/~1a/get/x-wasp-jwt-allow-missing: the operation requires no JWT"),
        "{stderr}"
    );
    let (_dir, r) = compile_spec(&spec("'yes'"), &[]);
    assert!(
        text(&r.stderr).contains("x-wasp-jwt-allow-missing must be true or false, not a string"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn x_google_backend_drives_routes_translation_auth_and_clusters() {
    let (dir, r) = compile_spec(BACKENDS, &["--metadata-url", "http://127.0.0.1:9999"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let out = dir.path().join("out");
    let config = FilterConfig::from_json(&std::fs::read(out.join("filter.json")).unwrap()).unwrap();
    let summary: Vec<_> = config
        .operations
        .iter()
        .map(|o| {
            let route = config.routes.iter().find(|r| r.id == o.route).unwrap();
            (
                o.name.rsplit('.').next().unwrap().to_string(),
                route.cluster.clone(),
                serde_json::to_value(&o.path_translation).unwrap(),
                o.backend_auth.as_ref().map(|a| a.audience.clone()),
            )
        })
        .collect();
    use serde_json::json;
    assert_eq!(
        summary,
        [
            (
                "Top".to_string(),
                "backend-top.example.com_443-h2".to_string(),
                json!({"kind": "APPEND_PATH_TO_ADDRESS", "prefix": "/api"}),
                Some("https://top.example.com/api/".to_string())
            ),
            (
                "Fn".into(),
                "backend-fn.example.com_443".into(),
                json!({"kind": "CONSTANT_ADDRESS", "path": "/helloGET"}),
                Some("aud-1".into())
            ),
            (
                "Open".into(),
                "backend-10.0.0.9_8000".into(),
                json!({"kind": "CONSTANT_ADDRESS", "path": "/"}),
                None
            ),
            (
                "Local".into(),
                "backend-127.0.0.1_8081".into(),
                json!(null),
                None
            ),
        ]
    );
    let source = config.id_token_source.as_ref().unwrap();
    assert_eq!(
        (source.cluster.as_str(), source.authority.as_str()),
        ("wasp-metadata", "127.0.0.1:9999")
    );

    let envoy: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(out.join("envoy.yaml")).unwrap()).unwrap();
    let routes = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["route_config"]["virtual_hosts"][0]["routes"];
    let by_cluster = |cluster: &str| {
        routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"]["cluster"] == cluster)
            .unwrap()["route"]
            .clone()
    };
    assert_eq!(
        by_cluster("backend-fn.example.com_443")["timeout"],
        "2.500s"
    );
    assert_eq!(
        by_cluster("backend-fn.example.com_443")["host_rewrite_literal"],
        "fn.example.com"
    );
    assert_eq!(
        by_cluster("backend-10.0.0.9_8000")["host_rewrite_literal"],
        "10.0.0.9:8000"
    );
    let clusters: Vec<_> = envoy["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        clusters,
        [
            "backend-127.0.0.1_8081",
            "backend-top.example.com_443-h2",
            "backend-fn.example.com_443",
            "backend-10.0.0.9_8000",
            "wasp-metadata"
        ]
    );
    // r0 (--backend, 15 s) and the 30 s local route both go to the flag backend.
    assert_eq!(
        config
            .routes
            .iter()
            .filter(|r| r.cluster == "backend-127.0.0.1_8081")
            .count(),
        2
    );
}

#[test]
fn no_backend_auth_means_no_metadata_cluster_or_token_source() {
    let spec = "swagger: '2.0'\nhost: b.example.com\nx-google-backend: {address: 'https://x.example.com', disable_auth: true}\npaths:\n  /a:\n    get: {}\n";
    let (dir, r) = compile_spec(spec, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let out = dir.path().join("out");
    let config = FilterConfig::from_json(&std::fs::read(out.join("filter.json")).unwrap()).unwrap();
    assert_eq!(config.id_token_source, None);
    assert!(!std::fs::read_to_string(out.join("envoy.yaml"))
        .unwrap()
        .contains("wasp-metadata"));
}

#[test]
fn a_cors_preset_sets_reject_unmatched_preflight_and_allow_cors_conflicts() {
    let plain = "swagger: '2.0'\nhost: c.example.com\npaths:\n  /a:\n    get: {}\n";
    let (dir, r) = compile_spec(
        plain,
        &[
            "--cors-preset",
            "basic",
            "--cors-allow-origin",
            "https://app.example",
        ],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    let out = dir.path().join("out");
    let config = FilterConfig::from_json(&std::fs::read(out.join("filter.json")).unwrap()).unwrap();
    assert!(config.reject_unmatched_preflight);
    let yaml = std::fs::read_to_string(out.join("envoy.yaml")).unwrap();
    assert!(
        yaml.contains("envoy.filters.http.cors") && yaml.contains("https://app.example"),
        "{yaml}"
    );

    let cors = "swagger: '2.0'\nhost: c.example.com\nx-google-endpoints: [{name: c.example.com, allowCors: true}]\npaths:\n  /a:\n    get: {}\n";
    let (_dir, r) = compile_spec(cors, &["--cors-preset", "basic"]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    assert!(stderr.contains("api.yaml: /x-google-endpoints: allowCors: true sends preflights to the backend, --cors-preset lets wasp answer them; choose one"), "{stderr}");

    let (_dir, r) = compile_spec(
        plain,
        &[
            "--cors-preset",
            "cors_with_regex",
            "--cors-allow-origin-regex",
            "(unclosed",
        ],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr)
            .contains("--cors-allow-origin-regex: \"(unclosed\" is not a valid regular expression"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn backend_errors_name_file_pointer_and_fix() {
    let spec = "swagger: '2.0'\nhost: b.example.com\npaths:\n  /a:\n    x-google-backend: {address: 'https://x.example.com'}\n    get:\n      x-google-backend: {address: 'grpc://x.example.com', disable_auth: true, jwt_audience: a}\n";
    let (dir, r) = compile_spec(spec, &["--metadata-url", "metadata.internal"]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = text(&r.stderr);
    let file = dir.path().join("api.yaml").display().to_string();
    for expected in [
        format!("{file}: /paths/~1a/x-google-backend: x-google-backend is not read at the path level (ESPv2 ignores it there); move it into each operation"),
        format!("{file}: /paths/~1a/get/x-google-backend/address: address scheme \"grpc\""),
        format!("{file}: /paths/~1a/get/x-google-backend/jwt_audience: jwt_audience and disable_auth: true contradict each other"),
        "--metadata-url: \"metadata.internal\" has no scheme".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in\n{stderr}");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn the_check_cache_lifetime_is_an_option() {
    let spec = "swagger: '2.0'\nhost: k.example.com\nsecurityDefinitions:\n  api_key: {type: apiKey, in: query, name: key}\nsecurity: [{api_key: []}]\npaths:\n  /a:\n    get: {}\n";
    let fresh_secs = |extra: &[&str]| {
        let mut args = vec!["--service-control-url", "http://127.0.0.1:8790"];
        args.extend_from_slice(extra);
        let (dir, r) = compile_spec(spec, &args);
        assert!(r.status.success(), "{}", text(&r.stderr));
        let json = std::fs::read(dir.path().join("out/filter.json")).unwrap();
        let config = FilterConfig::from_json(&json).unwrap();
        config.service_control.unwrap().check_cache.fresh_secs
    };
    assert_eq!(fresh_secs(&[]), 60, "ESPv2's default");
    assert_eq!(
        fresh_secs(&["--service-control-check-cache-seconds", "2"]),
        2
    );
    assert_eq!(
        fresh_secs(&["--service-control-check-cache-seconds", "0"]),
        0
    );
    let (_dir, r) = compile_spec(
        spec,
        &[
            "--service-control-url",
            "http://127.0.0.1:8790",
            "--service-control-check-cache-seconds",
            "3601",
        ],
    );
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
}

#[test]
fn a_service_checking_only_keys_gets_a_control_config_for_wasp_control() {
    // wasp-control serve --config needs the service even without quotas, or every
    // Check of its keys is a 404 (and the client gets a 500).
    let spec = "swagger: '2.0'\nhost: k.example.com\nsecurityDefinitions:\n  api_key: {type: apiKey, in: query, name: key}\nsecurity: [{api_key: []}]\npaths:\n  /a:\n    get: {}\n";
    let (dir, r) = compile_spec(spec, &["--service-control-url", "http://127.0.0.1:8790"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let json = std::fs::read(dir.path().join("out/control.json")).unwrap();
    let control = wasp_config::control::ControlConfig::from_json(&json).unwrap();
    assert_eq!(control.service_name, "k.example.com");
    assert_eq!(control.producer_project_id, "");
    assert!(
        control.metrics.is_empty() && control.limits.is_empty() && control.operations.is_empty()
    );
    assert!(
        text(&r.stdout).contains("control.json"),
        "{}",
        text(&r.stdout)
    );

    // No endpoint and no quotas: nothing for a control service.
    let open = "swagger: '2.0'\nhost: k.example.com\npaths:\n  /a:\n    get: {}\n";
    let (dir, r) = compile_spec(open, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(!dir.path().join("out/control.json").exists());
}
