//! Headers only a proxy should set, sent by a client: every `x-envoy-*` header Envoy or a
//! backend acts on is removed before routing (tested one by one, and by what Envoy would
//! have done with it), the access log prints the path Envoy matched, not a forged
//! `x-envoy-original-path`, and a request naming two hosts is refused before matching.

use wasp_tests::http::send_raw_response;
use wasp_tests::{EchoBackend, Gateway};

const MATCHING: &str = include_str!("../../specs/matching.yaml");

/// Every `x-envoy-*` request header the filter removes, written out here so that a name
/// dropped from the filter's list fails this test.
const ENVOY_HEADERS: [&str; 25] = [
    "x-envoy-original-path",
    "x-envoy-original-url",
    "x-envoy-original-host",
    "x-envoy-decorator-operation",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-max-retries",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-upstream-stream-duration-ms",
    "x-envoy-is-timeout-retry",
    "x-envoy-attempt-count",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-force-trace",
    "x-envoy-internal",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
    "x-envoy-ip-tags",
    "x-envoy-original-dst-host",
    "x-envoy-external-address",
];

/// A plausible value for each: what an attacker would send.
fn forged_value(name: &str) -> &'static str {
    match name {
        "x-envoy-original-path" | "x-envoy-original-url" => "/admin/delete-everything",
        "x-envoy-original-host" => "admin.internal",
        "x-envoy-retry-on" => "5xx,reset",
        "x-envoy-retry-grpc-on" => "unavailable",
        "x-envoy-internal" | "x-envoy-hedge-on-per-try-timeout" | "x-envoy-is-timeout-retry" => {
            "true"
        }
        "x-envoy-external-address" | "x-envoy-original-dst-host" => "10.0.0.1",
        n if n.ends_with("-ms") || n.ends_with("retries") || n.ends_with("count") => "1",
        "x-envoy-retriable-status-codes" => "200",
        _ => "forged",
    }
}

#[test]
fn no_client_sent_envoy_header_reaches_the_backend() {
    let gw = Gateway::start(MATCHING);
    for name in ENVOY_HEADERS {
        let reply = gw.send("GET", "/hello", &[(name, forged_value(name))]);
        assert_eq!(reply.status, 200, "{name}: {reply:?}");
        let seen = reply.echoed();
        assert_eq!(seen.header(name), None, "{name} reached the backend");
    }
    // Headers that merely start like Envoy's are the application's.
    let reply = gw.send("GET", "/hello", &[("x-envoy-app-flag", "kept")]);
    assert_eq!(reply.echoed().header("x-envoy-app-flag"), Some("kept"));
    gw.assert_filter_alive();
}

#[test]
fn a_client_cannot_shorten_the_upstream_timeout_or_ask_for_retries() {
    let gw = Gateway::start(MATCHING);
    // Envoy's router would answer 504 after 50 ms for a backend that takes 500 ms.
    let reply = gw.send(
        "GET",
        "/hello",
        &[
            ("x-envoy-upstream-rq-timeout-ms", "50"),
            ("x-echo-delay-ms", "500"),
        ],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    // ...and retry a 503 three times: the backend answers once.
    let echo = gw.echo.as_ref().expect("an echo backend");
    let before = echo.requests();
    let reply = gw.send(
        "GET",
        "/hello",
        &[
            ("x-envoy-retry-on", "5xx"),
            ("x-envoy-max-retries", "3"),
            ("x-echo-status", "503"),
        ],
    );
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(echo.requests() - before, 1, "Envoy retried for the client");
}

/// The path in an access-log line's request field (`"GET /path HTTP/1.1"`).
fn logged_path(line: &str) -> &str {
    line.split('"')
        .nth(1)
        .and_then(|request| request.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no request field in {line}"))
}

#[test]
fn the_access_log_prints_the_path_envoy_matched() {
    let gw = Gateway::start(MATCHING);
    let forged = [("x-envoy-original-path", "/admin/delete-everything")];
    let (reply, line) = gw.send_logged_line_with("GET", "/hello?x=1", &forged);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(logged_path(&line), "/hello", "{line}");
    let (reply, line) = gw.send_logged_line_with("GET", "/nowhere", &forged);
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(logged_path(&line), "/nowhere", "{line}");
}

#[test]
fn a_translated_path_is_logged_as_sent_and_kept_for_the_backend() {
    let backend = EchoBackend::start();
    let spec = format!(
        "swagger: \"2.0\"
info: {{title: translate, version: \"1.0\"}}
host: translate.example.com
paths:
  /books/{{id}}:
    get:
      operationId: getBook
      x-google-backend: {{address: '{url}/api', path_translation: APPEND_PATH_TO_ADDRESS, disable_auth: true}}
      responses: {{'200': {{description: ok}}}}
",
        url = backend.url()
    );
    let gw = Gateway::start_with_backend(&spec, "http://127.0.0.1:9", None);
    let forged = [("x-envoy-original-path", "/admin")];
    let (reply, line) = gw.send_logged_line_with("GET", "/books/7?key=secret", &forged);
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.echoed();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_str()),
        ("/api/books/7", "key=secret")
    );
    // Without the query, which may carry a key the backend is not meant to see.
    assert_eq!(seen.header("x-envoy-original-path"), Some("/books/7"));
    assert_eq!(logged_path(&line), "/books/7", "{line}");
}

/// `GET /hello` with these extra header lines, as raw HTTP/1.1.
fn raw(host_lines: &str) -> Vec<u8> {
    format!("GET /hello HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n").into_bytes()
}

#[test]
fn a_request_naming_two_hosts_is_refused_before_matching() {
    let gw = Gateway::start(MATCHING);
    let echo = gw.echo.as_ref().expect("an echo backend");
    let before = echo.requests();
    for host_lines in [
        "Host: a.example\r\nHost: b.example\r\n",
        "Host: a.example\r\nHost: a.example\r\n",
        "Host: a.example,b.example\r\n",
    ] {
        let response = send_raw_response(gw.envoy.listener, &raw(host_lines))
            .unwrap_or_else(|| panic!("no response to {host_lines:?}"));
        assert!(
            response.starts_with("HTTP/1.1 400 "),
            "{host_lines:?}: {response}"
        );
        assert!(
            response.contains(
                r#"{"code":400,"message":"INVALID_ARGUMENT: The request must name exactly one host"#
            ),
            "{host_lines:?}: {response}"
        );
    }
    assert_eq!(
        echo.requests(),
        before,
        "an ambiguous request reached the backend"
    );
    // One Host is served.
    let response = send_raw_response(gw.envoy.listener, &raw("Host: a.example\r\n")).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    gw.assert_filter_alive();
}

/// An absolute-form target names the host (RFC 9112 3.2.2: a proxy ignores `Host` then);
/// Envoy replaces `Host` with it, so the backend, the filter and the log see one name.
#[test]
fn an_absolute_form_target_overrides_host_before_anyone_sees_it() {
    let gw = Gateway::start(MATCHING);
    let request =
        b"GET http://a.example/hello HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n";
    let response = send_raw_response(gw.envoy.listener, request).expect("a response");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains(r#""host":"a.example""#), "{response}");
    assert!(!response.contains("b.example"), "{response}");
}
