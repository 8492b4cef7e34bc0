//! `wasp-control` picks up a changed `control.json` without a restart (it polls every 2 s,
//! and `POST /admin/config/reload` reads it at once): a lower or higher quota limit applies
//! to the current minute's count (windows and keys are kept), and a config that does not
//! read is refused while the old one keeps serving. Through real Envoy and the real service.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasp_tests::control::{wait_for_fresh_quota_window, ControlService};
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway};

use crate::keys_support::*;

/// Replaces the file as editors and `kubectl` do: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).expect("write the new control config");
    std::fs::rename(&next, path).expect("rename it over the old one");
}

fn with_limit(path: &Path, per_minute: i64) -> String {
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(path).expect("read control.json")).unwrap();
    config["limits"][0]["per_minute"] = per_minute.into();
    config.to_string()
}

/// `GET /admin/config` once `field` reaches `at_least` (the poll runs every 2 s).
fn config_once(control: &ControlService, field: &str, at_least: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = control.admin("GET", "/admin/config", None);
        assert_eq!(status, 200, "{body}");
        let config: Value = serde_json::from_str(&body).unwrap();
        if config[field].as_u64().unwrap_or(0) >= at_least {
            return config;
        }
        assert!(
            Instant::now() < deadline,
            "{field} never reached {at_least}: {config}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_new_control_config_applies_at_once_and_a_bad_one_changes_nothing() {
    let top = format!("{MANAGEMENT_LIMIT_5}{KEY_REQUIRED}");
    let paths = operation(
        "/items",
        "get",
        "listItems",
        &["x-google-quota: {metricCosts: {read-requests: 1}}"],
    );
    let gw = ControlledGateway::start_with(
        CompileInput::new(&shop(&top, &paths)).args(["--producer-project-id", PRODUCER]),
        ControlOptions::default(),
    );
    let acme = gw.control.create_key("acme", 1);
    // Used only after the reloads: keys made before a reload still work after it.
    let beta = gw.control.create_key("beta", 2);
    let config = gw.control.config_path().to_path_buf();
    let original = std::fs::read_to_string(&config).unwrap();
    wait_for_fresh_quota_window(Duration::from_secs(25));
    let call = || get_with_key(&gw.gateway, "/items", &acme.key).status;
    assert_eq!((call(), call()), (200, 200));

    // Limit 5 -> 3: the two units already used in this minute still count.
    replace(&config, &with_limit(&config, 3));
    let shown = config_once(&gw.control, "reloads_applied", 1);
    assert_eq!(shown["services"], serde_json::json!([SERVICE]));
    assert_eq!((call(), call()), (200, 429), "3 units, then the new limit");

    // A config that does not read: refused, the old one (limit 3) keeps serving.
    replace(&config, "{\"version\": 1, \"service_name\": ");
    let shown = config_once(&gw.control, "reloads_refused", 1);
    let error = shown["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("control.json"), "{shown}");
    assert_eq!(call(), 429);
    let (status, body) = gw.control.admin("POST", "/admin/config/reload", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"result\":\"refused\""), "{body}");

    // A good one again (limit 10): applied. (acme stays at 429 for this minute: the
    // gateway caches a denial until the window ends, as ESPv2 does.)
    std::fs::write(&config, &original).unwrap();
    replace(&config, &with_limit(&config, 10));
    let (status, body) = gw.control.admin("POST", "/admin/config/reload", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"result\":\"applied\""), "{body}");
    let beta_calls: Vec<u16> = (0..4)
        .map(|_| get_with_key(&gw.gateway, "/items", &beta.key).status)
        .collect();
    assert_eq!(
        beta_calls, [200; 4],
        "more than the old limit of 3 in one minute"
    );
    let log = gw.control.log();
    assert!(log.contains("control configs reloaded"), "{log}");
    assert!(log.contains("refused, the old ones keep serving"), "{log}");
}
