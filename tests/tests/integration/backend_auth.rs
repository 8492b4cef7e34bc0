//! Backend auth through real Envoy: the filter fetches ID tokens from a real
//! metadata-protocol server (RS256, minted per audience) and the echo backend
//! verifies what it received, so each test asserts "the backend got a valid
//! token for audience X" and how the client's credentials were moved.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use wasp_tests::expect::local_reply;
use wasp_tests::{
    Client, CompileInput, EchoBackend, Echoed, Gateway, IamCall, IamServer, MetadataServer,
};

use crate::backend::{api, get_op};

const CUSTOM_AUDIENCE: &str = "https://custom.audience.example";
const XFA: &str = "x-forwarded-authorization";

/// Operations: `/default` (audience = its address), `/custom` (explicit
/// `jwt_audience`), `/noauth` (`disable_auth`) and `/local` (no x-google-backend).
fn spec(backend_url: &str) -> String {
    let paths = [
        get_op(
            "/default",
            "defaultAudience",
            Some(&format!("{{address: '{backend_url}/default'}}")),
        ),
        get_op(
            "/custom",
            "customAudience",
            Some(&format!(
                "{{address: '{backend_url}/custom', jwt_audience: '{CUSTOM_AUDIENCE}'}}"
            )),
        ),
        get_op(
            "/noauth",
            "noAuth",
            Some(&format!(
                "{{address: '{backend_url}/noauth', disable_auth: true}}"
            )),
        ),
        get_op("/local", "local", None),
    ]
    .concat();
    api("", &paths)
}

/// A gateway whose backends are `backend` and whose tokens come from `metadata_url`.
fn gateway(backend: &EchoBackend, metadata_url: &str) -> Gateway {
    let input = CompileInput::new(&spec(&backend.url())).args(["--metadata-url", metadata_url]);
    Gateway::start_compiled(&input, &backend.url(), None)
}

fn seen(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Echoed {
    let reply = gw.send("GET", path, headers);
    assert_eq!(reply.status, 200, "GET {path}: {reply:?}");
    reply.echoed()
}

#[test]
fn the_backend_gets_a_valid_token_for_the_operations_audience() {
    let metadata = MetadataServer::start();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &metadata.url());

    let got = seen(&gw, "/custom", &[]);
    assert_eq!(got.id_token_audience(), Some(CUSTOM_AUDIENCE), "{got:?}");
    assert_eq!(
        got.header(XFA),
        None,
        "no client Authorization, nothing to forward"
    );

    let default_audience = format!("{}/default", backend.url());
    let got = seen(&gw, "/default", &[]);
    assert_eq!(
        got.id_token_audience(),
        Some(&*default_audience),
        "without jwt_audience the audience is the address: {got:?}"
    );
    assert!(metadata.refused().is_empty(), "{:?}", metadata.refused());
}

#[test]
fn the_clients_authorization_moves_to_x_forwarded_authorization() {
    let metadata = MetadataServer::start();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &metadata.url());

    let got = seen(
        &gw,
        "/custom",
        &[("authorization", "Bearer client.jwt.value")],
    );
    assert_eq!(got.id_token_audience(), Some(CUSTOM_AUDIENCE), "{got:?}");
    assert_eq!(got.header(XFA), Some("Bearer client.jwt.value"));

    // A client-sent X-Forwarded-Authorization never reaches the backend as sent,
    // with or without an Authorization of its own.
    let got = seen(&gw, "/custom", &[(XFA, "Bearer forged")]);
    assert_eq!(got.header(XFA), None, "{got:?}");
    let got = seen(
        &gw,
        "/custom",
        &[
            (XFA, "Bearer forged"),
            ("authorization", "Basic dXNlcjpwdw=="),
        ],
    );
    assert_eq!(got.header(XFA), Some("Basic dXNlcjpwdw=="), "{got:?}");
    assert_eq!(got.id_token_audience(), Some(CUSTOM_AUDIENCE));
}

#[test]
fn disable_auth_and_no_backend_rule_leave_authorization_alone() {
    let metadata = MetadataServer::start();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &metadata.url());
    for path in ["/noauth", "/local"] {
        let got = seen(&gw, path, &[("authorization", "Basic dXNlcjpwdw==")]);
        assert_eq!(
            got.header("authorization"),
            Some("Basic dXNlcjpwdw=="),
            "{path}: {got:?}"
        );
        assert_eq!(got.header(XFA), None, "{path}: {got:?}");
        assert_eq!(got.id_token, None, "{path}");
    }
    assert_eq!(metadata.calls(&format!("{}/noauth", backend.url())), 0);
}

#[test]
fn tokens_are_cached_one_metadata_call_per_audience() {
    let metadata = MetadataServer::start();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &metadata.url());
    let default_audience = format!("{}/default", backend.url());
    for _ in 0..15 {
        assert_eq!(
            seen(&gw, "/custom", &[]).id_token_audience(),
            Some(CUSTOM_AUDIENCE)
        );
        assert_eq!(
            seen(&gw, "/default", &[]).id_token_audience(),
            Some(&*default_audience)
        );
    }
    let minted = metadata.minted();
    assert_eq!(minted.get(CUSTOM_AUDIENCE), Some(&1), "{minted:?}");
    assert_eq!(minted.get(&default_audience), Some(&1), "{minted:?}");
    assert_eq!(minted.len(), 2, "only the configured audiences: {minted:?}");
}

