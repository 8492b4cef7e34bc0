//! The filter never panics on a request: requests built to break parsers get a
//! reply, the filter's VM is never reloaded, and the gateway keeps serving.

use wasp_tests::http::send_raw;
use wasp_tests::Gateway;

const MATCHING: &str = include_str!("../../specs/matching.yaml");

fn hostile_requests() -> Vec<Vec<u8>> {
    let long_segment = "a".repeat(7000);
    let many_segments = "/x".repeat(3000);
    let mut requests: Vec<Vec<u8>> = [
        format!("GET /items/{long_segment} HTTP/1.1\r\nHost: h\r\n\r\n"),
        format!("GET /items{many_segments} HTTP/1.1\r\nHost: h\r\n\r\n"),
        format!("GET {many_segments} HTTP/1.1\r\nHost: h\r\n\r\n"),
        "GET /items/a:b:c HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /items/:cancel HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /items/%ZZ/%00 HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /items/%E2%82 HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /%2e%2e/%2e%2e/hello HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET http://h/hello HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET * HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET ? HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /hello?%%%&&==?? HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /hello HTTP/1.1\r\nHost: h\r\nx-wasp-route: \r\nx-wasp-route: r0\r\nX-WASP-ROUTE: r0\r\n\r\n".into(),
        format!("GET /hello HTTP/1.1\r\nHost: h\r\nx-wasp-route: {}\r\n\r\n", "r".repeat(8000)),
        "DELETE /items/exact HTTP/1.1\r\nHost: h\r\n\r\n".into(),
        "GET /hello HTTP/1.0\r\n\r\n".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    requests.push(b"GET /items/\xff\xfe HTTP/1.1\r\nHost: h\r\n\r\n".to_vec());
    requests
}

/// Sends `requests`, then asserts that each got a reply that is not a filter
/// failure, that the filter's VM was never reloaded, and that it still serves.
fn assert_survives(requests: Vec<Vec<u8>>) {
    let gw = Gateway::start(MATCHING);
    for request in requests {
        let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
        let status = send_raw(gw.envoy.listener, &request);
        // Envoy's codec may refuse some outright (400) or close; the filter must
        // never fail one (a wasm failure is a 500/503 with no backend involved).
        if let Some(status) = status {
            assert!(status != 500 && status != 503, "{shown:?} got {status}");
        }
    }
    let stats = gw.get_admin("/stats?filter=wasm.wasp.vm_reload");
    assert!(
        stats.contains("wasm.wasp.vm_reload: 0"),
        "the filter's VM was reloaded:\n{stats}"
    );
    let log = gw.envoy.log();
    for sign_of_a_crash in ["panicked", "Uncaught RuntimeError", "wasm_fail_stream"] {
        assert!(
            !log.contains(sign_of_a_crash),
            "Envoy logged {sign_of_a_crash:?}"
        );
    }
    assert_eq!(gw.get("/hello").status, 200, "the gateway stopped serving");
}

#[test]
fn hostile_paths_and_headers_never_crash_the_filter() {
    assert_survives(hostile_requests());
}

/// Header values are bytes, not UTF-8: Envoy forwards `\xff` in a value.
#[test]
fn header_values_that_are_not_utf8_never_crash_the_filter() {
    assert_survives(vec![
        b"GET /hello HTTP/1.1\r\nHost: h\r\nx-any: \xff\xfe\r\n\r\n".to_vec(),
        b"GET /hello HTTP/1.1\r\nHost: h\r\nx-wasp-route: \xff\r\n\r\n".to_vec(),
    ]);
}
