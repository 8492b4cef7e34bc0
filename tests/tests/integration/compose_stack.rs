//! `wasp compile --target compose` for real: the project's images loaded into podman,
//! the generated docker-compose.yml brought up with podman-compose (Envoy with the
//! module mounted, wasp-control, the hello backend, on a compose network with its DNS),
//! and the hello example's checks through it: 200, 401 and 400 for keys, 429 after the
//! quota, 404 and 405.

use std::process::Command;
use std::time::{Duration, Instant};

use wasp_tests::control::free_port;
use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::oci::shared_images;
use wasp_tests::podman::{load_images, ComposeStack};
use wasp_tests::tools::repo_root;
use wasp_tests::{Client, Tools};

use crate::keys_support::{INVALID_KEY, MISSING_KEY};

#[test]
fn the_hello_example_runs_as_a_compose_stack_under_podman() {
    let tools = Tools::from_env();
    let built = shared_images();
    let tag = |name: &str| built.reference(name);
    load_images(built, &["wasp-control", "wasp-envoy", "wasp-hello-backend"]);
    let out = tempfile::tempdir().expect("a temporary directory");
    let (port, control_port) = (free_port(), free_port());
    let project = format!("wasp-test-{}", std::process::id());
    let output = Command::new(&tools.wasp)
        .current_dir(repo_root())
        .args([
            "compile",
            "examples/hello/openapi.yaml",
            "--target",
            "compose",
        ])
        .args(["--backend", "http://backend:8081"])
        .args([
            "--service-control-url",
            &format!("http://wasp-control:{control_port}"),
        ])
        .args(["--producer-project-id", "hello-demo"])
        .args([
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--deploy-name",
            &project,
        ])
        .args(["--app-image", &tag("wasp-hello-backend")])
        .args([
            "--envoy-image",
            &tag("wasp-envoy"),
            "--control-image",
            &tag("wasp-control"),
        ])
        .arg("--compose-module")
        .arg(&tools.wasm)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run wasp compile");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let stack = ComposeStack::up(&out.path().join("docker-compose.yml"), &project);
    let client = Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match client.send("GET", &url("/hello"), &[]) {
            Ok(reply) if reply.status == 200 => {
                assert_eq!(reply.body, "Hello, World!");
                break;
            }
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(250)),
            other => panic!(
                "the stack never served /hello: {other:?}\n--- envoy ---\n{}",
                stack.logs("envoy")
            ),
        }
    }
    let created = stack.exec(
        "wasp-control",
        &[
            "wasp-control",
            "keys",
            "create",
            "--project",
            "demo-consumer",
            "--db",
            "/var/lib/wasp-control/keys.db",
            "--json",
        ],
    );
    let key: serde_json::Value = serde_json::from_slice(&created.stdout).expect("the key as JSON");
    let key = key["key"].as_str().expect("a key");
    let get = |path: &str| client.send("GET", &url(path), &[]).expect("a request");

    local_reply(&get("/greeting"), 401, MISSING_KEY);
    local_reply(&get("/greeting?key=AIzaBogus"), 400, INVALID_KEY);
    for n in 1..=5 {
        let reply = get(&format!("/greeting?key={key}"));
        assert_eq!(reply.status, 200, "greeting {n}: {reply:?}");
    }
    let over = get(&format!("/greeting?key={key}"));
    assert_eq!(over.status, 429, "the sixth greeting in a minute: {over:?}");
    local_reply(&get("/nothing"), 404, NOT_DEFINED);
    let post = client.send("POST", &url("/hello"), &[]).expect("a request");
    assert_eq!(post.status, 405, "{post:?}");
}
