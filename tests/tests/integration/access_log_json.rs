//! `--access-log-format json`: one JSON object per request on Envoy's stdout (or in
//! `--access-log-path`), every field checked against what the request was and got, and
//! never the query, the key or a token.

use std::time::Duration;

use serde_json::Value;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, Gateway};

use crate::keys_support::*;

/// Sends `path` with a unique user agent and returns its parsed log object.
fn logged(
    gw: &Gateway,
    path: &str,
    marker: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut all = vec![("user-agent", marker)];
    all.extend_from_slice(headers);
    let status = gw.send("GET", path, &all).status;
    let line = gw
        .envoy
        .access_log_line(
            &format!("\"user_agent\":\"{marker}\""),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no JSON line for {path}:\n{}", gw.envoy.access_log()));
    let object: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (status, object, line)
}

#[test]
fn every_request_is_one_json_object_with_its_operation_consumer_and_denial() {
    let paths = operation("/items", "get", "listItems", &[]);
    let gw = ControlledGateway::start_with(
        CompileInput::new(&shop(KEY_REQUIRED, &paths)).args([
            "--producer-project-id",
            PRODUCER,
            "--access-log-format",
            "json",
        ]),
        ControlOptions::default(),
    );
    let acme = gw.control.create_key("acme", 4242);
    let config_id = {
        let filter: Value = serde_json::from_slice(
            &std::fs::read(gw.gateway.compiled.path().join("filter.json")).unwrap(),
        )
        .unwrap();
        filter["config_hash"].as_str().unwrap().to_string()
    };

    let secret_path = format!("/items?key={}&token=s3cr3t", acme.key);
    let (status, ok, line) = logged(&gw.gateway, &secret_path, "json-ok", &[]);
    assert_eq!(status, 200);
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["path"], "/items", "no query");
    assert_eq!(ok["response_code"], 200);
    assert_eq!(ok["response_flags"], "-");
    assert_eq!(ok["response_code_details"], "via_upstream");
    assert_eq!(ok["operation"], op("listItems"));
    assert_eq!(ok["consumer"], "project:4242");
    assert_eq!(ok["denial"], Value::Null);
    assert_eq!(ok["client"], "127.0.0.1");
    assert_eq!(ok["config_id"], config_id);
    assert_eq!(ok["trace_id"], Value::Null, "no tracer, no trace id");
    assert!(ok["duration_ms"].as_u64().is_some(), "{line}");
    assert!(ok["backend_ms"].as_u64().is_some(), "{line}");
    assert!(ok["bytes_sent"].as_u64().unwrap() > 0);
    assert!(
        ok["request_id"].as_str().is_some_and(|id| id.len() >= 32),
        "{line}"
    );
    assert!(ok["upstream"]
        .as_str()
        .is_some_and(|u| u.starts_with("127.0.0.1:")));
    assert!(
        !line.contains(&acme.key) && !line.contains("s3cr3t"),
        "{line}"
    );

    let (status, bad, line) = logged(&gw.gateway, "/items?key=AIzaBogus", "json-bad", &[]);
    assert_eq!((status, bad["denial"].as_str()), (400, Some("key_invalid")));
    assert_eq!(bad["consumer"], Value::Null);
    assert_eq!(bad["operation"], op("listItems"));
    assert!(!line.contains("AIzaBogus"), "{line}");
    let (status, missing, _) = logged(&gw.gateway, "/items", "json-missing", &[]);
    assert_eq!(
        (status, missing["denial"].as_str()),
        (401, Some("key_missing"))
    );
    let (status, unknown, _) = logged(&gw.gateway, "/nowhere", "json-404", &[]);
    assert_eq!(
        (status, unknown["denial"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(unknown["backend_ms"], Value::Null, "no backend was asked");
    assert!(
        !gw.gateway.envoy.access_log().contains(&acme.key),
        "the key is nowhere in the log"
    );
}

#[test]
fn the_log_goes_to_a_file_when_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let gw = Gateway::start_compiled(
        &CompileInput::new(include_str!("../../specs/matching.yaml")).args([
            "--access-log-format",
            "json",
            "--access-log-path",
            &path.display().to_string(),
        ]),
        "http://127.0.0.1:9",
        None,
    );
    assert_eq!(gw.get("/nowhere").status, 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let _ = wasp_tests::Client::new().send(
            "POST",
            &format!("http://{}/reopen_logs", gw.envoy.admin),
            &[],
        );
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let object: Value = serde_json::from_str(text.lines().next().unwrap_or("")).unwrap();
    assert_eq!(object["path"], "/nowhere");
    assert_eq!(object["denial"], "not_found");
}
