//! `wasp compile --target sidecar` for real: the generated ConfigMap, Deployment and
//! Service played by `podman kube play` with the project's images, the app and Envoy in
//! one pod, Envoy reading its bootstrap from the ConfigMap volume and the module from
//! the filter image. Two changes stand in for what podman 4.3 lacks: the module's image
//! volume becomes a hostPath holding the module extracted from the filter image as a
//! fetcher does, and the listener port gets a hostPort so the test can reach the pod.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use wasp_tests::control::free_port;
use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::manifests::documents;
use wasp_tests::oci::{fetch_module, shared_images};
use wasp_tests::podman::load_images;
use wasp_tests::tools::repo_root;
use wasp_tests::{Client, Tools};

/// `podman kube play --down` when dropped, and the volume podman made of the ConfigMap
/// (which `--down` keeps).
struct Played {
    manifest: std::path::PathBuf,
    config_map: String,
}

impl Drop for Played {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["kube", "play", "--down"])
            .arg(&self.manifest)
            .output();
        let _ = Command::new("podman")
            .args(["volume", "rm", "--force", &self.config_map])
            .output();
    }
}

#[test]
fn the_sidecar_pod_serves_the_hello_example_under_podman() {
    let tools = Tools::from_env();
    let built = shared_images();
    let images = &built.dir;
    let tag = |name: &str| built.reference(name);
    load_images(built, &["wasp-envoy", "wasp-hello-backend"]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let name = format!("wasp-sidecar-{}", std::process::id());
    let output = Command::new(&tools.wasp)
        .current_dir(repo_root())
        .args([
            "compile",
            "examples/hello/openapi.yaml",
            "--target",
            "sidecar",
        ])
        .args(["--healthz", "/healthz", "--deploy-name", &name])
        .args(["--service-control-url", "http://wasp-control:8790"])
        .args(["--producer-project-id", "hello-demo"])
        .args([
            "--app-image",
            &tag("wasp-hello-backend"),
            "--envoy-image",
            &tag("wasp-envoy"),
        ])
        .args(["--filter-image", &tag("wasp-filter")])
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run wasp compile");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let module_dir = dir.path().join("module");
    std::fs::create_dir(&module_dir).expect("a module folder");
    std::fs::write(
        module_dir.join("plugin.wasm"),
        fetch_module(&images.join("wasp-filter")),
    )
    .expect("write the module");
    let text = std::fs::read_to_string(dir.path().join("kubernetes.yaml")).expect("the manifest");
    // The app's pod: its ConfigMap, Deployment and Service (wasp-control's objects follow).
    let mut pod: Vec<serde_json::Value> = documents(&text).into_iter().take(3).collect();
    assert_eq!(pod[1]["kind"], "Deployment");
    let port = free_port();
    let spec = &mut pod[1]["spec"]["template"]["spec"];
    let volumes = spec["volumes"].as_array_mut().expect("volumes");
    let module = volumes
        .iter_mut()
        .find(|v| v["name"] == "wasp-module")
        .expect("the module volume");
    assert_eq!(module["image"]["reference"], tag("wasp-filter").as_str());
    *module =
        json!({ "name": "wasp-module", "hostPath": { "path": module_dir, "type": "Directory" } });
    spec["containers"][1]["ports"][0]["hostPort"] = json!(port);
    pod[1]["spec"]["replicas"] = json!(1);
    let played = dir.path().join("podman.yaml");
    let yaml: Vec<String> = pod
        .iter()
        .map(|d| serde_norway::to_string(d).expect("YAML"))
        .collect();
    std::fs::write(&played, yaml.join("---\n")).expect("write the manifest");
    let run = Command::new("podman")
        .args(["kube", "play"])
        .arg(&played)
        .output()
        .expect("podman kube play");
    let _down = Played {
        manifest: played.clone(),
        config_map: pod[0]["metadata"]["name"]
            .as_str()
            .expect("a ConfigMap name")
            .to_string(),
    };
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let client = Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.send("GET", &url("/healthz"), &[]) {
            Ok(reply) if reply.status == 200 => break,
            other if Instant::now() > deadline => panic!("the pod never got ready: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
    let hello = client.send("GET", &url("/hello"), &[]).expect("a request");
    assert_eq!(
        (hello.status, hello.body.as_str()),
        (200, "Hello, World!"),
        "{hello:?}"
    );
    let goodbye = client
        .send("GET", &url("/goodbye"), &[])
        .expect("a request");
    assert_eq!(goodbye.body, "Goodbye, World!");
    local_reply(
        &client
            .send("GET", &url("/nothing"), &[])
            .expect("a request"),
        404,
        NOT_DEFINED,
    );
    assert_eq!(
        client
            .send("POST", &url("/hello"), &[])
            .expect("a request")
            .status,
        405
    );
}
