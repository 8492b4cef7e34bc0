//! API keys through the real binary: created by the CLI, checked over HTTP by a served
//! process, still valid after the server is killed and restarted, invalid once revoked.

mod common;

use common::*;
use wasp_servicecontrol::check_error::Code;
use wasp_servicecontrol::check_response::consumer_info::ConsumerType;

fn cli(args: &[&str], db: &std::path::Path) -> std::process::Output {
    wasp_control()
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run wasp-control")
}

#[tokio::test(flavor = "multi_thread")]
async fn key_survives_restart_and_revocation_applies_to_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let config = write_config(dir.path());

    let created = cli(
        &[
            "keys",
            "create",
            "--project",
            "shop-consumer",
            "--project-number",
            "4242",
            "--json",
        ],
        &db,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();

    let server = BinaryServer::start(&db, &config);
    let response = check(&server.base, &key).await;
    assert!(response.check_errors.is_empty(), "{response:?}");
    assert_eq!(response.operation_id, "op-1");
    let consumer = response.check_info.unwrap().consumer_info.unwrap();
    assert_eq!(
        (consumer.project_number, consumer.consumer_number),
        (4242, 4242)
    );
    assert_eq!(consumer.r#type(), ConsumerType::Project);
    server.stop(); // SIGKILL: no graceful shutdown to flush anything

    let server = BinaryServer::start(&db, &config);
    let response = check(&server.base, &key).await;
    assert!(
        response.check_errors.is_empty(),
        "key lost across restart: {response:?}"
    );

    // Revoked by the CLI while the server runs: the next check fails.
    let revoked = cli(&["keys", "revoke", &id], &db);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let response = check(&server.base, &key).await;
    assert_eq!(response.check_errors.len(), 1);
    assert_eq!(response.check_errors[0].code(), Code::ApiKeyInvalid);
    assert_eq!(
        response.check_errors[0].detail,
        "API key not valid. Please pass a valid API key."
    );
    assert!(response.check_info.is_none());

    let listed = cli(&["keys", "list", "--json"], &db);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0]["revoked_at"].is_i64());
    assert!(listed[0].get("key").is_none(), "list must not show secrets");
    assert!(!String::from_utf8_lossy(&std::fs::read(&db).unwrap()).contains(&key));
}

#[test]
fn cli_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let unknown = cli(&["keys", "revoke", "k-nope"], &db);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key has id \"k-nope\""));

    let bad_project = cli(&["keys", "create", "--project", "a:b"], &db);
    assert!(!bad_project.status.success());
    assert!(
        String::from_utf8_lossy(&bad_project.stderr).contains("project id \"a:b\" is not valid")
    );

    let text = cli(&["keys", "create", "--project", "p1"], &db);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("key: wasp") && text.contains("only its hash is kept"),
        "{text}"
    );
}

#[test]
fn serve_rejects_a_bad_config_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.json");
    std::fs::write(
        &config,
        r#"{"version": 9, "service_name": "s", "producer_project_id": "p"}"#,
    )
    .unwrap();
    let output = wasp_control()
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("k.db"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("version 9"),
        "{stderr}"
    );
}
