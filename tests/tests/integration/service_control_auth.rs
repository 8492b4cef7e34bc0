//! Calls to Service Control carry the metadata server's OAuth access token, as ESPv2 does on
//! GCP (`--service-control-access-token metadata`; automatic for `*.googleapis.com`). Here the
//! real `wasp-control` insists on that token (`--control-token`), so a key check only works
//! when the filter fetched it from the metadata server and sent it.

use wasp_tests::expect::local_reply;
use wasp_tests::metadata::ACCESS_TOKEN;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, MetadataServer};

use crate::keys_support::*;

fn spec() -> String {
    shop(KEY_REQUIRED, &operation("/items", "get", "listItems", &[]))
}

/// The spec behind a `wasp-control` that only accepts [`ACCESS_TOKEN`], the token coming
/// from the metadata server at `metadata_url`.
fn gateway(metadata_url: &str, extra: &[&str]) -> ControlledGateway {
    let mut args = vec![
        "--service-control-access-token",
        "metadata",
        "--metadata-url",
        metadata_url,
    ];
    args.extend_from_slice(extra);
    ControlledGateway::start_with(
        CompileInput::new(&spec()).args(args),
        ControlOptions {
            control_token: Some(ACCESS_TOKEN.to_string()),
            ..ControlOptions::default()
        },
    )
}

#[test]
fn key_checks_carry_the_metadata_servers_access_token() {
    let metadata = MetadataServer::start();
    let gw = gateway(&metadata.url(), &[]);
    let key = gw.control.create_key("acme", 77);
    for _ in 0..3 {
        assert_consumer(&get_with_key(&gw, "/items", &key.key), 77);
    }
    local_reply(&get_with_key(&gw, "/items", "AIzaBogus"), 400, INVALID_KEY);
    // Fetched ahead of the first call and kept: one fetch for all of them.
    assert_eq!(metadata.access_token_calls(), 1);
    assert!(metadata.refused().is_empty(), "{:?}", metadata.refused());
}

#[test]
fn without_the_access_token_checks_fail_by_the_policy() {
    // No metadata server (its port refuses): no token, so no call can be made.
    let url = MetadataServer::start().url();
    let gw = gateway(&url, &["--service-control-fail-policy", "closed"]);
    let key = gw.control.create_key("acme", 78);
    let reply = get_with_key(&gw, "/items", &key.key);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply.body.contains("UNAVAILABLE: "),
        "ESPv2's fail-closed reply: {reply:?}"
    );
}
