//! `wasp compile --target istio`, run through an Envoy laid out as Istio lays out an
//! ingress gateway (`wasp_tests::istio_shape`): the WasmPlugin's pluginConfig with every
//! number a double, clusters named `outbound|PORT||HOST` only where a ServiceEntry or a
//! Kubernetes Service makes them, routes built from the VirtualService. JWT, API keys
//! through the real wasp-control, and an x-google-backend with path translation must
//! work there exactly as in wasp's own bootstrap.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use wasp_tests::control::free_port;
use wasp_tests::expect::{local_reply, NOT_DEFINED};
use wasp_tests::istio_shape::bootstrap;
use wasp_tests::manifests::{documents, one};
use wasp_tests::{
    ApiKey, Client, ControlOptions, ControlService, EchoBackend, Envoy, Idp, SigningKey, Tools,
};

use crate::keys_support::{CONSUMER_NUMBER, MISSING_KEY, PRODUCER, SERVICE};

pub const ECHO_SERVICE: &str = "echo.apps.svc.cluster.local";
pub const CONTROL_SERVICE: &str = "wasp-control.apps.svc.cluster.local";

pub fn spec(idp_port: u16, items_port: u16, issuer: &str) -> String {
    format!(
        r#"swagger: "2.0"
info: {{title: shop, version: "1.0"}}
host: {SERVICE}
schemes: [http]
securityDefinitions:
  api_key: {{type: apiKey, in: query, name: key}}
  idp:
    type: oauth2
    authorizationUrl: ""
    flow: implicit
    x-google-issuer: {issuer}
    x-google-jwks_uri: http://idp.test:{idp_port}/jwks
    x-google-audiences: shop-clients
paths:
  /open:
    get: {{operationId: open, security: [], responses: {{"200": {{description: ok}}}}}}
  /secure:
    get: {{operationId: secure, security: [{{idp: []}}], responses: {{"200": {{description: ok}}}}}}
  /keyed:
    get: {{operationId: keyed, security: [{{api_key: []}}], responses: {{"200": {{description: ok}}}}}}
  /v1/items/{{id}}:
    get:
      operationId: getItem
      security: []
      parameters: [{{name: id, in: path, required: true, type: string}}]
      x-google-backend: {{address: "http://items.test:{items_port}/v2", path_translation: APPEND_PATH_TO_ADDRESS, deadline: 5, disable_auth: true}}
      responses: {{"200": {{description: ok}}}}
"#
    )
}

