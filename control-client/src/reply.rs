//! A local reply to the client: ESPv2's status and `{"code": <status>, "message": "<CODE>: ..."}`
//! body (the HCM local-reply mapper's shape; messages are absl `Status::ToString()`).

/// A status and message the filter answers with instead of calling the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The full message, e.g. `INVALID_ARGUMENT: API key not valid. Please pass a valid API key.`
    pub message: String,
    /// `Retry-After` seconds (a quota 429: until its window ends). ESPv2 sends none; the body
    /// stays ESPv2's.
    pub retry_after_secs: Option<u64>,
}

/// 401 for an operation that requires a key when none was sent.
pub const MISSING_KEY_MESSAGE: &str = "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";

impl Reply {
    pub fn new(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The same reply, telling the client to wait `secs` (at least 1) before trying again.
    pub fn retry_after(mut self, secs: u64) -> Reply {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    /// `<CODE>: <text>` with the HTTP status of that gRPC code.
    pub fn coded(code: RpcCode, text: &str) -> Reply {
        Reply::new(code.http_status(), format!("{}: {text}", code.name()))
    }

    /// The JSON body ESPv2 sends.
    pub fn body(&self) -> String {
        serde_json::json!({ "code": self.status, "message": self.message }).to_string()
    }
}

/// The gRPC codes ESPv2's service-control replies use, with their HTTP mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
    Internal,
}

impl RpcCode {
    pub fn name(self) -> &'static str {
        match self {
            RpcCode::InvalidArgument => "INVALID_ARGUMENT",
            RpcCode::Unauthenticated => "UNAUTHENTICATED",
            RpcCode::PermissionDenied => "PERMISSION_DENIED",
            RpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            RpcCode::Unavailable => "UNAVAILABLE",
            RpcCode::Internal => "INTERNAL",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            RpcCode::InvalidArgument => 400,
            RpcCode::Unauthenticated => 401,
            RpcCode::PermissionDenied => 403,
            RpcCode::ResourceExhausted => 429,
            RpcCode::Unavailable => 503,
            RpcCode::Internal => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_escaped_json() {
        let reply = Reply::coded(RpcCode::ResourceExhausted, "quota \"x\"");
        assert_eq!(reply.status, 429);
        let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
        assert_eq!(body["code"], 429);
        assert_eq!(body["message"], "RESOURCE_EXHAUSTED: quota \"x\"");
    }

    #[test]
    fn missing_key_is_espv2s_401() {
        let reply = Reply::new(401, MISSING_KEY_MESSAGE);
        assert!(reply.body().starts_with(
            r#"{"code":401,"message":"UNAUTHENTICATED: Method doesn't allow unregistered callers"#
        ));
    }
}
