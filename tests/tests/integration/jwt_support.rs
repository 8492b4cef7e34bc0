//! Shared by the `jwt_*` modules: specs with oauth2 providers pointing at a real
//! [`Idp`], and assertions phrased as what a client and the backend see.

use std::ops::Deref;
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use wasp_tests::expect::local_reply;
use wasp_tests::{CompileInput, Echoed, Gateway, HyperEcho, Idp, Reply};

/// The spec's `host`: the service name, so the default audience is `https://` + it.
pub const HOST: &str = "jwt.example.com";
pub const AUDIENCE: &str = "https://jwt.example.com";
pub const USERINFO: &str = "x-endpoint-api-userinfo";

/// An oauth2 `securityDefinitions` entry for `idp`: keys at `jwks_path` of the IdP
/// (`None`: no `x-google-jwks_uri`, so OIDC discovery), plus extra YAML lines
/// (`x-google-audiences: ...`), each indented under the scheme by this function.
pub fn provider(name: &str, idp: &Idp, jwks_path: Option<&str>, extra: &[&str]) -> String {
    let mut text = format!(
        "  {name}:\n    type: oauth2\n    authorizationUrl: \"\"\n    flow: implicit\n    x-google-issuer: \"{}\"\n",
        idp.issuer()
    );
    if let Some(path) = jwks_path {
        text.push_str(&format!("    x-google-jwks_uri: \"{}\"\n", idp.url(path)));
    }
    for line in extra {
        text.push_str(&format!("    {line}\n"));
    }
    text
}

/// One `GET` operation; `security` is the YAML flow value of its own `security`
/// (`None`: it inherits the top-level one).
pub fn op(path: &str, id: &str, security: Option<&str>) -> String {
    let security = security
        .map(|s| format!("      security: {s}\n"))
        .unwrap_or_default();
    format!(
        "  {path}:\n    get:\n      operationId: {id}\n{security}      responses: {{'200': {{description: ok}}}}\n"
    )
}

/// A spec with these `securityDefinitions` entries, an optional top-level
/// `security` (flow YAML) and these operations.
pub fn api(definitions: &[String], security: Option<&str>, paths: &[String]) -> String {
    let security = security
        .map(|s| format!("security: {s}\n"))
        .unwrap_or_default();
    format!(
        "swagger: \"2.0\"\ninfo: {{title: jwt test, version: \"1.0\"}}\nhost: {HOST}\nschemes: [http]\nsecurityDefinitions:\n{}{security}paths:\n{}",
        definitions.concat(),
        paths.concat()
    )
}

/// The usual spec: provider `idp` with keys at `jwks_path`, required at the top level,
/// `/secure` inheriting it and `/open` with `security: []`.
pub fn one_provider(idp: &Idp, jwks_path: Option<&str>, extra: &[&str]) -> String {
    api(
        &[provider("idp", idp, jwks_path, extra)],
        Some("[{idp: []}]"),
        &[
            op("/secure", "secure", None),
            op("/open", "open", Some("[]")),
        ],
    )
}

/// A gateway in front of a hyper echo backend, which answers simultaneous new
/// connections at once (requests released together after a key fetch arrive so).
pub struct JwtGateway {
    gateway: Gateway,
    _backend: HyperEcho,
}

impl Deref for JwtGateway {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

/// Compiles `spec` with extra options and starts Envoy with an echo backend.
pub fn start(spec: &str, args: &[&str]) -> JwtGateway {
    start_workers(spec, args, 1)
}

pub fn start_workers(spec: &str, args: &[&str], workers: u32) -> JwtGateway {
    let backend = HyperEcho::plain();
    let gateway = Gateway::start_compiled_workers(
        &CompileInput::new(spec).args(args),
        &backend.url(),
        None,
        workers,
    );
    JwtGateway {
        gateway,
        _backend: backend,
    }
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {token}"))]
}

/// `GET path` with headers (owned values).
pub fn send(gw: &Gateway, path: &str, headers: &[(&str, String)]) -> Reply {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    gw.send("GET", path, &headers)
}

/// The request reached the backend: what it saw.
pub fn passes(gw: &Gateway, path: &str, headers: &[(&str, String)]) -> Echoed {
    let reply = send(gw, path, headers);
    assert_eq!(reply.status, 200, "GET {path} was refused: {reply:?}");
    reply.echoed()
}

/// The claims the backend received in `X-Endpoint-API-UserInfo`.
pub fn userinfo(seen: &Echoed) -> Value {
    let value = seen
        .header(USERINFO)
        .unwrap_or_else(|| panic!("no {USERINFO} reached the backend: {seen:?}"));
    let json = URL_SAFE_NO_PAD
        .decode(value)
        .unwrap_or_else(|e| panic!("{USERINFO} is not unpadded base64url ({e}): {value:?}"));
    serde_json::from_slice(&json).expect("user info is JSON")
}

/// ESPv2's JWT denial: status, `{"code","message"}` and a `WWW-Authenticate` naming
/// the service (`invalid_token` unless the token was missing or lacked a scope).
pub fn denied(reply: &Reply, status: u16, message: &str) {
    local_reply(reply, status, message);
    let error = match message {
        "Jwt is missing" => String::new(),
        "Jwt scopes are not allowed" => ", error=\"insufficient_scope\"".into(),
        _ => ", error=\"invalid_token\"".into(),
    };
    assert_eq!(
        reply.header("www-authenticate"),
        Some(format!("Bearer realm=\"{HOST}\"{error}").as_str()),
        "{reply:?}"
    );
}

/// `GET path` with headers is denied with `status` and `message`.
pub fn refused(gw: &Gateway, path: &str, headers: &[(&str, String)], status: u16, message: &str) {
    denied(&send(gw, path, headers), status, message);
}

/// Polls `condition` every 100 ms until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}