fn compile_istio(dir: &std::path::Path, spec_text: &str, extra: &[&str]) -> std::process::Output {
    let spec = dir.join("openapi.yaml");
    std::fs::write(&spec, spec_text).expect("write the spec");
    Command::new(Tools::from_env().wasp)
        .arg("compile")
        .arg(&spec)
        .args(["--target", "istio", "--namespace", "apps", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run wasp compile")
}

/// The CRD schemas (tests/validators, installed by scripts/ensure-toolchain.sh).
pub fn validate_crds(file: &std::path::Path) -> std::process::Output {
    let validators = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("validators");
    Command::new("node")
        .arg(validators.join("validate-crds.mjs"))
        .arg(file)
        .output()
        .expect("run node tests/validators/validate-crds.mjs")
}

#[test]
fn jwt_keys_and_backends_work_in_an_istio_shaped_gateway() {
    let tools = Tools::from_env();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (echo, items) = (EchoBackend::start(), EchoBackend::start());
    let key = SigningKey::rs256("rsa-1", 0);
    let idp = Idp::start(vec![key.clone()]);
    let control_port = free_port();
    let output = compile_istio(
        dir.path(),
        &spec(idp.addr().port(), items.addr().port(), &idp.issuer()),
        &[
            "--backend",
            &format!("http://{ECHO_SERVICE}:{}", echo.addr().port()),
            "--service-control-url",
            &format!("http://{CONTROL_SERVICE}:{control_port}"),
            "--producer-project-id",
            PRODUCER,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !dir.path().join("envoy.yaml").exists(),
        "Istio writes the listener, not wasp"
    );
    let istio_yaml = std::fs::read_to_string(dir.path().join("istio.yaml")).expect("istio.yaml");
    let schemas = validate_crds(&dir.path().join("istio.yaml"));
    assert!(
        schemas.status.success(),
        "{}",
        String::from_utf8_lossy(&schemas.stdout)
    );
    let checked = String::from_utf8_lossy(&schemas.stdout).into_owned();
    for object in [
        "ok WasmPlugin/",
        "ok Gateway/",
        "ok VirtualService/",
        "ok ServiceEntry/",
    ] {
        assert!(checked.contains(object), "{object} not checked:\n{checked}");
    }
    let bad = dir.path().join("bad-istio.yaml");
    std::fs::write(&bad, istio_yaml.replace("phase: AUTHN", "phase: AUTHX")).expect("write");
    let refused = validate_crds(&bad);
    assert!(!refused.status.success(), "a bad phase passed the schema");
    assert!(String::from_utf8_lossy(&refused.stdout).contains(
        "FAIL WasmPlugin/shop-wasp: data/spec/phase must be equal to one of the allowed values"
    ));

    // Every cluster the filter names is one Istio makes.
    let docs = documents(&istio_yaml);
    let config = &one(&docs, "WasmPlugin")["spec"]["pluginConfig"];
    let text = config.to_string();
    let names: Vec<&str> = text
        .split("\"cluster\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("outbound|")),
        "{names:?}"
    );
    assert_eq!(
        one(&docs, "WasmPlugin")["spec"]["failStrategy"],
        "FAIL_RELOAD"
    );

    let (_control, consumer) = control_with_key(dir.path(), control_port);
    let addresses = simulated_dns();
    let layout = bootstrap(
        &istio_yaml,
        &tools.wasm,
        &addresses,
        &[
            (ECHO_SERVICE, echo.addr().port()),
            (CONTROL_SERVICE, control_port),
        ],
    );
    let envoy = start_shaped(dir.path(), "istio-gateway.json", &layout);
    same_requests_behave_the_same(
        &envoy,
        &Upstreams {
            idp: &idp,
            key: &key,
            api_key: &consumer.key,
            items: &items,
            open_authority: &format!("{ECHO_SERVICE}:{}", echo.addr().port()),
            items_authority: &format!("items.test:{}", items.addr().port()),
        },
    );
}

/// The real wasp-control on `port` with the compiled control.json, and a key for
/// project number 7.
pub fn control_with_key(dir: &Path, port: u16) -> (ControlService, ApiKey) {
    let control = ControlService::start(&dir.join("control.json"), port, ControlOptions::default());
    let key = control.create_key("acme", 7);
    (control, key)
}

/// The simulated cluster DNS: every host the spec and options here name, on loopback.
pub fn simulated_dns() -> BTreeMap<String, String> {
    ["idp.test", "items.test", ECHO_SERVICE, CONTROL_SERVICE]
        .iter()
        .map(|h| (h.to_string(), "127.0.0.1".to_string()))
        .collect()
}

/// Real Envoy on a control-plane-shaped bootstrap, written into `dir` as `file`.
pub fn start_shaped(dir: &Path, file: &str, layout: &serde_json::Value) -> Envoy {
    let path = dir.join(file);
    std::fs::write(&path, layout.to_string()).expect("write the bootstrap");
    Envoy::start(&Tools::from_env().envoy, &path, dir)
        .unwrap_or_else(|f| panic!("{}\n{}", f.reason, wasp_tests::envoy::tail(&f.log, 40)))
}

/// What the control-plane-shaped gateways are checked against, and the Host each backend
/// must see (Envoy Gateway's HTTPRoute cannot keep a port in it).
pub struct Upstreams<'a> {
    pub idp: &'a Idp,
    pub key: &'a SigningKey,
    pub api_key: &'a str,
    pub items: &'a EchoBackend,
    pub open_authority: &'a str,
    pub items_authority: &'a str,
}

/// The requests every target must answer as wasp's own bootstrap does: an open operation
/// (a spoofed route header never reaches the backend), the 404, a JWT missing and valid,
/// an API key missing and valid (through wasp-control), and an x-google-backend with
/// APPEND_PATH_TO_ADDRESS.
pub fn same_requests_behave_the_same(envoy: &Envoy, up: &Upstreams) {
    let client = Client::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        client
            .send("GET", &format!("{}{path}", envoy.url()), headers)
            .expect("a request through the gateway")
    };
    let open = get("/open", &[("x-wasp-route", "spoofed")]);
    assert_eq!(open.status, 200, "{open:?}");
    let seen = open.echoed();
    assert_eq!(seen.path, "/open");
    assert_eq!(
        seen.header("x-wasp-route"),
        None,
        "the route header never reaches the backend"
    );
    assert_eq!(seen.authority.as_deref(), Some(up.open_authority));
    local_reply(&get("/nowhere", &[]), 404, NOT_DEFINED);

    local_reply(&get("/secure", &[]), 401, "Jwt is missing");
    let bearer = format!("Bearer {}", up.key.mint(&up.idp.claims("shop-clients")));
    let secure = get("/secure", &[("authorization", &bearer)]);
    assert_eq!(secure.status, 200, "{secure:?}");
    assert!(secure.echoed().header("x-endpoint-api-userinfo").is_some());

    local_reply(&get("/keyed", &[]), 401, MISSING_KEY);
    let keyed = get(&format!("/keyed?key={}", up.api_key), &[]);
    assert_eq!(keyed.status, 200, "{keyed:?}");
    assert_eq!(keyed.echoed().header(CONSUMER_NUMBER), Some("7"));

    let before = up.items.requests();
    let item = get("/v1/items/42", &[]);
    assert_eq!(item.status, 200, "{item:?}");
    let seen = item.echoed();
    assert_eq!(seen.path, "/v2/v1/items/42");
    assert_eq!(seen.served_by, Some(up.items.addr().to_string()));
    assert_eq!(seen.authority.as_deref(), Some(up.items_authority));
    assert_eq!(up.items.requests(), before + 1);
}

#[test]
fn options_istio_cannot_honour_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let spec = spec(9000, 9001, "https://issuer.example.com");
    let output = compile_istio(
        dir.path(),
        &spec,
        &["--listen", "0.0.0.0:9000", "--healthz", "/healthz"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen: configures the Envoy listener wasp writes, but under --target istio the control plane writes it"), "{stderr}");
    assert!(stderr.contains("--healthz/"), "{stderr}");
    // The default --backend is loopback: in the gateway pod that is the gateway.
    let control = format!("http://{CONTROL_SERVICE}:8790");
    let output = compile_istio(dir.path(), &spec, &["--service-control-url", &control]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("127.0.0.1:8081 is loopback, which in the gateway pod is the gateway itself"),
        "{stderr}"
    );
    assert!(!dir.path().join("istio.yaml").exists(), "nothing written");
}
