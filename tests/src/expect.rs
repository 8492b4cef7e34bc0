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
