//! The deploy targets' files as users apply them: `envoy/` (what the top-level
//! docker-compose.yml runs) is exactly what the compiler writes for the hello example,
//! compose files follow the Compose Specification, Kubernetes manifests validate against
//! Kubernetes 1.33's schemas (strict: unknown fields fail), a new spec is a new
//! ConfigMap and pod template (a rolling update), and a target that cannot run what the
//! options say refuses them by name. Docker and Kubernetes do not run here; the README
//! says what is verified by these schemas only.

use std::path::Path;
use std::process::{Command, Output};

use wasp_tests::manifests::documents;
use wasp_tests::tools::repo_root;
use wasp_tests::Tools;

fn wasp(args: &[&str], out: &Path) -> Output {
    Command::new(Tools::from_env().wasp)
        .current_dir(repo_root())
        .arg("compile")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run wasp compile")
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A validator from the project's venv (installed by scripts/ensure-toolchain.sh).
fn validator(name: &str, args: &[&str], file: &Path) -> Output {
    let tools = Tools::from_env();
    let bin = tools.envoy.parent().expect("the venv's bin").join(name);
    Command::new(&bin)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}; run make test (it installs it)", bin.display()))
}

fn compose_valid(file: &Path) -> Output {
    validator(
        "check-jsonschema",
        &["--builtin-schema", "vendor.compose-spec"],
        file,
    )
}

fn kubernetes_valid(file: &Path) -> Output {
    validator("kubernetes-validate", &["--strict", "-k", "1.33.0"], file)
}

/// The hello example, as a path from the repository root.
const HELLO: &str = "examples/hello/openapi.yaml";

/// Keep in step with scripts/generate-deploy-examples.sh.
const HELLO_COMPOSE: &[&str] = &[
    HELLO,
    "--target",
    "compose",
    "--backend",
    "http://backend:8081",
    "--service-control-url",
    "http://wasp-control:8790",
    "--producer-project-id",
    "hello-demo",
    "--compose-module",
    "../target/wasp_filter.wasm",
    "--app-image",
    "localhost/wasp-hello-backend:0.1.0",
];

#[test]
fn the_envoy_folder_is_what_the_compiler_writes_for_the_hello_example() {
    let out = tempfile::tempdir().expect("a temporary directory");
    succeeded(&wasp(HELLO_COMPOSE, out.path()));
    let checked_in = repo_root().join("envoy");
    let mut names: Vec<String> = std::fs::read_dir(&checked_in)
        .expect("envoy/ exists")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "control.json",
            "docker-compose.yml",
            "envoy.yaml",
            "filter.json"
        ],
        "envoy/ holds exactly what the compiler writes"
    );
    for name in &names {
        let fresh = std::fs::read_to_string(out.path().join(name)).expect("a written file");
        let kept = std::fs::read_to_string(checked_in.join(name)).expect("a checked-in file");
        assert!(
            fresh == kept,
            "envoy/{name} is stale: run `make deploy-examples` and commit the result"
        );
    }
}

