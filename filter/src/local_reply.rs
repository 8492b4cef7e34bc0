//! The replies the filter sends itself instead of forwarding, one variant per
//! reason, each with a fixed status and message. Bodies are ESPv2's JSON,
//! `{"code":<status>,"message":"<message>"}`, so clients see no difference.

use serde::Serialize;
use wasp_jwt::JwtError;

/// Content type of every local reply.
pub const CONTENT_TYPE: &str = "application/json";

/// Why the filter answers a request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalReply {
    /// No template matches the path.
    NotFound,
    /// A template matches the path, but not with this method.
    MethodNotAllowed { template: String },
    /// An OPTIONS request no operation matches while a CORS preset is on:
    /// Envoy's CORS filter already answered every valid preflight.
    PreflightRejected,
    /// `X-HTTP-Method-Override` is not an HTTP method token.
    InvalidMethodOverride,
    /// Backend auth is on but no ID token could be had for the audience.
    TokenNotFound { audience: String },
    /// The filter has no usable configuration (Envoy should have refused it);
    /// fail closed rather than let the request past unchecked.
    NotConfigured,
    /// Envoy refused a header change the forward decision needs.
    Internal,
    /// The JWT stage denied the request; `realm` (the service name) goes into
    /// `WWW-Authenticate` instead of the request URL, which would echo client input.
    Jwt { error: JwtError, realm: String },
    /// The API-key / quota stage denied the request (ESPv2's status and message, e.g.
    /// 400 `INVALID_ARGUMENT: API key not valid. Please pass a valid API key.`); a quota 429
    /// also says when its window ends in `Retry-After`.
    ServiceControl {
        status: u16,
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// The request names its host twice, or `Host` and `:authority` disagree: which one a
    /// backend or a later proxy would believe is unknowable, so it is refused before matching.
    AmbiguousHost,
    /// `--dependency-error-behavior block-init-on-any-error`: a dependency (JWT keys, an ID
    /// or access token) has not answered yet, so nothing is served.
    Starting { waiting_for: String },
}

#[derive(Serialize)]
struct Body<'a> {
    code: u32,
    message: &'a str,
}

impl LocalReply {
    /// The HTTP status.
    pub fn status(&self) -> u32 {
        match self {
            LocalReply::NotFound => 404,
            LocalReply::MethodNotAllowed { .. } => 405,
            LocalReply::PreflightRejected
            | LocalReply::InvalidMethodOverride
            | LocalReply::AmbiguousHost => 400,
            LocalReply::TokenNotFound { .. } | LocalReply::NotConfigured | LocalReply::Internal => {
                500
            }
            LocalReply::Jwt { error, .. } => u32::from(error.status()),
            LocalReply::ServiceControl { status, .. } => u32::from(*status),
            LocalReply::Starting { .. } => 503,
        }
    }

    /// The human-readable message, ESPv2's wording where ESPv2 has the case.
    pub fn message(&self) -> String {
        match self {
            LocalReply::NotFound => "The current request is not defined by this API.".into(),
            LocalReply::MethodNotAllowed { template } => format!(
                "The current request is matched to the defined url template \"{template}\" but its http method is not allowed"
            ),
            LocalReply::PreflightRejected => "The CORS preflight request is missing one (or more) of the following required headers [Origin, Access-Control-Request-Method] or has an unmatched Origin header.".into(),
            LocalReply::InvalidMethodOverride => {
                "INVALID_ARGUMENT: X-HTTP-Method-Override must be an HTTP method token.".into()
            }
            LocalReply::TokenNotFound { audience } => format!("Token not found for audience: {audience}"),
            LocalReply::NotConfigured => "INTERNAL: The API gateway has no valid configuration.".into(),
            LocalReply::Internal => "INTERNAL: The API gateway could not process the request.".into(),
            LocalReply::Jwt { error, .. } => error.message().into(),
            LocalReply::ServiceControl { message, .. } => message.clone(),
            LocalReply::AmbiguousHost => {
                "INVALID_ARGUMENT: The request must name exactly one host: one Host header, the same as :authority.".into()
            }
            LocalReply::Starting { waiting_for } => {
                format!("UNAVAILABLE: The API gateway is starting: waiting for {waiting_for}.")
            }
        }
    }

