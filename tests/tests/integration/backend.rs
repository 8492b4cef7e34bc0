//! `x-google-backend` through real Envoy: which backend a request reaches
//! (address top-level or per operation, `--backend` otherwise), the path it
//! arrives with (APPEND_PATH_TO_ADDRESS / CONSTANT_ADDRESS and their defaults,
//! the seed's exact examples), deadlines, HTTP/2 and https with SNI + Host.

use std::time::{Duration, Instant};

use wasp_tests::echo::DELAY_HEADER;
use wasp_tests::expect::local_reply;
use wasp_tests::{CompileInput, EchoBackend, Gateway, HyperEcho, TestCa};

/// An OpenAPI 2.0 document: `top` is inserted at the top level (e.g. an
/// `x-google-backend` block), `paths` under `paths:` (both YAML, indented by
/// the caller: top-level keys at column 0, paths at column 2).
pub fn api(top: &str, paths: &str) -> String {
    format!(
        "swagger: \"2.0\"\ninfo: {{title: backend test, version: \"1.0\"}}\nhost: backend.example.com\nschemes: [http]\n{top}\npaths:\n{paths}"
    )
}

/// One `GET` operation at `path` with an optional operation-level `x-google-backend` (flow YAML).
pub fn get_op(path: &str, id: &str, backend: Option<&str>) -> String {
    let backend = backend
        .map(|b| format!("      x-google-backend: {b}\n"))
        .unwrap_or_default();
    format!("  {path}:\n    get:\n      operationId: {id}\n{backend}      responses: {{'200': {{description: ok}}}}\n")
}

/// `GET path` through the gateway: the backend's view of it (status must be 200).
fn reached(gw: &Gateway, path: &str) -> wasp_tests::Echoed {
    let reply = gw.get(path);
    assert_eq!(reply.status, 200, "GET {path}: {reply:?}");
    reply.echoed()
}

/// `path?query` as the backend saw it.
fn target(seen: &wasp_tests::Echoed) -> String {
    if seen.query.is_empty() {
        seen.path.clone()
    } else {
        format!("{}?{}", seen.path, seen.query)
    }
}

#[test]
fn the_address_picks_the_backend_top_level_per_operation_or_the_flag() {
    let top = EchoBackend::start();
    let own = EchoBackend::start();
    let paths = [
        get_op("/top", "viaTop", None),
        get_op(
            "/own",
            "viaOwn",
            Some(&format!(
                "{{address: '{}/own', disable_auth: true}}",
                own.url()
            )),
        ),
        // An operation-level x-google-backend without address replaces the top-level rule: --backend.
        get_op("/local", "viaLocal", Some("{deadline: 10.0}")),
    ]
    .concat();
    let spec = api(
        &format!(
            "x-google-backend:\n  address: {}\n  disable_auth: true\n",
            top.url()
        ),
        &paths,
    );
    let local = EchoBackend::start();
    let local_url = local.url();
    let local_addr = local.addr().to_string();
    let gw = Gateway::start_with_backend(&spec, &local_url, Some(local));

    let host = [("host", "client.example")];
    let seen = gw.send("GET", "/top", &host).echoed();
    assert_eq!(
        seen.served_by.as_deref(),
        Some(&*top.addr().to_string()),
        "{seen:?}"
    );
    assert_eq!(
        seen.authority,
        Some(top.addr().to_string()),
        "an address backend gets its own Host"
    );
    assert_eq!(
        target(&seen),
        "/top",
        "top-level address without a path: no rewrite"
    );

    let seen = reached(&gw, "/own");
    assert_eq!(
        seen.served_by.as_deref(),
        Some(&*own.addr().to_string()),
        "{seen:?}"
    );

    let seen = gw.send("GET", "/local", &host).echoed();
    assert_eq!(
        seen.authority.as_deref(),
        Some("client.example"),
        "a loopback --backend keeps the client's Host"
    );
    assert_eq!(seen.served_by.as_deref(), Some(&*local_addr), "{seen:?}");
    assert_eq!(target(&seen), "/local", "no address: no path translation");
}

#[test]
fn without_any_x_google_backend_requests_go_to_the_flag_backend_unchanged() {
    let spec = api("", &get_op("/hello/{name}", "hello", None));
    let gw = Gateway::start(&spec);
    let seen = reached(&gw, "/hello/world?x=1");
    assert_eq!(target(&seen), "/hello/world?x=1");
    let echo = gw.echo.as_ref().expect("the gateway's own echo backend");
    assert_eq!(seen.served_by, Some(echo.addr().to_string()));
}

