//! The harness itself, against a hand-written bootstrap without the filter:
//! Envoy starts on kernel-chosen ports, the listener is found, requests reach
//! the echo backend with the raw path and query, and Envoy dies with its guard.

use wasp_tests::envoy::Envoy;
use wasp_tests::{Client, EchoBackend, Tools};

#[test]
fn bare_envoy_forwards_to_the_echo_backend_and_dies_with_its_guard() {
    let tools = Tools::from_env();
    let echo = EchoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let template = include_str!("../../bootstraps/bare.yaml");
    let config = dir.path().join("envoy.yaml");
    std::fs::write(
        &config,
        template.replace("ECHO_PORT", &echo.addr().port().to_string()),
    )
    .unwrap();

    let envoy = Envoy::start(&tools.envoy, &config, dir.path())
        .unwrap_or_else(|f| panic!("{}\n{}", f.reason, f.log));
    let url = envoy.url();
    let reply = Client::new()
        .send(
            "GET",
            &format!("{url}/a/b%2Fc?x=1&y=%20"),
            &[("x-test", "yes")],
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/a/b%2Fc");
    assert_eq!(seen.query, "x=1&y=%20");
    assert_eq!(seen.header("x-test"), Some("yes"));

    // The client sends paths as written (no normalisation of its own), so the
    // normalisation tests through the gateway observe Envoy's, not the client's.
    let reply = Client::new()
        .send("GET", &format!("{url}/a/./b/../c%6F//d"), &[])
        .unwrap();
    assert_eq!(reply.echoed().path, "/a/./b/../c%6F//d");

    drop(envoy);
    assert!(
        Client::new().send("GET", &format!("{url}/a"), &[]).is_err(),
        "Envoy still answers after its guard was dropped"
    );
}

#[test]
fn the_metadata_server_mints_tokens_the_echo_backend_verifies() {
    let metadata = wasp_tests::MetadataServer::start();
    let identity = "/computeMetadata/v1/instance/service-accounts/default/identity";
    let url = format!(
        "{}{identity}?audience=https%3A%2F%2Fb.example%2Fx&format=standard",
        metadata.url()
    );
    let client = Client::new();
    let refused = client.send("GET", &url, &[]).unwrap();
    assert_eq!(refused.status, 403, "no Metadata-Flavor: {refused:?}");
    let token = client
        .send("GET", &url, &[("metadata-flavor", "Google")])
        .unwrap();
    assert_eq!(token.status, 200, "{token:?}");
    assert_eq!(metadata.calls("https://b.example/x"), 1);

    let echo = EchoBackend::start();
    let bearer = format!("Bearer {}", token.body);
    let seen = client
        .send(
            "GET",
            &format!("{}/", echo.url()),
            &[("authorization", &bearer)],
        )
        .unwrap()
        .echoed();
    assert_eq!(seen.id_token_audience(), Some("https://b.example/x"));
    let forged = format!("{}x", bearer);
    let seen = client
        .send(
            "GET",
            &format!("{}/", echo.url()),
            &[("authorization", &forged)],
        )
        .unwrap()
        .echoed();
    assert_eq!(seen.id_token_audience(), None, "{seen:?}");
}

#[test]
fn the_hyper_echo_backend_reports_version_and_authority() {
    let echo = wasp_tests::HyperEcho::plain();
    let reply = Client::new()
        .send("GET", &format!("{}/p?q=1", echo.url()), &[])
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!((seen.path.as_str(), seen.query.as_str()), ("/p", "q=1"));
    assert_eq!(seen.version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(seen.authority, Some(echo.addr().to_string()));
    assert_eq!(seen.served_by, Some(echo.addr().to_string()));
}

#[test]
fn the_tls_echo_backend_reports_sni_and_http2_through_a_hand_written_envoy() {
    let tools = Tools::from_env();
    let ca = wasp_tests::TestCa::new();
    let echo = wasp_tests::HyperEcho::tls(&ca);
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write_ca(dir.path());
    let config = dir.path().join("envoy.yaml");
    let template = include_str!("../../bootstraps/bare_tls_h2.yaml");
    std::fs::write(
        &config,
        template
            .replace("ECHO_PORT", &echo.port().to_string())
            .replace("CA_PEM_PATH", &ca_path.display().to_string()),
    )
    .unwrap();
    let envoy = Envoy::start(&tools.envoy, &config, dir.path())
        .unwrap_or_else(|f| panic!("{}\n{}", f.reason, f.log));
    let reply = Client::new()
        .send("GET", &format!("{}/x?y=1", envoy.url()), &[])
        .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.version.as_deref(), Some("HTTP/2.0"));
    assert_eq!((seen.path.as_str(), seen.query.as_str()), ("/x", "y=1"));
}
