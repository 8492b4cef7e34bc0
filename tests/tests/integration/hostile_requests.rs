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

/// What a hostile request must get back.
enum Expect {
    /// Any reply that is not a filter failure (Envoy's codec may refuse a
    /// request outright with 400 or close; a wasm failure is a 500/503).
    NoFilterFailure,
    /// Exactly this status, answered by the filter itself.
    Status(u16),
}

/// Sends `requests`, checks each reply, then asserts that the filter's VM was
/// never reloaded, that Envoy logged no crash, and that the gateway still serves.
fn assert_survives(requests: Vec<(Vec<u8>, Expect)>) {
    let gw = Gateway::start(MATCHING);
    for (request, expect) in requests {
        let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
        let status = send_raw(gw.envoy.listener, &request);
        match (expect, status) {
            (Expect::NoFilterFailure, Some(status)) => {
                assert!(status != 500 && status != 503, "{shown:?} got {status}")
            }
            (Expect::NoFilterFailure, None) => {}
            (Expect::Status(expected), got) => {
                assert_eq!(got, Some(expected), "{shown:?}")
            }
        }
    }
    gw.assert_filter_alive();
    assert_eq!(gw.get("/hello").status, 200, "the gateway stopped serving");
}

#[test]
fn hostile_paths_and_headers_never_crash_the_filter() {
    let requests = hostile_requests()
        .into_iter()
        .map(|request| (request, Expect::NoFilterFailure))
        .collect();
    assert_survives(requests);
}

/// Header values are bytes, not UTF-8: Envoy accepts `\xff` in a value. The
/// filter reads every header before deciding, so its own 404 and 405 show it
/// survived (the echo backend itself cannot parse such a header, so requests
/// that reach it are not used here).
#[test]
fn header_values_that_are_not_utf8_never_crash_the_filter() {
    assert_survives(vec![
        (
            b"GET /nothing HTTP/1.1\r\nHost: h\r\nx-any: \xff\xfe\r\n\r\n".to_vec(),
            Expect::Status(404),
        ),
        (
            b"POST /hello HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\nx-any: \xff\r\n\r\n".to_vec(),
            Expect::Status(405),
        ),
        (
            b"GET /hello HTTP/1.1\r\nHost: h\r\nx-wasp-route: \xff\r\n\r\n".to_vec(),
            Expect::Status(200),
        ),
    ]);
}