#[test]
fn append_path_to_address_prefixes_the_request_path() {
    let backend = EchoBackend::start();
    let url = backend.url();
    let paths = [
        get_op("/hello/{name}", "hello", None),
        get_op("/plain", "plain", None),
        // Operation level with an explicit APPEND (its default would be CONSTANT).
        get_op(
            "/op/{id}",
            "opAppend",
            Some(&format!(
                "{{address: '{url}/v2', path_translation: APPEND_PATH_TO_ADDRESS, disable_auth: true}}"
            )),
        ),
    ]
    .concat();
    // Top level with a path and a trailing slash: APPEND by default, one '/' trimmed.
    let spec = api(
        &format!("x-google-backend:\n  address: {url}/api/\n  disable_auth: true\n"),
        &paths,
    );
    let gw = Gateway::start_with_backend(&spec, "http://127.0.0.1:9", None);

    assert_eq!(target(&reached(&gw, "/hello/world")), "/api/hello/world");
    assert_eq!(
        target(&reached(&gw, "/hello/world/")),
        "/api/hello/world/",
        "the request's trailing slash is kept"
    );
    assert_eq!(target(&reached(&gw, "/plain?a=1&b")), "/api/plain?a=1&b");
    assert_eq!(target(&reached(&gw, "/op/7?q=%20")), "/v2/op/7?q=%20");
}

#[test]
fn constant_address_sends_the_address_path_with_bindings_as_query() {
    let backend = EchoBackend::start();
    let url = backend.url();
    let constant = |path: &str| format!("{{address: '{url}{path}', disable_auth: true}}");
    let paths = [
        // The seed's example: /hello/{name} -> .../helloGET?name=world (operation level: CONSTANT by default).
        get_op("/hello/{name}", "helloGet", Some(&constant("/helloGET"))),
        get_op("/hello", "helloPlain", Some(&constant("/helloGET"))),
        get_op("/files/{path=**}", "files", Some(&constant("/store"))),
        get_op("/any/*/x/{id}", "unnamed", Some(&constant("/u"))),
        // HttpRule variables that span segments (ESPv2's service config allows them).
        get_op(
            "/v1/{name=shelves/*/books/*}",
            "getBook",
            Some(&constant("/book")),
        ),
        get_op(
            "/v1/{parent=projects/*}/{rest=files/**}:read",
            "readFile",
            Some(&constant("/read")),
        ),
        get_op(
            "/root/{a}/{b}",
            "root",
            Some(&format!("{{address: '{url}', disable_auth: true}}")),
        ),
    ]
    .concat();
    let spec = api("", &paths);
    let gw = Gateway::start_with_backend(&spec, "http://127.0.0.1:9", None);

    assert_eq!(
        target(&reached(&gw, "/hello/world")),
        "/helloGET?name=world"
    );
    assert_eq!(target(&reached(&gw, "/hello")), "/helloGET");
    assert_eq!(
        target(&reached(&gw, "/hello/world?x=1&y=2")),
        "/helloGET?x=1&y=2&name=world",
        "the original query comes first, as sent"
    );
    assert_eq!(
        target(&reached(&gw, "/hello/a%20b")),
        "/helloGET?name=a%20b",
        "bindings are copied raw"
    );
    assert_eq!(
        target(&reached(&gw, "/files/a/b/c")),
        "/store?path=a/b/c",
        "a ** binding keeps its slashes"
    );
    assert_eq!(
        target(&reached(&gw, "/v1/shelves/s1/books/b%2F2")),
        "/book?name=shelves/s1/books/b%2F2",
        "a variable spanning segments binds all of them with their slashes"
    );
    assert_eq!(
        target(&reached(&gw, "/v1/projects/p/files/a/b:read")),
        "/read?parent=projects/p&rest=files/a/b"
    );
    assert_eq!(
        gw.send("GET", "/v1/shelves/s1/magazines/m", &[]).status,
        404,
        "the literal segments inside a variable still have to match"
    );
    assert_eq!(
        target(&reached(&gw, "/any/zzz/x/5")),
        "/u?id=5",
        "an unnamed wildcard makes no parameter"
    );
    assert_eq!(
        target(&reached(&gw, "/root/1/2")),
        "/?a=1&b=2",
        "an address without a path is the root"
    );
}

