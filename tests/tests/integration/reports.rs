//! Usage reports through real Envoy: every request (passed, refused for its key, over
//! quota, unknown path, wrong method) is reported to the real `wasp-control`, whose
//! `GET /admin/reports` counts them per operation, consumer and response code. Reports
//! are batched and sent about every second, so the test polls with a deadline. The
//! per-minute rows (`GET /admin/reports/minutes`) survive a wasp-control restart.

use std::time::Duration;

use wasp_tests::control::{counts, wait_for_fresh_quota_window};
use wasp_tests::echo::STATUS_HEADER;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway};

use crate::keys_support::*;

const UNKNOWN: &str = "<Unknown Operation Name>";

#[test]
fn every_request_is_reported_with_its_operation_consumer_and_code() {
    let top = format!("{MANAGEMENT_LIMIT_5}{KEY_REQUIRED}");
    let paths = [
        operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 2}}"],
        ),
        operation("/open", "get", "openItems", &["security: []"]),
    ]
    .concat();
    let gw = ControlledGateway::start_with(
        CompileInput::new(&shop(&top, &paths)).args(["--producer-project-id", PRODUCER]),
        ControlOptions::default(),
    );
    let acme = gw.control.create_key("acme", 1);
    wait_for_fresh_quota_window(Duration::from_secs(12));

    let mut statuses = Vec::new();
    let mut send = |method: &str, path: &str| {
        statuses.push(gw.send(method, path, &[]).status);
    };
    let items = format!("/items?key={}", acme.key);
    for _ in 0..3 {
        send("GET", &items); // 200, 200, 429
    }
    send("GET", "/items"); // 401
    send("GET", "/items?key=AIzaBogus"); // 400
    send("GET", "/nothing"); // 404
    send("GET", "/nothing/else"); // 404
    send("POST", "/items"); // 405
    for _ in 0..3 {
        send("GET", "/open"); // 200
    }
    // Not checked: the key names no consumer in the report.
    send("GET", &format!("/open?key={}", acme.key)); // 200
                                                     // The backend's own status is reported too.
    statuses.push(gw.send("GET", "/open", &[(STATUS_HEADER, "503")]).status);
    assert_eq!(
        statuses,
        [200, 200, 429, 401, 400, 404, 404, 405, 200, 200, 200, 200, 503]
    );

    let (list, open) = (op("listItems"), op("openItems"));
    gw.control.wait_for_report_counts(
        &counts(&[
            (&list, "project:acme", "200", 2),
            (&list, "project:acme", "429", 1),
            (&list, "", "401", 1),
            (&list, "", "400", 1),
            (UNKNOWN, "", "404", 2),
            (UNKNOWN, "", "405", 1),
            (&open, "", "200", 4),
            (&open, "", "503", 1),
        ]),
        Duration::from_secs(15),
    );
    let reports = gw.control.reports();
    assert_eq!(reports["requests"], 13, "{reports:#}");
    for recent in reports["recent"].as_array().into_iter().flatten() {
        assert_eq!(recent["service"], SERVICE, "{recent:#}");
    }

    // The per-minute rows outlive wasp-control (the in-memory counts do not).
    let mut gw = gw;
    gw.control.stop();
    gw.control.start_again();
    let (status, body) = gw.control.admin("GET", "/admin/reports/minutes", None);
    assert_eq!(status, 200, "{body}");
    let minutes: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = minutes["rows"].as_array().unwrap();
    let total = |operation: &str, consumer: &str, code: &str, field: &str| -> i64 {
        rows.iter()
            .filter(|r| {
                r["operation"] == operation
                    && r["consumer"] == consumer
                    && r["response_code"] == code
            })
            .map(|r| r[field].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        total(&list, "project:acme", "200", "requests"),
        2,
        "{minutes:#}"
    );
    assert_eq!(total(&list, "project:acme", "429", "errors"), 1);
    assert_eq!(total(&open, "", "200", "requests"), 4);
    assert_eq!(total(&open, "", "503", "errors"), 1);
    assert_eq!(total(UNKNOWN, "", "404", "requests"), 2);
    // The backend's answers have bodies; the gateway's latency histogram came along.
    assert!(total(&open, "", "200", "response_bytes") > 0, "{minutes:#}");
    let latencies: i64 = rows
        .iter()
        .map(|r| r["latency"]["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(latencies, 13, "every request in a latency histogram");
}
