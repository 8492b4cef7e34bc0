//! Assertions phrased as what a client sees.

use crate::http::Reply;

/// The exact 404 message ESPv2 sends for a path the API does not define.
pub const NOT_DEFINED: &str = "The current request is not defined by this API.";

/// The exact 405 message ESPv2 sends for a known template and a wrong method.
pub fn method_not_allowed(template: &str) -> String {
    format!(
        "The current request is matched to the defined url template \"{template}\" but its http method is not allowed"
    )
}

/// A local reply in ESPv2's shape whose message starts with `prefix` (the rest names a
/// detail that varies, such as the error Envoy reported).
pub fn local_reply_starting(reply: &Reply, status: u16, prefix: &str) {
    assert_eq!(reply.status, status, "status; reply: {reply:?}");
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}; reply: {reply:?}"
    );
    let body = reply.json();
    assert_eq!(body["code"], status, "code; reply: {reply:?}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(prefix), "message; reply: {reply:?}");
}

/// A local reply in ESPv2's shape: `status`, `content-type: application/json`
/// and a body that parses to exactly `{"code":status,"message":message}`.
pub fn local_reply(reply: &Reply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "status; reply: {reply:?}");
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}; reply: {reply:?}"
    );
    assert_eq!(
        reply.json(),
        serde_json::json!({ "code": status, "message": message }),
        "body; reply: {reply:?}"
    );
}
