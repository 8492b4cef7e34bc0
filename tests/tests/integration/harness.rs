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