/// A loopback port nobody listens on (bound, noted, closed).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free port")
        .port()
}

#[test]
fn no_metadata_server_means_500_token_not_found() {
    let port = free_port();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &format!("http://127.0.0.1:{port}"));
    for _ in 0..2 {
        local_reply(
            &gw.get("/custom"),
            500,
            &format!("Token not found for audience: {CUSTOM_AUDIENCE}"),
        );
    }
    // Operations without backend auth are unaffected.
    assert_eq!(gw.get("/noauth").status, 200);
}

#[test]
fn workers_share_one_token_per_audience() {
    let metadata = MetadataServer::start();
    let backend = EchoBackend::start();
    let input = CompileInput::new(&spec(&backend.url())).args(["--metadata-url", &metadata.url()]);
    let gw = Gateway::start_compiled_workers(&input, &backend.url(), None, 2);
    // A new connection per request, so the kernel spreads them over both workers.
    for _ in 0..12 {
        let reply = Client::new()
            .send("GET", &gw.url("/custom"), &[])
            .expect("request through Envoy");
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.echoed().id_token_audience(), Some(CUSTOM_AUDIENCE));
    }
    gw.assert_both_workers_served();
    assert_eq!(
        metadata.calls(CUSTOM_AUDIENCE),
        1,
        "{:?}",
        metadata.minted()
    );
}

#[test]
fn a_metadata_server_that_comes_up_late_is_retried() {
    let port = free_port();
    let backend = EchoBackend::start();
    let gw = gateway(&backend, &format!("http://127.0.0.1:{port}"));
    local_reply(
        &gw.get("/custom"),
        500,
        &format!("Token not found for audience: {CUSTOM_AUDIENCE}"),
    );
    let metadata = MetadataServer::start_on(&format!("127.0.0.1:{port}"));
    // Failed fetches are retried every 2 s (ESPv2); allow a few rounds on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = gw.get("/custom");
        if reply.status == 200 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        reply.status, 200,
        "still no token 10 s after the server came up: {reply:?}"
    );
    assert_eq!(reply.echoed().id_token_audience(), Some(CUSTOM_AUDIENCE));
    assert_eq!(metadata.calls(CUSTOM_AUDIENCE), 1);
}

const IAM_ACCOUNT: &str = "gateway@backend-project.iam.gserviceaccount.com";
const IAM_DELEGATE: &str = "hop@middle-project.iam.gserviceaccount.com";

/// A gateway whose ID tokens IAM mints for `account`, authorised by `metadata`'s access token.
fn iam_gateway(
    backend: &EchoBackend,
    metadata: &MetadataServer,
    iam: &IamServer,
    account: &str,
) -> Gateway {
    let input = CompileInput::new(&spec(&backend.url())).args([
        "--metadata-url",
        &metadata.url(),
        "--iam-url",
        &iam.url(),
        "--backend-auth-iam-service-account",
        account,
        "--backend-auth-iam-delegates",
        IAM_DELEGATE,
    ]);
    Gateway::start_compiled(&input, &backend.url(), None)
}

#[test]
fn iam_mints_the_id_tokens_for_the_named_account_with_its_delegates() {
    let metadata = MetadataServer::start();
    let iam = IamServer::start(&[IAM_ACCOUNT]);
    let backend = EchoBackend::start();
    let gw = iam_gateway(&backend, &metadata, &iam, IAM_ACCOUNT);

    for _ in 0..3 {
        let got = seen(&gw, "/custom", &[("authorization", "Bearer client.jwt")]);
        assert_eq!(got.id_token_audience(), Some(CUSTOM_AUDIENCE), "{got:?}");
        assert_eq!(got.header(XFA), Some("Bearer client.jwt"));
    }
    let default_audience = format!("{}/default", backend.url());
    let got = seen(&gw, "/default", &[]);
    assert_eq!(got.id_token_audience(), Some(&*default_audience));

    let mut calls = iam.calls();
    calls.sort_by(|a, b| a.audience.cmp(&b.audience));
    let expected = |audience: &str| IamCall {
        account: IAM_ACCOUNT.into(),
        audience: audience.into(),
        include_email: true,
        delegates: vec![format!("projects/-/serviceAccounts/{IAM_DELEGATE}")],
        status: 200,
    };
    let mut want = vec![expected(&default_audience), expected(CUSTOM_AUDIENCE)];
    want.sort_by(|a, b| a.audience.cmp(&b.audience));
    assert_eq!(calls, want, "one cached IAM call per audience");
    assert!(
        metadata.minted().is_empty(),
        "the metadata server's own identity is not used: {:?}",
        metadata.minted()
    );
    assert!(metadata.access_token_calls() >= 1);
}

#[test]
fn an_account_iam_refuses_means_500_token_not_found() {
    let metadata = MetadataServer::start();
    let iam = IamServer::start(&[IAM_ACCOUNT]);
    let backend = EchoBackend::start();
    let gw = iam_gateway(
        &backend,
        &metadata,
        &iam,
        "stranger@other-project.iam.gserviceaccount.com",
    );
    local_reply(
        &gw.get("/custom"),
        500,
        &format!("Token not found for audience: {CUSTOM_AUDIENCE}"),
    );
    assert!(
        iam.calls().iter().all(|c| c.status == 403),
        "{:?}",
        iam.calls()
    );
    assert!(!iam.calls().is_empty());
    assert_eq!(gw.get("/noauth").status, 200);
}