    /// Headers besides `content-type`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            // Not a credentials problem: when to come back, not how to authenticate.
            LocalReply::Jwt {
                error: JwtError::KeysNotLoaded { retry_after_secs },
                ..
            } => vec![("retry-after", retry_after_secs.to_string())],
            LocalReply::Jwt { error, realm } => {
                vec![("www-authenticate", error.www_authenticate(realm))]
            }
            LocalReply::ServiceControl {
                retry_after_secs: Some(secs),
                ..
            } => vec![("retry-after", secs.to_string())],
            // Dependencies are retried every 2 s at most; a probe may come back soon.
            LocalReply::Starting { .. } => vec![("retry-after", "1".to_string())],
            _ => Vec::new(),
        }
    }

    /// Why, as one word for logs (`wasp.denial`, the JSON access log's `denial`): never the
    /// message, which may echo client input.
    pub fn reason(&self) -> &'static str {
        match self {
            LocalReply::NotFound => "not_found",
            LocalReply::MethodNotAllowed { .. } => "method_not_allowed",
            LocalReply::PreflightRejected => "preflight_rejected",
            LocalReply::InvalidMethodOverride => "bad_method_override",
            LocalReply::AmbiguousHost => "ambiguous_host",
            LocalReply::TokenNotFound { .. } => "id_token_unavailable",
            LocalReply::NotConfigured | LocalReply::Internal => "internal",
            LocalReply::Starting { .. } => "starting",
            LocalReply::Jwt { error, .. } => match error {
                JwtError::Missing => "jwt_missing",
                JwtError::Expired => "jwt_expired",
                JwtError::AudienceNotAllowed => "jwt_audience",
                JwtError::ScopeNotAllowed | JwtError::ClientIdNotAllowed => "jwt_forbidden",
                JwtError::KeysNotLoaded { .. } | JwtError::JwksFetchFailed => {
                    "jwt_keys_unavailable"
                }
                _ => "jwt_invalid",
            },
            LocalReply::ServiceControl {
                status, message, ..
            } => match status {
                401 => "key_missing",
                429 => "quota_exceeded",
                503 => "control_failed_closed",
                400 if message.contains("API key") => "key_invalid",
                403 => "key_denied",
                _ => "control_refused",
            },
        }
    }

    /// The JSON body, with `message` escaped by serde_json.
    pub fn body(&self) -> String {
        let message = self.message();
        let body = Body {
            code: self.status(),
            message: &message,
        };
        // Serializing a struct of a number and a string cannot fail; the
        // fallback keeps the reply valid JSON anyway.
        serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"code\":{}}}", self.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_word_per_cause() {
        let jwt = |error| LocalReply::Jwt {
            error,
            realm: "s".into(),
        };
        let control = |status, message: &str| LocalReply::ServiceControl {
            status,
            message: message.into(),
            retry_after_secs: None,
        };
        let cases = [
            (LocalReply::NotFound, "not_found"),
            (jwt(JwtError::Missing), "jwt_missing"),
            (jwt(JwtError::Expired), "jwt_expired"),
            (jwt(JwtError::AudienceNotAllowed), "jwt_audience"),
            (jwt(JwtError::VerificationFailed), "jwt_invalid"),
            (control(401, "UNAUTHENTICATED: ..."), "key_missing"),
            (
                control(
                    400,
                    "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
                ),
                "key_invalid",
            ),
            (
                control(429, "RESOURCE_EXHAUSTED: Quota exceeded"),
                "quota_exceeded",
            ),
            (control(503, "UNAVAILABLE: ..."), "control_failed_closed"),
        ];
        for (reply, reason) in cases {
            assert_eq!(reply.reason(), reason, "{reply:?}");
        }
    }

    #[test]
    fn not_found_is_espv2s_body() {
        let reply = LocalReply::NotFound;
        assert_eq!(reply.status(), 404);
        assert_eq!(
            reply.body(),
            r#"{"code":404,"message":"The current request is not defined by this API."}"#
        );
    }

    #[test]
    fn method_not_allowed_names_the_template_escaped() {
        let reply = LocalReply::MethodNotAllowed {
            template: "/v1/shelves/{shelf}".into(),
        };
        assert_eq!(reply.status(), 405);
        assert_eq!(
            reply.body(),
            r#"{"code":405,"message":"The current request is matched to the defined url template \"/v1/shelves/{shelf}\" but its http method is not allowed"}"#
        );
        let odd = LocalReply::MethodNotAllowed {
            template: "/a\"b\\c".into(),
        };
        let parsed: serde_json::Value = serde_json::from_str(&odd.body()).unwrap();
        assert_eq!(parsed["message"].as_str().unwrap(), odd.message());
        assert!(odd.message().contains("\"/a\"b\\c\""));
    }

    #[test]
    fn espv2_cors_and_backend_auth_bodies() {
        assert_eq!(
            LocalReply::PreflightRejected.body(),
            r#"{"code":400,"message":"The CORS preflight request is missing one (or more) of the following required headers [Origin, Access-Control-Request-Method] or has an unmatched Origin header."}"#
        );
        let reply = LocalReply::TokenNotFound {
            audience: "https://b.run.app/x".into(),
        };
        assert_eq!(
            reply.body(),
            r#"{"code":500,"message":"Token not found for audience: https://b.run.app/x"}"#
        );
        assert_eq!(LocalReply::InvalidMethodOverride.status(), 400);
    }

    #[test]
    fn jwt_denials_are_espv2_bodies_with_www_authenticate() {
        let missing = LocalReply::Jwt {
            error: JwtError::Missing,
            realm: "bookstore.example.com".into(),
        };
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.body(), r#"{"code":401,"message":"Jwt is missing"}"#);
        assert_eq!(
            missing.headers(),
            vec![(
                "www-authenticate",
                r#"Bearer realm="bookstore.example.com""#.to_string()
            )]
        );
        let audience = LocalReply::Jwt {
            error: JwtError::AudienceNotAllowed,
            realm: "s".into(),
        };
        assert_eq!(
            audience.body(),
            r#"{"code":403,"message":"Audiences in Jwt are not allowed"}"#
        );
        assert!(audience.headers()[0].1.contains("invalid_token"));
        assert!(LocalReply::NotFound.headers().is_empty());
        let not_loaded = LocalReply::Jwt {
            error: JwtError::KeysNotLoaded {
                retry_after_secs: 4,
            },
            realm: "s".into(),
        };
        assert_eq!(not_loaded.status(), 503);
        assert_eq!(not_loaded.headers(), vec![("retry-after", "4".to_string())]);
    }

    #[test]
    fn service_control_denials_keep_espv2s_status_and_message() {
        let invalid = LocalReply::ServiceControl {
            status: 400,
            message: "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.".into(),
            retry_after_secs: None,
        };
        assert_eq!(invalid.status(), 400);
        assert_eq!(
            invalid.body(),
            r#"{"code":400,"message":"INVALID_ARGUMENT: API key not valid. Please pass a valid API key."}"#
        );
        assert!(invalid.headers().is_empty());
        let exhausted = LocalReply::ServiceControl {
            status: 429,
            message: "RESOURCE_EXHAUSTED: Quota exceeded".into(),
            retry_after_secs: Some(17),
        };
        assert_eq!(
            exhausted.body(),
            r#"{"code":429,"message":"RESOURCE_EXHAUSTED: Quota exceeded"}"#
        );
        assert_eq!(exhausted.headers(), vec![("retry-after", "17".to_string())]);
    }

    #[test]
    fn internal_failures_are_500_json() {
        for reply in [LocalReply::NotConfigured, LocalReply::Internal] {
            let parsed: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
            assert_eq!(parsed["code"], 500);
            assert!(parsed["message"]
                .as_str()
                .unwrap()
                .starts_with("INTERNAL: "));
        }
    }
}
