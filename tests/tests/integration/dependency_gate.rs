//! `--dependency-error-behavior`: ESPv2 by default opens no listener until its JWT keys and
//! tokens are in (BLOCK_INIT_ON_ANY_ERROR). wasp's default serves at once (a request waits
//! for what it needs, and open operations never wait); `block-init-on-any-error` answers
//! every request 503, the `--healthz` probe too, until each dependency answered once.

use std::time::{Duration, Instant};

use wasp_tests::control::free_port;
use wasp_tests::expect::local_reply;
use wasp_tests::idp::JWKS_PATH;
use wasp_tests::{CompileInput, EchoBackend, Gateway, Idp, SigningKey};

use crate::jwt_support::{op, provider};
use crate::keys_support::shop;

/// A spec whose provider's keys live at `issuer` (the IdP comes up later on that port).
fn spec(idp: &Idp) -> String {
    let top = format!(
        "securityDefinitions:\n{}",
        provider("idp", idp, Some(JWKS_PATH), &[])
    );
    shop(
        &top,
        &[
            op("/secure", "secure", Some("[{idp: []}]")),
            op("/open", "open", Some("[]")),
        ]
        .concat(),
    )
}

fn gateway(spec: &str, args: &[&str]) -> Gateway {
    let echo = EchoBackend::start();
    let url = echo.url();
    Gateway::start_compiled(&CompileInput::new(spec).args(args), &url, Some(echo))
}

#[test]
fn blocking_holds_every_request_and_the_probe_until_the_keys_arrive() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let key = SigningKey::rs256("rsa-1", 0);
    // Started only to write the spec (its issuer and JWKS URL), then stopped.
    let spec = spec(&Idp::start_on(&bind, vec![key.clone()]));

    // The default: an open operation is served while the keys cannot be fetched.
    let gw = gateway(&spec, &["--healthz", "/healthz"]);
    assert_eq!(gw.get("/open").status, 200);
    assert_eq!(gw.get("/healthz").status, 200);
    drop(gw);

    let gw = gateway(
        &spec,
        &[
            "--healthz",
            "/healthz",
            "--dependency-error-behavior",
            "block-init-on-any-error",
        ],
    );
    let message =
        "UNAVAILABLE: The API gateway is starting: waiting for the JWT keys of provider idp.";
    for path in ["/open", "/healthz", "/secure", "/nowhere"] {
        let reply = gw.get(path);
        local_reply(&reply, 503, message);
        assert_eq!(reply.header("retry-after"), Some("1"), "{path}: {reply:?}");
    }
    assert_eq!(
        gw.echo.as_ref().unwrap().requests(),
        0,
        "nothing reached the backend"
    );

    let _idp = Idp::start_on(&bind, vec![key]);
    // Failed key fetches are retried with backoff; allow a few rounds on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(20);
    while gw.get("/healthz").status != 200 {
        assert!(
            Instant::now() < deadline,
            "still held 20 s after the IdP came up"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(gw.get("/open").status, 200);
    assert_eq!(gw.get("/secure").status, 401, "decided as usual once ready");
    assert_eq!(gw.get("/nowhere").status, 404);
    gw.assert_filter_alive();
}

#[test]
fn espv2s_spelling_of_the_value_is_accepted() {
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key]);
    let gw = gateway(
        &spec(&idp),
        &["--dependency-error-behavior", "BLOCK_INIT_ON_ANY_ERROR"],
    );
    // The IdP is up: the gate opens as soon as the first fetch lands.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gw.get("/open");
        if reply.status == 200 {
            break;
        }
        local_reply(
            &reply,
            503,
            "UNAVAILABLE: The API gateway is starting: waiting for the JWT keys of provider idp.",
        );
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}