#[test]
fn top_level_constant_address_applies_to_every_operation() {
    let backend = EchoBackend::start();
    let top = format!(
        "x-google-backend:\n  address: {}/fn\n  path_translation: CONSTANT_ADDRESS\n  disable_auth: true\n",
        backend.url()
    );
    let paths = [get_op("/a/{x}", "a", None), get_op("/b", "b", None)].concat();
    let gw = Gateway::start_with_backend(&api(&top, &paths), "http://127.0.0.1:9", None);
    assert_eq!(target(&reached(&gw, "/a/1")), "/fn?x=1");
    assert_eq!(target(&reached(&gw, "/b?k=v")), "/fn?k=v");
}

#[test]
fn a_deadline_turns_a_slow_backend_into_espv2s_504() {
    let backend = EchoBackend::start();
    let url = backend.url();
    let paths = [
        get_op(
            "/fast",
            "fast",
            Some(&format!(
                "{{address: '{url}', deadline: 1.0, disable_auth: true}}"
            )),
        ),
        // Non-positive deadlines are not honoured: the 15 s default applies.
        get_op(
            "/zero",
            "zero",
            Some(&format!(
                "{{address: '{url}', deadline: 0, disable_auth: true}}"
            )),
        ),
        get_op(
            "/negative",
            "negative",
            Some(&format!(
                "{{address: '{url}', deadline: -3.5, disable_auth: true}}"
            )),
        ),
        get_op(
            "/default",
            "default",
            Some(&format!("{{address: '{url}', disable_auth: true}}")),
        ),
    ]
    .concat();
    let gw = Gateway::start_with_backend(&api("", &paths), "http://127.0.0.1:9", None);

    let started = Instant::now();
    let reply = gw.send("GET", "/fast", &[(DELAY_HEADER, "3000")]);
    let took = started.elapsed();
    local_reply(&reply, 504, "upstream request timeout");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2900),
        "the 1 s deadline fired after {took:?}"
    );
    assert_eq!(
        gw.send("GET", "/fast", &[(DELAY_HEADER, "200")]).status,
        200,
        "a reply within the deadline passes"
    );
    for path in ["/zero", "/negative", "/default"] {
        let reply = gw.send("GET", path, &[(DELAY_HEADER, "1500")]);
        assert_eq!(
            reply.status, 200,
            "{path} waits longer than 1.5 s: {reply:?}"
        );
    }
}

#[test]
fn protocol_h2_reaches_the_backend_as_http2() {
    let backend = HyperEcho::plain();
    let url = backend.url();
    let paths = [
        get_op(
            "/h2",
            "viaH2",
            Some(&format!(
                "{{address: '{url}', protocol: h2, disable_auth: true}}"
            )),
        ),
        get_op(
            "/h1",
            "viaH1",
            Some(&format!(
                "{{address: '{url}', protocol: http/1.1, disable_auth: true}}"
            )),
        ),
        get_op(
            "/default",
            "viaDefault",
            Some(&format!("{{address: '{url}', disable_auth: true}}")),
        ),
    ]
    .concat();
    let gw = Gateway::start_with_backend(&api("", &paths), "http://127.0.0.1:9", None);
    assert_eq!(reached(&gw, "/h2").version.as_deref(), Some("HTTP/2.0"));
    assert_eq!(reached(&gw, "/h1").version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        reached(&gw, "/default").version.as_deref(),
        Some("HTTP/1.1")
    );
}

#[test]
fn an_https_backend_gets_sni_and_host_of_its_address_over_h1_and_h2() {
    let ca = TestCa::new();
    let backend = HyperEcho::tls(&ca);
    let url = backend.url();
    let paths = [
        get_op(
            "/tls",
            "tls",
            Some(&format!("{{address: '{url}/secure', disable_auth: true}}")),
        ),
        get_op(
            "/tls2",
            "tls2",
            Some(&format!(
                "{{address: '{url}/secure', protocol: h2, disable_auth: true}}"
            )),
        ),
    ]
    .concat();
    let ca_dir = tempfile::tempdir().expect("temporary directory");
    let ca_path = ca.write_ca(ca_dir.path());
    let input = CompileInput::new(&api("", &paths))
        .args(["--root-certs".to_string(), ca_path.display().to_string()]);
    let gw = Gateway::start_compiled(&input, "http://127.0.0.1:9", None);

    for (path, version) in [("/tls", "HTTP/1.1"), ("/tls2", "HTTP/2.0")] {
        let reply = gw.send("GET", path, &[("host", "client.example")]);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let seen = reply.echoed();
        assert_eq!(seen.sni.as_deref(), Some("localhost"), "{path}: {seen:?}");
        assert_eq!(seen.version.as_deref(), Some(version), "{path}: {seen:?}");
        assert_eq!(
            seen.authority,
            Some(format!("localhost:{}", backend.port())),
            "{path}: the Host is rewritten to the address's host:port"
        );
        assert_eq!(target(&seen), "/secure", "{path}");
    }
}

