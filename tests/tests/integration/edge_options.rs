//! ESPv2's listener-edge options through real Envoy, each at its default and set: an HTTPS
//! listener (`--ssl-server-*`, HTTP/2 by ALPN, mutual TLS),
//! `--healthz` (answered by Envoy, no credentials, nothing reaches the backend),
//! `--underscores-in-headers` (400 by default), `--enable-strict-transport-security`,
//! `--add-/--append-request-header`, `--add-/--append-response-header` and
//! `--enable-operation-name-header`.

use wasp_tests::http::send_raw_response;
use wasp_tests::{CompileInput, EchoBackend, Gateway};

use crate::keys_support::*;

const MATCHING: &str = include_str!("../../specs/matching.yaml");

fn with_options(spec: &str, args: &[&str]) -> Gateway {
    let echo = EchoBackend::start();
    let url = echo.url();
    Gateway::start_compiled(&CompileInput::new(spec).args(args), &url, Some(echo))
}

fn backend_requests(gw: &Gateway) -> u64 {
    gw.echo.as_ref().expect("an echo backend").requests()
}

#[test]
fn healthz_is_answered_by_envoy_without_credentials() {
    // Every operation needs an API key, and no control service is even running.
    let paths = operation("/items", "get", "listItems", &[]);
    let spec = shop(KEY_REQUIRED, &paths);
    let control = [
        "--service-control-url",
        "http://127.0.0.1:9",
        "--producer-project-id",
        PRODUCER,
    ];
    let gw = with_options(&spec, &control);
    assert_eq!(
        gw.get("/healthz").status,
        404,
        "not a health path by default"
    );

    let gw = with_options(&spec, &[&control[..], &["--healthz", "healthz"]].concat());
    for method in ["GET", "HEAD", "POST"] {
        let reply = gw.send(method, "/healthz", &[]);
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
    }
    assert_eq!(backend_requests(&gw), 0, "a probe reached the backend");
    // Only that exact path: the API is still the API.
    assert_eq!(gw.get("/healthz/x").status, 404);
    assert_eq!(gw.get("/items").status, 401);
    gw.assert_filter_alive();
}

fn underscore_request() -> Vec<u8> {
    b"GET /hello HTTP/1.1\r\nHost: h\r\nx_custom_id: 7\r\nConnection: close\r\n\r\n".to_vec()
}

