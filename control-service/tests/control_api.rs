//! The HTTP API over real sockets: admin key management, check decisions, auth, errors
//! and reports.

mod common;

use common::*;
use wasp_control::server::ServeOptions;
use wasp_servicecontrol::check_error::Code;
use wasp_servicecontrol::*;

async fn started() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(options(&dir.path().join("keys.db"), &config)).await;
    (dir, server)
}

#[tokio::test]
async fn admin_created_keys_check_until_deleted() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, id) = create_key_via_admin(&base, "acme", Some(777)).await;

    let ok = check(&base, &key).await;
    assert!(ok.check_errors.is_empty());
    assert_eq!(
        ok.check_info.unwrap().consumer_info.unwrap().project_number,
        777
    );
    assert_eq!(ok.service_config_id, "cfg-1");

    let unknown = check(&base, "wasp-never-issued").await;
    assert_eq!(unknown.check_errors[0].code(), Code::ApiKeyInvalid);

    let client = reqwest::Client::new();
    let listed: serde_json::Value = client
        .get(server.url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["project_number"], 777);

    let deleted = client
        .delete(server.url(&format!("/admin/keys/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let revoked = check(&base, &key).await;
    assert_eq!(revoked.check_errors[0].code(), Code::ApiKeyInvalid);

    let missing = client
        .delete(server.url("/admin/keys/k-nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn admin_api_needs_its_token_and_is_off_without_one() {
    let (dir, server) = started().await;
    let client = reqwest::Client::new();
    let anonymous = client.get(server.url("/admin/keys")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = client
        .get(server.url("/admin/reports"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let bad_body = client
        .post(server.url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), 400);

    let mut no_admin = options(&dir.path().join("other.db"), &write_config(dir.path()));
    no_admin.admin_token = None;
    let closed = Server::start(no_admin).await;
    let response = client
        .get(closed.url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--admin-token"));
}

#[tokio::test]
async fn control_token_is_enforced_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir.path().join("keys.db"), &write_config(dir.path()));
    opts.control_token = Some("gateway-token".into());
    let server = Server::start(opts).await;
    let body = check_request("project:producer-project").encode_to_vec();
    let client = reqwest::Client::new();
    let path = server.url(&Method::Check.path(SERVICE));

    let anonymous = client
        .post(&path)
        .header("content-type", CONTENT_TYPE)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let authorized = client
        .post(&path)
        .bearer_auth("gateway-token")
        .header("content-type", CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(authorized.status(), 200);
}

#[tokio::test]
async fn malformed_calls_get_google_style_errors() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let body = check_request("project:producer-project").encode_to_vec();

    let unknown_service = post_raw(
        &base,
        &Method::Check.path("other.example.com"),
        body.clone(),
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(unknown_service.status(), 404);
    let error: serde_json::Value = unknown_service.json().await.unwrap();
    assert_eq!(error["error"]["status"], "NOT_FOUND");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("other.example.com"));

    let unknown_verb = post_raw(
        &base,
        &format!("/v1/services/{SERVICE}:delete"),
        body.clone(),
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(unknown_verb.status(), 404);

    let garbage = post_raw(
        &base,
        &Method::Check.path(SERVICE),
        vec![0xff, 0xff, 0xff],
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(garbage.status(), 400);

    let json = post_raw(
        &base,
        &Method::Check.path(SERVICE),
        b"{}".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(json.status(), 415);

    let mismatch = CheckRequest {
        service_name: "else.example.com".into(),
        ..check_request("")
    };
    let mismatch = post_raw(
        &base,
        &Method::Check.path(SERVICE),
        mismatch.encode_to_vec(),
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(mismatch.status(), 400);

    // The ':' percent-encoded, as some HTTP clients send it.
    let encoded = post_raw(
        &base,
        &format!("/v1/services/{SERVICE}%3Acheck"),
        body,
        CONTENT_TYPE,
    )
    .await;
    assert_eq!(encoded.status(), 200);
}

#[tokio::test]
async fn producer_project_and_unknown_projects_in_check() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let producer: CheckResponse = call(
        &base,
        Method::Check,
        SERVICE,
        &check_request("project:producer-project"),
    )
    .await;
    assert!(producer.check_errors.is_empty());
    let stranger: CheckResponse = call(
        &base,
        Method::Check,
        SERVICE,
        &check_request("project:stranger"),
    )
    .await;
    assert_eq!(stranger.check_errors[0].code(), Code::ProjectInvalid);
}

fn reported(name: &str, consumer_id: &str, code: &str, requests: Option<i64>) -> Operation {
    let mut operation = Operation {
        operation_id: format!("{name}-{code}"),
        operation_name: name.into(),
        consumer_id: consumer_id.into(),
        ..Default::default()
    };
    operation
        .labels
        .insert("/response_code".into(), code.into());
    if let Some(requests) = requests {
        operation.metric_value_sets.push(MetricValueSet::int64(
            "serviceruntime.googleapis.com/api/producer/request_count",
            requests,
        ));
    }
    operation
}

#[tokio::test]
async fn reports_are_counted_per_operation_consumer_and_code() {
    let (_dir, server) = started().await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    let request = ReportRequest {
        service_name: SERVICE.into(),
        operations: vec![
            reported(READ_OP, &format!("api_key:{key}"), "200", Some(4)),
            reported(READ_OP, &format!("api_key:{key}"), "429", None),
            reported(READ_OP, "api_key:wasp-never-issued", "200", None),
            reported("<Unknown Operation Name>", "", "404", None),
        ],
        service_config_id: "cfg-9".into(),
    };
    let response: ReportResponse = call(&base, Method::Report, SERVICE, &request).await;
    assert!(response.report_errors.is_empty());
    assert_eq!(response.service_config_id, "cfg-9");

    let summary: serde_json::Value = reqwest::Client::new()
        .get(server.url("/admin/reports"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["operations"], 4);
    assert_eq!(summary["requests"], 7);
    let count = |operation: &str, consumer: &str, code: &str| {
        summary["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["operation"] == operation
                    && c["consumer"] == consumer
                    && c["response_code"] == code
            })
            .map(|c| c["requests"].as_u64().unwrap())
    };
    assert_eq!(count(READ_OP, "project:acme", "200"), Some(4));
    assert_eq!(count(READ_OP, "project:acme", "429"), Some(1));
    assert_eq!(count(READ_OP, "api_key:unrecognized", "200"), Some(1));
    assert_eq!(count("<Unknown Operation Name>", "", "404"), Some(1));
    assert!(
        !summary.to_string().contains(&key),
        "reports must not expose API keys"
    );
}

/// `GET path` on the admin API, with its token.
async fn admin_get(server: &Server, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

/// `GET /admin/reports/minutes` (every row kept).
async fn report_minutes(server: &Server) -> serde_json::Value {
    admin_get(server, "/admin/reports/minutes")
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn per_minute_reports_survive_a_restart_and_are_read_by_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let db = dir.path().join("keys.db");
    let server = Server::start(options(&db, &config)).await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    let minute = 1_800_000_000; // a minute's start
    let at = |seconds: i64| Some(wasp_servicecontrol::Timestamp { seconds, nanos: 0 });
    let mut ok = reported(READ_OP, &format!("api_key:{key}"), "200", Some(4));
    ok.start_time = at(minute + 5);
    let mut denied = reported(READ_OP, &format!("api_key:{key}"), "429", Some(2));
    denied.start_time = at(minute + 7);
    let mut next_minute = reported(READ_OP, &format!("api_key:{key}"), "200", Some(1));
    next_minute.start_time = at(minute + 65);
    let request = ReportRequest {
        service_name: SERVICE.into(),
        operations: vec![ok, denied, next_minute],
        service_config_id: "cfg-9".into(),
    };
    let _: ReportResponse = call(&base, Method::Report, SERVICE, &request).await;
    let before = report_minutes(&server).await;
    drop(server);

    let server = Server::start(options(&db, &config)).await;
    let after = report_minutes(&server).await;
    assert_eq!(
        before["rows"], after["rows"],
        "the rows outlive the process"
    );
    let rows = after["rows"].as_array().unwrap();
    let row = |code: &str, at: i64| {
        rows.iter()
            .find(|r| r["response_code"] == code && r["minute"] == at)
            .unwrap_or_else(|| panic!("no {code} row at {at}: {after}"))
    };
    assert_eq!(rows.len(), 3, "{after}");
    let first = row("200", minute);
    assert_eq!(
        (first["requests"].as_i64(), first["errors"].as_i64()),
        (Some(4), Some(0))
    );
    assert_eq!(first["consumer"], "project:acme");
    assert_eq!(first["operation"], READ_OP);
    let limited = row("429", minute);
    assert_eq!(
        (limited["requests"].as_i64(), limited["errors"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(row("200", minute + 60)["requests"].as_i64(), Some(1));
    assert!(!after.to_string().contains(&key), "no API key in the rows");

    // A time range: only the second minute.
    let ranged: serde_json::Value = admin_get(
        &server,
        &format!(
            "/admin/reports/minutes?from={}&to={}",
            minute + 60,
            minute + 120
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(ranged["rows"].as_array().map(Vec::len), Some(1), "{ranged}");
    let bad = admin_get(&server, "/admin/reports/minutes?from=yesterday").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_revocation_reaches_a_caching_replica_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let db = dir.path().join("keys.db");
    // Two replicas on one key database: one reuses lookups for 1 s, one asks every time.
    let cached = Server::start(ServeOptions {
        key_cache_seconds: 1,
        ..options(&db, &config)
    })
    .await;
    let direct = Server::start(options(&db, &config)).await;
    let (key, id) = create_key_via_admin(&cached.url(""), "acme", None).await;
    let valid = |response: CheckResponse| response.check_errors.is_empty();
    assert!(valid(check(&cached.url(""), &key).await));
    assert!(
        valid(check(&direct.url(""), &key).await),
        "made on one, known on the other"
    );

    let revoked = reqwest::Client::new()
        .delete(direct.url(&format!("/admin/keys/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{revoked:?}");
    let revoked_at = std::time::Instant::now();
    assert!(
        !valid(check(&direct.url(""), &key).await),
        "at once without a cache"
    );
    assert!(
        valid(check(&cached.url(""), &key).await),
        "the cached answer, within 1 s"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let answer = check(&cached.url(""), &key).await;
    assert!(!valid(answer), "revoked within the bound");
    assert!(revoked_at.elapsed() < std::time::Duration::from_secs(3));
}
