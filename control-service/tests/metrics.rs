//! `GET /metrics` over HTTP after a known mix of calls: every call counted by method and
//! outcome, the denials by Google's error code, latency histograms for the calls and the
//! two stores, in Prometheus' text format.

mod common;

use common::*;

#[tokio::test]
async fn metrics_count_each_call_its_outcome_and_its_denials() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(options(&dir.path().join("keys.db"), &config)).await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    wait_for_fresh_window().await;

    assert!(check(&base, &key).await.check_errors.is_empty());
    assert!(!check(&base, "not-a-key").await.check_errors.is_empty());
    // Limit 10, cost 3: three granted, the fourth exhausted.
    for _ in 0..3 {
        assert!(granted(&allocate(&base, &key, 3).await));
    }
    assert!(exhausted(&allocate(&base, &key, 3).await));
    let unknown = post_raw(
        &base,
        "/v1/services/nope.example.com:check",
        Vec::new(),
        "application/x-protobuf",
    )
    .await;
    assert_eq!(unknown.status(), 404);

    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    for line in [
        r#"wasp_control_calls_total{method="check",outcome="ok"} 1"#,
        r#"wasp_control_calls_total{method="check",outcome="denied"} 1"#,
        r#"wasp_control_calls_total{method="check",outcome="NOT_FOUND"} 1"#,
        r#"wasp_control_calls_total{method="allocateQuota",outcome="ok"} 3"#,
        r#"wasp_control_calls_total{method="allocateQuota",outcome="denied"} 1"#,
        r#"wasp_control_denials_total{method="check",code="api_key_invalid"} 1"#,
        r#"wasp_control_denials_total{method="allocateQuota",code="resource_exhausted"} 1"#,
        r#"wasp_control_call_duration_seconds_count{method="check"} 3"#,
        r#"wasp_control_call_duration_seconds_count{method="allocateQuota"} 4"#,
        // Two Checks and four allocations looked their key up; four allocations charged.
        r#"wasp_control_store_duration_seconds_count{store="keys"} 6"#,
        r#"wasp_control_store_duration_seconds_count{store="quota"} 4"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
    }
    assert!(!text.contains(&key), "no key in the metrics");
}
