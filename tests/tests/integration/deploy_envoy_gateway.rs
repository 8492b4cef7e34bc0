//! `wasp compile --target envoy-gateway`, run through an Envoy laid out as Envoy Gateway
//! lays out a Gateway's proxy (`wasp_tests::eg_shape`): the wasm filter disabled in the
//! listener and enabled on the HTTPRoute's rules, route clusters named by rule and
//! pointing at the rules' Backends and Services, the callout clusters added as the
//! EnvoyPatchPolicy adds them. The same requests as under Istio must behave the same.

use std::process::Command;

use wasp_tests::control::free_port;
use wasp_tests::eg_shape::bootstrap;
use wasp_tests::{EchoBackend, Idp, SigningKey, Tools};

use crate::deploy_istio::{
    control_with_key, same_requests_behave_the_same, simulated_dns, spec, start_shaped,
    validate_crds, Upstreams, CONTROL_SERVICE, ECHO_SERVICE,
};
use crate::keys_support::PRODUCER;

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

    let (_control, consumer) = control_with_key(dir.path(), control_port);
    let addresses = simulated_dns();
    let layout = bootstrap(&eg_yaml, &tools.wasm, &addresses);
    let envoy = start_shaped(dir.path(), "eg-proxy.json", &layout);
    same_requests_behave_the_same(
        &envoy,
        &Upstreams {
            idp: &idp,
            key: &key,
            api_key: &consumer.key,
            items: &items,
            // An HTTPRoute rewrites Host to a name only (the compile warned above).
            open_authority: ECHO_SERVICE,
            items_authority: "items.test",
        },
    );
}
