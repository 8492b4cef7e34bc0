//! `wasp compile --target envoy-gateway`, run through an Envoy laid out as Envoy Gateway
//! lays out a Gateway's proxy (`wasp_tests::eg_shape`): the wasm filter disabled in the
//! listener and enabled on the HTTPRoute's rules, route clusters named by rule and
//! pointing at the rules' Backends and Services, the callout clusters added as the
//! EnvoyPatchPolicy adds them. The same requests as under Istio must behave the same.

use std::collections::BTreeMap;
use std::process::Command;

use wasp_tests::control::free_port;
use wasp_tests::eg_shape::bootstrap;
use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::{
    Client, ControlOptions, ControlService, EchoBackend, Envoy, Idp, SigningKey, Tools,
};

use crate::deploy_istio::{spec, validate_crds, CONTROL_SERVICE, ECHO_SERVICE};
use crate::keys_support::{CONSUMER_NUMBER, MISSING_KEY, PRODUCER};

#[test]
fn jwt_keys_and_backends_work_in_an_envoy_gateway_shaped_proxy() {
    let tools = Tools::from_env();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (echo, items) = (EchoBackend::start(), EchoBackend::start());
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let control_port = free_port();
    let spec_path = dir.path().join("openapi.yaml");
    std::fs::write(
        &spec_path,
        spec(idp.addr().port(), items.addr().port(), &idp.issuer()),
    )
    .expect("write the spec");
    let output = Command::new(&tools.wasp)
        .arg("compile")
        .arg(&spec_path)
        .args(["--target", "envoy-gateway", "--namespace", "apps"])
        .args([
            "--backend",
            &format!("http://{ECHO_SERVICE}:{}", echo.addr().port()),
        ])
        .args([
            "--service-control-url",
            &format!("http://{CONTROL_SERVICE}:{control_port}"),
        ])
        .args(["--producer-project-id", PRODUCER])
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run wasp compile");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: envoy-gateway: Envoy Gateway sets only fail_open=false"),
        "the missing FAIL_RELOAD is said: {stderr}"
    );
    assert!(stderr.contains(&format!(
        "requests to items.test:{} carry Host without the port",
        items.addr().port()
    )));
    let manifest = dir.path().join("envoy-gateway.yaml");
    let schemas = validate_crds(&manifest);
    let checked = String::from_utf8_lossy(&schemas.stdout).into_owned();
    assert!(schemas.status.success(), "{checked}");
    for object in [
        "ok HTTPRoute/",
        "ok EnvoyExtensionPolicy/",
        "ok EnvoyPatchPolicy/",
        "ok Backend/",
        "ok HTTPRouteFilter/",
        "ok Gateway/",
    ] {
        assert!(checked.contains(object), "{object} not checked:\n{checked}");
    }
    let eg_yaml = std::fs::read_to_string(&manifest).expect("envoy-gateway.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, eg_yaml.replace("type: Image", "type: Imagery")).expect("write");
    assert!(
        !validate_crds(&bad).status.success(),
        "a bad code type passed the schema"
    );

    let control = ControlService::start(
        &dir.path().join("control.json"),
        control_port,
        ControlOptions::default(),
    );
    let consumer = control.create_key("acme", 7);
    let addresses: BTreeMap<String, String> =
        ["idp.test", "items.test", ECHO_SERVICE, CONTROL_SERVICE]
            .iter()
            .map(|h| (h.to_string(), "127.0.0.1".to_string()))
            .collect();
    let layout = bootstrap(&eg_yaml, &tools.wasm, &addresses);
    let bootstrap_path = dir.path().join("eg-proxy.json");
    std::fs::write(&bootstrap_path, layout.to_string()).expect("write the bootstrap");
    let envoy = Envoy::start(&tools.envoy, &bootstrap_path, dir.path())
        .unwrap_or_else(|f| panic!("{}\n{}", f.reason, wasp_tests::envoy::tail(&f.log, 40)));
    let client = Client::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        client
            .send("GET", &format!("{}{path}", envoy.url()), headers)
            .expect("a request through the gateway")
    };

    let open = get("/open", &[("x-wasp-route", "spoofed")]);
    assert_eq!(open.status, 200, "{open:?}");
    let seen = open.echoed();
    assert_eq!(
        (seen.path.as_str(), seen.header("x-wasp-route")),
        ("/open", None)
    );
    assert_eq!(seen.authority.as_deref(), Some(ECHO_SERVICE));
    local_reply(&get("/nowhere", &[]), 404, NOT_DEFINED);

    local_reply(&get("/secure", &[]), 401, "Jwt is missing");
    let bearer = format!("Bearer {}", key.mint(&idp.claims("shop-clients")));
    assert_eq!(get("/secure", &[("authorization", &bearer)]).status, 200);

    local_reply(&get("/keyed", &[]), 401, MISSING_KEY);
    let keyed = get(&format!("/keyed?key={}", consumer.key), &[]);
    assert_eq!(
        keyed.echoed().header(CONSUMER_NUMBER),
        Some("7"),
        "{keyed:?}"
    );

    let item = get("/v1/items/42", &[]);
    assert_eq!(item.status, 200, "{item:?}");
    let seen = item.echoed();
    assert_eq!(seen.path, "/v2/v1/items/42");
    assert_eq!(seen.served_by, Some(items.addr().to_string()));
    assert_eq!(seen.authority.as_deref(), Some("items.test"));
}