#[test]
fn an_https_backend_signed_by_an_untrusted_ca_is_refused() {
    let trusted = TestCa::new();
    let other = TestCa::new();
    let backend = HyperEcho::tls(&other);
    let ca_dir = tempfile::tempdir().expect("temporary directory");
    let ca_path = trusted.write_ca(ca_dir.path());
    let spec = api(
        "",
        &get_op(
            "/tls",
            "tls",
            Some(&format!(
                "{{address: '{}', disable_auth: true}}",
                backend.url()
            )),
        ),
    );
    let input =
        CompileInput::new(&spec).args(["--root-certs".to_string(), ca_path.display().to_string()]);
    let gw = Gateway::start_compiled(&input, "http://127.0.0.1:9", None);
    let reply = gw.get("/tls");
    assert_eq!(
        reply.status, 503,
        "a certificate the bundle does not trust: {reply:?}"
    );
    // Refused for the certificate, not for anything else (Envoy counts it per cluster).
    let stats = gw.get_admin("/stats?filter=ssl.fail_verify_error");
    let failed: u64 = stats
        .lines()
        .filter_map(|line| line.rsplit_once(": ")?.1.trim().parse::<u64>().ok())
        .sum();
    assert!(
        failed > 0,
        "no certificate verification failure counted:\n{stats}"
    );
}

/// `--backend-dns-lookup-family` (ESPv2's): a backend named `localhost` is reached over
/// IPv4 by default; told to use IPv6 only, Envoy finds no address the IPv4-only echo
/// backend listens on and answers 503.
#[test]
fn backend_names_resolve_as_the_dns_lookup_family_says() {
    let spec = "swagger: \"2.0\"\ninfo: {title: dns, version: \"1.0\"}\nhost: dns.example.com\npaths:\n  /hello:\n    get: {operationId: hello}\n";
    let echo = EchoBackend::start();
    let by_name = format!("http://localhost:{}", echo.addr().port());
    let gw = Gateway::start_compiled(&CompileInput::new(spec), &by_name, None);
    assert_eq!(gw.get("/hello").status, 200);
    let v6 = CompileInput::new(spec).args(["--backend-dns-lookup-family", "v6only"]);
    let gw = Gateway::start_compiled(&v6, &by_name, None);
    assert_eq!(gw.get("/hello").status, 503);
    drop(echo);
}

#[test]
fn backend_address_override_sends_every_operation_to_the_backend_flag() {
    let backend = EchoBackend::start();
    // An address nobody can reach: only the override gets the request anywhere.
    let paths = get_op(
        "/hello/{name}",
        "hello",
        Some("{address: 'https://fn.example.invalid/api', path_translation: APPEND_PATH_TO_ADDRESS, disable_auth: true}"),
    );
    let input = CompileInput::new(&api("", &paths)).args(["--enable-backend-address-override"]);
    let url = backend.url();
    let gw = Gateway::start_compiled(&input, &url, Some(backend));
    assert_eq!(
        target(&reached(&gw, "/hello/x?q=1")),
        "/api/hello/x?q=1",
        "the rule's path translation still applies"
    );
}

#[test]
fn an_https_backend_that_wants_a_client_certificate_gets_the_gateways() {
    let ca = TestCa::new();
    let backend = HyperEcho::mutual_tls(&ca);
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_path = ca.write_ca(dir.path());
    ca.write_client_files(dir.path(), "gateway");
    let spec = api(
        "",
        &get_op(
            "/tls",
            "tls",
            Some(&format!(
                "{{address: '{}/secure', disable_auth: true}}",
                backend.url()
            )),
        ),
    );
    let roots = ["--root-certs".to_string(), ca_path.display().to_string()];
    // Without a client certificate the backend refuses the handshake: Envoy's 503.
    let gw = Gateway::start_compiled(
        &CompileInput::new(&spec).args(roots.clone()),
        "http://127.0.0.1:9",
        None,
    );
    assert_eq!(gw.get("/tls").status, 503);
    drop(gw);

    let input = CompileInput::new(&spec).args(roots).args([
        "--ssl-backend-client-cert-path".to_string(),
        dir.path().display().to_string(),
        "--ssl-backend-client-cipher-suites".to_string(),
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256".to_string(),
    ]);
    let gw = Gateway::start_compiled(&input, "http://127.0.0.1:9", None);
    let reply = gw.get("/tls");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(target(&reply.echoed()), "/secure");
}
