//! AllocateQuota over HTTP with the in-memory windows: exact exhaustion with costs > 1,
//! per-project windows, configured costs, and the key checks on the quota path.

mod common;

use common::*;
use wasp_servicecontrol::quota_error::Code;
use wasp_servicecontrol::quota_operation::QuotaMode;
use wasp_servicecontrol::*;

async fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(options(&dir.path().join("keys.db"), &config)).await;
    (dir, server)
}

#[tokio::test]
async fn exhausted_exactly_after_the_limit_with_cost_three() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    wait_for_fresh_window().await;

    // Limit 10, cost 3: 3 + 3 + 3 = 9 fit, the 4th (12) does not.
    for n in 1..=3 {
        let response = allocate(&base, &key, 3).await;
        assert!(granted(&response), "allocation {n}: {response:?}");
        assert_eq!(
            response.quota_metrics[0].metric_values[0].as_int64(),
            Some(3)
        );
    }
    let denied = allocate(&base, &key, 3).await;
    assert!(exhausted(&denied), "{denied:?}");
    let error = &denied.allocate_errors[0];
    assert_eq!(error.subject, "project:acme");
    assert!(
        error
            .description
            .contains("Quota exceeded for quota metric 'Read requests'"),
        "{}",
        error.description
    );
    assert!(
        error.description.contains("10 per minute"),
        "{}",
        error.description
    );
    assert_eq!(error.status.as_ref().unwrap().code, 8);

    // The denial consumed nothing: one unit is left, and then none.
    assert!(granted(&allocate(&base, &key, 1).await));
    assert!(exhausted(&allocate(&base, &key, 1).await));
}

#[tokio::test]
async fn keys_of_one_project_share_a_window_other_projects_do_not() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (first, _) = create_key_via_admin(&base, "acme", None).await;
    let (second, _) = create_key_via_admin(&base, "acme", None).await;
    let (other, _) = create_key_via_admin(&base, "globex", None).await;
    wait_for_fresh_window().await;

    assert!(granted(&allocate(&base, &first, 6).await));
    assert!(
        exhausted(&allocate(&base, &second, 6).await),
        "same project: 6 + 6 > 10"
    );
    assert!(granted(&allocate(&base, &second, 4).await));
    assert!(
        granted(&allocate(&base, &other, 10).await),
        "another project has its own window"
    );
}

#[tokio::test]
async fn configured_costs_apply_when_the_request_names_only_the_method() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    wait_for_fresh_window().await;
    let by_method = || quota_request(&format!("api_key:{key}"), READ_OP, &[]);
    for _ in 0..3 {
        let response: AllocateQuotaResponse =
            call(&base, Method::AllocateQuota, SERVICE, &by_method()).await;
        assert!(granted(&response));
    }
    let response: AllocateQuotaResponse =
        call(&base, Method::AllocateQuota, SERVICE, &by_method()).await;
    assert!(
        exhausted(&response),
        "Read costs 3 in the config: the 4th call needs 12 > 10"
    );
}

#[tokio::test]
async fn zero_cost_counts_one() {
    let (_dir, server) = started().await;
    let base = server.url("");
    wait_for_fresh_window().await;
    // Without an API key ESPv2 charges the producer project.
    let request = || quota_request("project:producer-project", FREE_OP, &[]);
    for n in 1..=LIMIT {
        let response: AllocateQuotaResponse =
            call(&base, Method::AllocateQuota, SERVICE, &request()).await;
        assert!(granted(&response), "call {n}");
    }
    let response: AllocateQuotaResponse =
        call(&base, Method::AllocateQuota, SERVICE, &request()).await;
    assert!(exhausted(&response));
}

/// Google's contract for `QuotaOperation.operation_id`: unique per operation, and it makes
/// retries idempotent. A gateway resending an allocation (its answer was lost) is not
/// charged twice.
#[tokio::test]
async fn a_retried_allocation_is_charged_once() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    wait_for_fresh_window().await;
    let once = quota_request(&format!("api_key:{key}"), READ_OP, &[("reads", 6)]);
    for _ in 0..3 {
        let response: AllocateQuotaResponse =
            call(&base, Method::AllocateQuota, SERVICE, &once).await;
        assert!(granted(&response), "the same operation is granted again");
    }
    assert!(granted(&allocate(&base, &key, 4).await), "6 + 4 fit in 10");
    assert!(exhausted(&allocate(&base, &key, 1).await));
}

#[tokio::test]
async fn check_only_mode_does_not_consume() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    wait_for_fresh_window().await;
    let mut peek = quota_request(&format!("api_key:{key}"), READ_OP, &[("reads", 10)]);
    peek.allocate_operation.as_mut().unwrap().quota_mode = QuotaMode::CheckOnly as i32;
    for _ in 0..3 {
        let response: AllocateQuotaResponse =
            call(&base, Method::AllocateQuota, SERVICE, &peek).await;
        assert!(granted(&response));
    }
    assert!(granted(&allocate(&base, &key, 10).await));
}

#[tokio::test]
async fn invalid_keys_and_unknown_metrics_are_refused() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let invalid = allocate(&base, "wasp-never-issued", 1).await;
    assert_eq!(invalid.allocate_errors[0].code(), Code::ApiKeyInvalid);

    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    let unknown = quota_request(&format!("api_key:{key}"), READ_OP, &[("writes", 1)]);
    let response = post_raw(
        &base,
        &Method::AllocateQuota.path(SERVICE),
        unknown.encode_to_vec(),
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("\"writes\" is not declared"));
}
