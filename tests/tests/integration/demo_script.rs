//! `make demo` itself: `scripts/demo.sh` run as a user runs it (on free ports, into a
//! temporary folder), answering the curl lines it prints; then the spec copy it leaves is
//! edited and `rollout.sh` (which it writes) rolls the change out to the running Envoy and
//! wasp-control with no restart; SIGTERM (Ctrl-C) stops everything it started.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wasp_tests::control::{free_port, wait_for_fresh_quota_window};
use wasp_tests::tools::repo_root;
use wasp_tests::{Client, Tools};

/// The running demo; dropping it sends SIGTERM, as Ctrl-C would, and waits for it.
struct Demo {
    script: Child,
    printed: Vec<String>,
    /// What it prints after the curl lines (the access log, then its goodbye).
    later: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Demo {
    /// SIGTERM, then everything it printed after start-up.
    fn stop(&mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.script.id().to_string()])
            .status();
        let _ = self.script.wait();
        self.later
            .take()
            .and_then(|later| later.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_demo(out: &std::path::Path, ports: [u16; 4]) -> Demo {
    let tools = Tools::from_env();
    let mut script = Command::new("bash")
        .arg(repo_root().join("scripts/demo.sh"))
        .env("WASP_DEMO_OUT", out)
        .env("WASP_ENVOY", &tools.envoy)
        .env("WASP_WASM", &tools.wasm)
        .env("WASP_BIN", &tools.wasp)
        .env("WASP_CONTROL", wasp_tests::tools::control_binary())
        .env("WASP_HELLO_BACKEND", env!("CARGO_BIN_EXE_hello_backend"))
        .env("LISTEN_PORT", ports[0].to_string())
        .env("BACKEND_PORT", ports[1].to_string())
        .env("ADMIN_PORT", ports[2].to_string())
        .env("CONTROL_PORT", ports[3].to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run scripts/demo.sh");
    let mut lines = BufReader::new(script.stdout.take().expect("piped stdout")).lines();
    let mut printed = Vec::new();
    // Everything up to the line that says the access log follows.
    for line in lines.by_ref() {
        let line = line.expect("read the demo's output");
        let done = line.starts_with("Access log");
        printed.push(line);
        if done {
            break;
        }
    }
    // The access log goes on on stdout; keep reading it so the script never blocks.
    let later = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    Demo {
        script,
        printed,
        later: Some(later),
    }
}

fn get(url: &str) -> (u16, String) {
    Client::new()
        .send("GET", url, &[("connection", "close")])
        .map(|r| (r.status, r.body))
        .unwrap_or((0, String::new()))
}

#[test]
fn make_demo_serves_the_hello_example_and_rolls_out_an_edit_without_a_restart() {
    let out = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let mut demo = start_demo(out.path(), ports);
    let printed = demo.printed.join("\n");
    assert!(
        printed.contains("== wasp is serving examples/hello"),
        "{printed}"
    );
    let (number, key) = printed
        .lines()
        .find_map(|l| l.strip_prefix("== API key for project demo-consumer (number "))
        .and_then(|rest| rest.split_once("): "))
        .unwrap_or_else(|| panic!("no key printed: {printed}"));
    let gw = format!("http://127.0.0.1:{}", ports[0]);
    wait_for_fresh_quota_window(Duration::from_secs(20));
    assert_eq!(get(&format!("{gw}/hello")), (200, "Hello, World!".into()));
    assert_eq!(
        get(&format!("{gw}/greeting?key={key}")),
        (200, format!("Hello, project {number}!"))
    );
    let (status, body) = get(&format!("{gw}/bye"));
    assert_eq!(status, 404);
    assert!(body.contains("not defined by this API"), "{body}");

    // Edit the copy the demo serves: a new operation and a lower greeting limit.
    let spec_path = out.path().join("openapi.yaml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let edited = spec.replace("STANDARD: 5", "STANDARD: 1").replace(
        "paths:\n",
        "paths:\n  /bye:\n    get:\n      operationId: bye\n      responses:\n        \"200\":\n          description: ok\n",
    );
    assert_ne!(spec, edited);
    std::fs::write(&spec_path, edited).unwrap();
    let rolled = Command::new(out.path().join("rollout.sh"))
        .output()
        .expect("run the demo's rollout.sh");
    let said = String::from_utf8_lossy(&rolled.stdout).to_string()
        + &String::from_utf8_lossy(&rolled.stderr);
    assert!(rolled.status.success(), "{said}");
    assert!(said.contains("Envoy took it"), "{said}");
    // The new operation reaches the hello backend (its own 404 text, not the gateway's).
    assert_eq!(get(&format!("{gw}/bye")), (404, "Not Found".into()));
    // wasp-control follows the rollout (its 2 s poll): 1 greeting per minute, and the one
    // above already counts.
    let admin = format!("http://127.0.0.1:{}/admin/config", ports[3]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = Client::new()
            .send(
                "GET",
                &admin,
                &[("authorization", "Bearer demo-admin-token")],
            )
            .map(|r| r.json())
            .unwrap_or_default();
        if shown["reloads_applied"].as_u64() == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "no reload: {shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = get(&format!("{gw}/greeting?key={key}"));
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("(1 per minute per project)"), "{body}");
    assert!(printed.contains("== serving config "), "{printed}");

    let rest = demo.stop().join("\n");
    assert!(rest.contains("== demo stopped"), "{rest}");
    assert_eq!(get(&format!("{gw}/hello")).0, 0, "Envoy is gone");
}