#[test]
fn compose_files_follow_the_compose_specification() {
    for file in ["envoy/docker-compose.yml", "docker-compose.yml"] {
        let output = compose_valid(&repo_root().join(file));
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    // The validator is not a rubber stamp: a misspelt key fails.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = std::fs::read_to_string(repo_root().join("envoy/docker-compose.yml"))
        .expect("the compose file");
    let bad = dir.path().join("docker-compose.yml");
    std::fs::write(&bad, text.replacen("    ports:", "    portz:", 1)).expect("write");
    let output = compose_valid(&bad);
    assert!(!output.status.success(), "a misspelt key passed");
    assert!(String::from_utf8_lossy(&output.stdout).contains("portz"));
}

#[test]
fn compose_refuses_loopback_addresses_inside_containers() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let output = wasp(
        &[
            HELLO,
            "--target",
            "compose",
            "--service-control-url",
            "http://wasp-control:8790",
            "--producer-project-id",
            "hello-demo",
        ],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--backend: 127.0.0.1:8081 is loopback, which inside the Envoy container is Envoy itself; under --target compose name the service instead, like http://backend:8081"),
        "{stderr}"
    );
    let output = wasp(
        &[HELLO, "--target", "compose", "--listen", "127.0.0.1:8080"],
        out.path(),
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "--listen: 127.0.0.1:8080 is loopback, which a published port or a probe cannot reach"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `wasp compile SPEC --target sidecar` in namespace apps, with a health path and `extra`.
fn sidecar(spec: &str, extra: &[&str], out: &Path) -> Output {
    let mut args = vec![
        spec,
        "--target",
        "sidecar",
        "--healthz",
        "/healthz",
        "--producer-project-id",
        "hello-demo",
        "--namespace",
        "apps",
    ];
    args.extend_from_slice(extra);
    wasp(&args, out)
}

/// wasp-control in the namespace the sidecar's objects go to.
const CONTROL_IN_APPS: [&str; 2] = [
    "--service-control-url",
    "http://wasp-control.apps.svc.cluster.local:8790",
];

#[test]
fn sidecar_manifests_validate_and_a_new_spec_is_a_rolling_update() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let hello = std::fs::read_to_string(repo_root().join(HELLO)).expect("the hello spec");
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    let spec = dir.path().join("openapi.yaml");
    let spec_arg = spec.display().to_string();
    std::fs::write(&spec, &hello).expect("write");
    succeeded(&sidecar(&spec_arg, &CONTROL_IN_APPS, &v1));
    std::fs::write(&spec, hello.replace("Hello World", "Hello, world")).expect("write");
    succeeded(&sidecar(&spec_arg, &CONTROL_IN_APPS, &v2));

    let manifest = v1.join("kubernetes.yaml");
    let output = kubernetes_valid(&manifest);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let objects =
        |dir: &Path| documents(&std::fs::read_to_string(dir.join("kubernetes.yaml")).unwrap());
    let (old, new) = (objects(&v1), objects(&v2));
    let kinds: Vec<&str> = old.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "Service",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Deployment",
            "Service"
        ]
    );
    let config_map =
        |docs: &[serde_json::Value]| docs[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert_ne!(
        config_map(&old),
        config_map(&new),
        "a new config is a new ConfigMap"
    );
    assert_eq!(old[0]["immutable"], true);
    let template = |docs: &[serde_json::Value]| docs[1]["spec"]["template"].clone();
    assert_eq!(
        template(&new)["spec"]["volumes"][0]["configMap"]["name"].as_str(),
        Some(config_map(&new).as_str()),
        "the pod template names the new ConfigMap, so applying it rolls the pods"
    );
    assert_ne!(template(&old), template(&new));
    assert_eq!(
        old[1]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let envoy = &template(&old)["spec"]["containers"][1];
    assert_eq!(envoy["readinessProbe"]["httpGet"]["path"], "/healthz");
    let envoy_yaml = old[0]["data"]["envoy.yaml"].as_str().unwrap();
    assert!(
        envoy_yaml.contains("filename: /wasm/plugin.wasm"),
        "the module from the image volume"
    );
    assert!(
        envoy_yaml.contains("admin:\n  address:\n    socket_address:\n      address: 127.0.0.1\n      port_value: 9901"),
        "admin on loopback"
    );

    // Strict validation catches what Kubernetes would reject or ignore.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        text.replacen("readinessProbe:", "readinessProbes:", 1),
    )
    .expect("write");
    assert!(
        !kubernetes_valid(&bad).status.success(),
        "an unknown field passed"
    );
}

#[test]
fn sidecar_needs_a_loopback_app_and_a_health_path() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let output = wasp(
        &[
            HELLO,
            "--target",
            "sidecar",
            "--backend",
            "http://app:8081",
            "--service-control-url",
            "http://wasp-control:8790",
            "--producer-project-id",
            "hello-demo",
        ],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--backend: under --target sidecar the backend is the app container in Envoy's pod"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "--healthz: under --target sidecar Kubernetes probes readiness on the listener"
        ),
        "{stderr}"
    );
    let output = sidecar(
        HELLO,
        &[
            "--store",
            "/tmp/x",
            "--service-control-url",
            "http://wasp-control:8790",
        ],
        out.path(),
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--store: the store feeds Envoy's files")
    );
    let output = sidecar(
        HELLO,
        &[
            "--service-control-url",
            "http://wasp-control.other.svc.cluster.local:8790",
        ],
        out.path(),
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "names namespace \"other\", but wasp-control is written into --namespace \"apps\""
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