#[test]
fn header_names_with_underscores_are_refused_unless_allowed() {
    let gw = Gateway::start(MATCHING);
    let response = send_raw_response(gw.envoy.listener, &underscore_request()).unwrap();
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert_eq!(backend_requests(&gw), 0);

    let gw = with_options(MATCHING, &["--underscores-in-headers"]);
    let response = send_raw_response(gw.envoy.listener, &underscore_request()).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains(r#""x_custom_id":"7""#), "{response}");
}

#[test]
fn hsts_is_added_to_responses_when_asked() {
    let gw = Gateway::start(MATCHING);
    assert_eq!(gw.get("/hello").header("strict-transport-security"), None);

    let gw = with_options(MATCHING, &["--enable-strict-transport-security"]);
    assert_eq!(
        gw.get("/hello").header("strict-transport-security"),
        Some("max-age=31536000; includeSubdomains")
    );
}

#[test]
fn headers_are_added_or_appended_to_requests_and_responses() {
    let gw = Gateway::start(MATCHING);
    let sent = [("x-env", "client"), ("x-tag", "client")];
    let reply = gw.send("GET", "/hello", &sent);
    assert_eq!(reply.echoed().header("x-env"), Some("client"));
    assert_eq!(reply.header("x-served-by"), None);

    let gw = with_options(
        MATCHING,
        &[
            "--add-request-header",
            "x-env=prod",
            "--append-request-header",
            "x-tag=gateway",
            "--add-request-header",
            "x-quota-note=100%",
            "--add-response-header",
            "x-served-by=wasp",
            "--append-response-header",
            "cache-control=no-store",
        ],
    );
    let reply = gw.send("GET", "/hello", &sent);
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    // Added replaces the client's value; appended keeps it.
    assert_eq!(seen.header("x-env"), Some("prod"));
    assert_eq!(seen.header("x-tag"), Some("client, gateway"), "two values");
    assert_eq!(seen.header("x-quota-note"), Some("100%"), "a literal value");
    assert_eq!(reply.header("x-served-by"), Some("wasp"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[test]
fn the_operation_name_goes_upstream_only_when_asked() {
    const HEADER: &str = "x-endpoint-api-operation-name";
    let gw = Gateway::start(MATCHING);
    let (reply, operation) = gw.send_logged("GET", "/hello");
    assert_eq!(operation, "1.matching_endpoints_example_com.Hello");
    assert_eq!(reply.echoed().header(HEADER), None);
    // A client's copy never passes.
    let reply = gw.send("GET", "/hello", &[(HEADER, "1.forged.Admin")]);
    assert_eq!(reply.echoed().header(HEADER), None);

    let gw = with_options(MATCHING, &["--enable-operation-name-header"]);
    let reply = gw.send("GET", "/items/7", &[(HEADER, "1.forged.Admin")]);
    let (_, operation) = gw.send_logged("GET", "/items/7");
    assert_eq!(operation, "1.matching_endpoints_example_com.ItemsOne");
    assert_eq!(reply.echoed().header(HEADER), Some(operation.as_str()));
}

#[test]
fn an_https_listener_speaks_h2_or_http1_and_can_require_client_certificates() {
    let ca = wasp_tests::TestCa::new();
    let files = tempfile::tempdir().expect("a temp dir");
    let (cert, key) = ca.write_server_files(files.path());
    let client_ca = ca.write_ca(files.path());
    let (cert, key, client_ca) = (
        cert.display().to_string(),
        key.display().to_string(),
        client_ca.display().to_string(),
    );
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let tls = ["--ssl-server-cert", &cert, "--ssl-server-key", &key];

    let gw = with_options(MATCHING, &tls);
    let (alpn, response) = ca
        .exchange(gw.envoy.listener, &["http/1.1"], None, request)
        .expect("a TLS exchange");
    assert_eq!(alpn.as_deref(), Some("http/1.1"));
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains(r#""path":"/hello""#), "{response}");
    let (alpn, _) = ca
        .exchange(gw.envoy.listener, &["h2", "http/1.1"], None, request)
        .expect("a TLS handshake");
    assert_eq!(alpn.as_deref(), Some("h2"), "HTTP/2 by ALPN");
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert_eq!(wasp_tests::http::send_raw(gw.envoy.listener, request), None);

    let gw = with_options(
        MATCHING,
        &[&tls[..], &["--ssl-server-root-cert", &client_ca]].concat(),
    );
    let anonymous = ca.exchange(gw.envoy.listener, &["http/1.1"], None, request);
    assert!(
        anonymous.as_ref().map_or(true, |(_, r)| r.is_empty()),
        "served without a client certificate: {anonymous:?}"
    );
    let (_, response) = ca
        .exchange(
            gw.envoy.listener,
            &["http/1.1"],
            Some(ca.client_identity("gateway-client")),
            request,
        )
        .expect("a mutual TLS exchange");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    gw.assert_filter_alive();
}

#[test]
fn the_listeners_tls_versions_and_buffer_limit_are_options() {
    let ca = wasp_tests::TestCa::new();
    let files = tempfile::tempdir().expect("a temp dir");
    let (cert, key) = ca.write_server_files(files.path());
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let tls12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let tls = ["--ssl-server-cert", &cert, "--ssl-server-key", &key];

    // Envoy's default takes TLS 1.2.
    let gw = with_options(MATCHING, &tls);
    let (_, response) = ca
        .exchange_with(gw.envoy.listener, tls12, &["http/1.1"], None, request)
        .expect("TLS 1.2 by default");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");

    let strict = [
        &tls[..],
        &[
            "--ssl-minimum-protocol",
            "TLSv1.3",
            "--envoy-connection-buffer-limit-bytes",
            "32768",
        ],
    ]
    .concat();
    let gw = with_options(MATCHING, &strict);
    let refused = ca.exchange_with(gw.envoy.listener, tls12, &["http/1.1"], None, request);
    assert!(refused.is_err(), "TLS 1.2 was accepted: {refused:?}");
    let (_, response) = ca
        .exchange_with(gw.envoy.listener, tls13, &["http/1.1"], None, request)
        .expect("TLS 1.3");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
}

/// `GET /hello` with `Accept-Encoding`, as raw bytes: (head, body with chunking undone).
fn compressible_reply(gw: &Gateway, accept: &str) -> (String, Vec<u8>) {
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: h\r\nAccept-Encoding: {accept}\r\nConnection: close\r\n\r\n"
    );
    let response = wasp_tests::http::send_raw_bytes(gw.envoy.listener, request.as_bytes())
        .expect("a response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let mut raw = &response[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, raw.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return (head, body);
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

#[test]
fn responses_are_compressed_only_when_asked() {
    let gw = Gateway::start(MATCHING);
    let (head, body) = compressible_reply(&gw, "gzip");
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("\"path\""),
        "plain JSON"
    );

    let gw = with_options(MATCHING, &["--enable-response-compression"]);
    let (head, body) = compressible_reply(&gw, "gzip");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
        .expect("a gzip body");
    let echoed: serde_json::Value = serde_json::from_str(&text).expect("the echo's JSON");
    assert_eq!(echoed["path"], "/hello");
    let (head, _) = compressible_reply(&gw, "br");
    assert!(head.contains("content-encoding: br"), "{head}");
    let (head, _) = compressible_reply(&gw, "identity");
    assert!(!head.contains("content-encoding"), "{head}");
}
