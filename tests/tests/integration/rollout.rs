//! Immutable configs and zero-downtime rollouts through real Envoy: `wasp compile --store`
//! keeps each config under its id, `wasp rollout` makes one current through Envoy's
//! filesystem LDS/CDS (no restart), `wasp rollback` returns to the previous one, and a config
//! Envoy refuses (the filter's `on_configure` says no) changes nothing and fails the command.
//! A steady request loop (kept-alive and new connections) runs across every change.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wasp_tests::control::{free_port, wait_for_fresh_quota_window, ControlService};
use wasp_tests::idp::{now, JWKS_PATH};
use wasp_tests::{Client, ControlOptions, EchoBackend, Envoy, Idp, SigningKey, Tools};

use crate::keys_support::{management_with_limit, operation, shop, KEY_REQUIRED, PRODUCER};

fn spec(extra_paths: &str) -> String {
    format!(
        "swagger: \"2.0\"\ninfo: {{title: roll, version: \"1\"}}\nhost: roll.example.com\npaths:\n  /one:\n    get: {{operationId: one, responses: {{'200': {{description: ok}}}}}}\n{extra_paths}"
    )
}

const TWO: &str = "  /two:\n    get: {operationId: two, responses: {'200': {description: ok}}}\n";

/// `wasp compile` into the store; returns the id it printed.
fn store_config(
    tools: &Tools,
    dir: &Path,
    store: &Path,
    text: &str,
    backend: &str,
    port: u16,
    extra: &[&str],
) -> String {
    let spec = dir.join(format!("spec-{}.yaml", text.len()));
    std::fs::write(&spec, text).unwrap();
    let output = Command::new(&tools.wasp)
        .arg("compile")
        .arg(&spec)
        .args([
            "--backend",
            backend,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .args(["--admin", "127.0.0.1:0", "--wasm"])
        .arg(&tools.wasm)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--store")
        .arg(store)
        .output()
        .expect("run wasp compile");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("wasp: stored config ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no id printed: {stdout}"))
        .to_string()
}

/// `wasp <args> --store <store>`: (exit success, stdout + stderr).
fn wasp(tools: &Tools, store: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(&tools.wasp)
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .expect("run wasp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A request loop running beside the rollouts; [`SteadyLoad::finish`] stops it and checks
/// that every request it sent got a 200.
struct SteadyLoad {
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl SteadyLoad {
    fn start(url: String) -> SteadyLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, statuses) = (Arc::clone(&stop), Arc::clone(&statuses));
            std::thread::spawn(move || steady_load(url, stop, statuses))
        };
        SteadyLoad {
            stop,
            statuses,
            thread,
        }
    }

    /// Stops the loop: it sent more than `at_least` requests and none failed.
    fn finish(self, at_least: usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let statuses = self.statuses.lock().unwrap();
        let failed: Vec<&String> = statuses.iter().filter(|s| *s != "200").collect();
        assert!(
            statuses.len() > at_least,
            "the loop ran: {} requests",
            statuses.len()
        );
        assert!(
            failed.is_empty(),
            "{} of {} failed: {failed:?}",
            failed.len(),
            statuses.len()
        );
    }
}

/// GET `url` in a loop until stopped: a kept-alive client and a new connection in turn.
fn steady_load(url: String, stop: Arc<AtomicBool>, statuses: Arc<Mutex<Vec<String>>>) {
    let kept = Client::new();
    let mut turn = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let reply = if turn.is_multiple_of(2) {
            kept.send("GET", &url, &[])
        } else {
            Client::new().send("GET", &url, &[("connection", "close")])
        };
        let seen = match reply {
            Ok(reply) => reply.status.to_string(),
            Err(e) => format!("error: {e}"),
        };
        statuses.lock().unwrap().push(seen);
        turn += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn configs_roll_out_and_back_under_load_without_a_failed_request() {
    let tools = Tools::from_env();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let echo = EchoBackend::start();
    let port = free_port();
    let with_one = store_config(
        &tools,
        dir.path(),
        &store,
        &spec(""),
        &echo.url(),
        port,
        &[],
    );
    let with_two = store_config(
        &tools,
        dir.path(),
        &store,
        &spec(TWO),
        &echo.url(),
        port,
        &[],
    );
    assert_ne!(with_one, with_two);

    // The first rollout, before Envoy runs, puts the files Envoy starts from in place.
    let (ok, said) = wasp(&tools, &store, &["rollout", &with_one]);
    assert!(ok, "{said}");
    let envoy = Envoy::start(&tools.envoy, &store.join("envoy.yaml"), dir.path())
        .unwrap_or_else(|failure| panic!("{}\n{}", failure.reason, failure.log));
    let admin = format!("http://{}", envoy.admin);
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    // A new connection sees the current config at once; a kept-alive one finishes on the
    // config it started with (Envoy drains the old listener's connections).
    let status = |path: &str| {
        Client::new()
            .send("GET", &url(path), &[("connection", "close")])
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!((status("/one"), status("/two")), (200, 404));

    let load = SteadyLoad::start(url("/one"));
    std::thread::sleep(Duration::from_millis(300));

    let rollout = |id: &str| {
        let started = Instant::now();
        let (ok, said) = wasp(&tools, &store, &["rollout", id, "--envoy-admin", &admin]);
        assert!(ok, "rollout {id}: {said}");
        assert!(said.contains("Envoy took it"), "{said}");
        started.elapsed()
    };
    // 1. An operation added.
    let took = rollout(&with_two);
    assert!(took < Duration::from_secs(2), "rollout took {took:?}");
    assert_eq!(status("/two"), 200, "the new operation serves at once");

    // 2. The backend changed: new connections reach the other one.
    let other = EchoBackend::start();
    let moved = store_config(
        &tools,
        dir.path(),
        &store,
        &spec(TWO),
        &other.url(),
        port,
        &[],
    );
    rollout(&moved);
    let served_by = Client::new()
        .send("GET", &url("/one"), &[("connection", "close")])
        .expect("a reply")
        .echoed()
        .served_by;
    assert_eq!(
        served_by,
        Some(other.url().trim_start_matches("http://").to_string())
    );

    // 3. A JWT provider added, protecting /two (the loop's /one stays open).
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let protected = format!(
        "swagger: \"2.0\"\ninfo: {{title: roll, version: \"1\"}}\nhost: roll.example.com\nsecurityDefinitions:\n  idp:\n    type: oauth2\n    authorizationUrl: \"\"\n    flow: implicit\n    x-google-issuer: \"{}\"\n    x-google-jwks_uri: \"{}\"\npaths:\n  /one:\n    get: {{operationId: one, responses: {{'200': {{description: ok}}}}}}\n  /two:\n    get: {{operationId: two, security: [{{idp: []}}], responses: {{'200': {{description: ok}}}}}}\n",
        idp.issuer(),
        idp.url(JWKS_PATH)
    );
    let secured = store_config(
        &tools,
        dir.path(),
        &store,
        &protected,
        &other.url(),
        port,
        &[],
    );
    rollout(&secured);
    let token = key.mint(&json!({
        "iss": idp.issuer(), "aud": "https://roll.example.com", "sub": "u", "exp": now() + 600,
    }));
    let with_token = || {
        Client::new()
            .send(
                "GET",
                &url("/two"),
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("connection", "close"),
                ],
            )
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!((status("/two"), with_token()), (401, 200));

    // 4. An operation removed, then 5. rolled back to the protected config.
    rollout(&with_one);
    assert_eq!(status("/two"), 404, "the removed one is gone");
    let (ok, said) = wasp(&tools, &store, &["rollback", "--envoy-admin", &admin]);
    assert!(ok, "{said}");
    assert!(said.contains(&secured), "{said}");
    assert_eq!((status("/two"), with_token()), (401, 200), "rolled back");

    // A config the filter refuses (a route it does not know): Envoy keeps the old one.
    let bad = format!("{with_one}-bad");
    let bad_dir = store.join("configs").join(&bad);
    copy_dir(&store.join("configs").join(&with_one), &bad_dir);
    let lds = std::fs::read_to_string(bad_dir.join("lds.yaml")).unwrap();
    std::fs::write(
        bad_dir.join("lds.yaml"),
        lds.replace("\\\"route\\\":\\\"r0\\\"", "\\\"route\\\":\\\"r9\\\"")
            .replace("\"route\":\"r0\"", "\"route\":\"r9\""),
    )
    .unwrap();
    let (ok, said) = wasp(&tools, &store, &["rollout", &bad, "--envoy-admin", &admin]);
    assert!(!ok, "a refused config is a failed rollout: {said}");
    assert!(said.contains("Envoy refused the new listener"), "{said}");
    assert_eq!(status("/two"), 401, "the config before keeps serving");
    let (_, listed) = wasp(&tools, &store, &["configs"]);
    assert!(listed.contains(&format!("* {secured}")), "{listed}");

    std::thread::sleep(Duration::from_millis(300));
    load.finish(50);
    assert_eq!(envoy.vm_reloads(), Some(0));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_corrupt_module_fails_envoy_at_start_not_at_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("wasp_filter.wasm");
    // The real module cut short, as a failed download or copy leaves it.
    let module = std::fs::read(Tools::from_env().wasm).unwrap();
    std::fs::write(&corrupt, &module[..module.len() / 2]).unwrap();
    let tools = Tools {
        wasm: corrupt,
        ..Tools::from_env()
    };
    let compiled = wasp_tests::spec::compile_with(
        &tools,
        &wasp_tests::CompileInput::new(&spec("")),
        "http://127.0.0.1:9",
    );
    let failure = match Envoy::start(&tools.envoy, &compiled.envoy_yaml, compiled.dir.path()) {
        Ok(_) => panic!("Envoy started with half a module"),
        Err(failure) => failure,
    };
    assert!(failure.exit.is_some(), "Envoy exits: {}", failure.reason);
    assert!(
        failure.log.contains("wasp") && failure.log.to_lowercase().contains("wasm"),
        "the log names the module: {}",
        failure.log
    );
}

#[test]
fn a_rollout_that_keeps_a_jwt_provider_keeps_its_fetched_keys() {
    let tools = Tools::from_env();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let echo = EchoBackend::start();
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let port = free_port();
    let secured = |extra: &str| {
        format!(
            "swagger: \"2.0\"\ninfo: {{title: roll, version: \"1\"}}\nhost: roll.example.com\nsecurityDefinitions:\n  idp:\n    type: oauth2\n    authorizationUrl: \"\"\n    flow: implicit\n    x-google-issuer: \"{}\"\n    x-google-jwks_uri: \"{}\"\nsecurity: [{{idp: []}}]\npaths:\n  /secure:\n    get: {{operationId: secure, responses: {{'200': {{description: ok}}}}}}\n{extra}",
            idp.issuer(),
            idp.url(JWKS_PATH)
        )
    };
    let first = store_config(
        &tools,
        dir.path(),
        &store,
        &secured(""),
        &echo.url(),
        port,
        &[],
    );
    let second = store_config(
        &tools,
        dir.path(),
        &store,
        &secured(TWO),
        &echo.url(),
        port,
        &[],
    );
    let (ok, said) = wasp(&tools, &store, &["rollout", &first]);
    assert!(ok, "{said}");
    let envoy = Envoy::start(&tools.envoy, &store.join("envoy.yaml"), dir.path())
        .unwrap_or_else(|failure| panic!("{}\n{}", failure.reason, failure.log));
    let token = key.mint(&json!({
        "iss": idp.issuer(), "aud": "https://roll.example.com", "sub": "u", "exp": now() + 600,
    }));
    let bearer = format!("Bearer {token}");
    let get = |path: &str| {
        Client::new()
            .send(
                "GET",
                &format!("http://127.0.0.1:{port}{path}"),
                &[("authorization", bearer.as_str()), ("connection", "close")],
            )
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!(get("/secure"), 200);
    assert_eq!(idp.fetches(JWKS_PATH), 1);

    let admin = format!("http://{}", envoy.admin);
    let (ok, said) = wasp(
        &tools,
        &store,
        &["rollout", &second, "--envoy-admin", &admin],
    );
    assert!(ok, "{said}");
    assert_eq!((get("/two"), get("/secure")), (200, 200));
    assert_eq!(
        idp.fetches(JWKS_PATH),
        1,
        "the new config found the keys the old one fetched"
    );
}

/// A quota limit changed by a rollout: the store's `current/control.json` follows it, and the
/// real `wasp-control` serving that file applies it (its 2 s poll) with the minute's count
/// kept, while the request loop on the open operation sees no failure; a rollback restores it.
#[test]
fn a_quota_limit_rolled_out_reaches_wasp_control_without_a_restart() {
    let tools = Tools::from_env();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let echo = EchoBackend::start();
    let (port, control_port) = (free_port(), free_port());
    let paths = format!(
        "{}{}",
        operation("/one", "get", "one", &["security: []"]),
        operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 1}}"],
        )
    );
    let with_limit = |limit: usize| {
        shop(
            &format!("{}{KEY_REQUIRED}", management_with_limit(limit)),
            &paths,
        )
    };
    let control_url = format!("http://127.0.0.1:{control_port}");
    let extra = [
        "--service-control-url",
        control_url.as_str(),
        "--producer-project-id",
        PRODUCER,
    ];
    let five = store_config(
        &tools,
        dir.path(),
        &store,
        &with_limit(5),
        &echo.url(),
        port,
        &extra,
    );
    let two = store_config(
        &tools,
        dir.path(),
        &store,
        &with_limit(2),
        &echo.url(),
        port,
        &extra,
    );
    let (ok, said) = wasp(&tools, &store, &["rollout", &five]);
    assert!(ok, "{said}");
    let control = ControlService::start(
        &store.join("current").join("control.json"),
        control_port,
        ControlOptions::default(),
    );
    let (acme, beta) = (control.create_key("acme", 1), control.create_key("beta", 2));
    let envoy = Envoy::start(&tools.envoy, &store.join("envoy.yaml"), dir.path())
        .unwrap_or_else(|failure| panic!("{}\n{}", failure.reason, failure.log));
    let admin = format!("http://{}", envoy.admin);
    let items = |key: &str| {
        Client::new()
            .send(
                "GET",
                &format!("http://127.0.0.1:{port}/items?key={key}"),
                &[("connection", "close")],
            )
            .map(|r| r.status)
            .unwrap_or(0)
    };
    let load = SteadyLoad::start(format!("http://127.0.0.1:{port}/one"));
    wait_for_fresh_quota_window(Duration::from_secs(30));
    assert_eq!((items(&acme.key), items(&acme.key)), (200, 200));

    // Limit 5 -> 2 by a rollout: the two units acme used this minute still count.
    let started = Instant::now();
    let (ok, said) = wasp(&tools, &store, &["rollout", &two, "--envoy-admin", &admin]);
    assert!(ok, "{said}");
    let applied = reloads_applied_once(&control, 1);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "wasp-control applied it after {took:?}"
    );
    assert_eq!(
        items(&acme.key),
        429,
        "the new limit, with the minute's count kept"
    );

    // Rolled back: limit 5 again (beta, with no cached denial, passes more than 2).
    let (ok, said) = wasp(&tools, &store, &["rollback", "--envoy-admin", &admin]);
    assert!(ok, "{said}");
    reloads_applied_once(&control, applied + 1);
    let beta_calls: Vec<u16> = (0..4).map(|_| items(&beta.key)).collect();
    assert_eq!(beta_calls, [200; 4], "the limit of 5 is back");

    load.finish(20);
    assert_eq!(envoy.vm_reloads(), Some(0));
    let log = control.log();
    assert!(log.contains("control configs reloaded"), "{log}");
}

/// `reloads_applied` from wasp-control's `GET /admin/config` once it reaches `at_least`.
fn reloads_applied_once(control: &ControlService, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = control.admin("GET", "/admin/config", None);
        assert_eq!(status, 200, "{body}");
        let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
        let applied = shown["reloads_applied"].as_u64().unwrap_or(0);
        if applied >= at_least {
            return applied;
        }
        assert!(Instant::now() < deadline, "no reload applied: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
