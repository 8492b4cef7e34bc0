//! The `endpoints_log` entry each reported request carries, as ESPv2's `FillLogEntry` writes
//! it, and the `/credential_id` of JWT callers. Cloud Logging's Endpoints view and the
//! consumer pages read these when the endpoint is Google's Service Control.

use std::collections::BTreeMap;

use wasp_servicecontrol::log_entry::Payload;
use wasp_servicecontrol::prost_types::{value::Kind, Value};
use wasp_servicecontrol::{Duration, HttpRequest, LogEntry, LogSeverity, Struct};

use crate::check::KeyState;
use crate::timestamp;

/// The log name ESPv2 writes under.
pub const LOG_NAME: &str = "endpoints_log";

/// What one request tells its log entry, beyond its report record's code, sizes and times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    /// The request path without its query: a query may carry an API key or a token, and the
    /// key has its own field.
    pub path: String,
    /// The `caller_ip` the Check used.
    pub caller_ip: String,
    pub referer: String,
    /// `None`: no key was looked for (ESPv2's NOT CHECKED).
    pub key_state: Option<KeyState>,
    /// The key the request sent, when one was checked.
    pub api_key: Option<String>,
    /// Envoy's `response.code_details` (`via_upstream`, `ext_authz_denied`, ...).
    pub response_code_detail: String,
}

/// Service-level facts every entry repeats.
#[derive(Debug, Clone, Copy)]
pub struct ServiceFacts<'a> {
    pub service_config_id: &'a str,
    pub service_agent: &'a str,
    pub producer_project_id: &'a str,
    pub service_name: &'a str,
}

/// ESPv2's spelling of a key state in the log payload.
pub fn key_state_name(state: Option<KeyState>) -> &'static str {
    match state {
        None | Some(KeyState::NotChecked) => "NOT CHECKED",
        Some(KeyState::Verified) => "VERIFIED",
        Some(KeyState::Invalid) => "INVALID",
        Some(KeyState::NotEnabled) => "NOT ENABLED",
    }
}

/// One finished request as its log entry.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub operation: &'a str,
    pub response_code: u16,
    pub start_ms: u64,
    pub end_ms: u64,
    pub request_size: u64,
    pub response_size: u64,
    pub log: &'a RequestLog,
}

/// The entry: INFO below 400, ERROR from 400 on, the HTTP facts in `http_request`, ESPv2's
/// fields in the struct payload.
pub fn log_entry(service: ServiceFacts, request: Finished) -> LogEntry {
    let log = request.log;
    let latency_ms = request.end_ms.saturating_sub(request.start_ms);
    let severity = if request.response_code >= 400 {
        LogSeverity::Error
    } else {
        LogSeverity::Info
    };
    let mut fields = BTreeMap::new();
    let mut text = |name: &str, value: &str| {
        fields.insert(name.to_string(), string(value));
    };
    text("api_method", request.operation);
    text("api_name", service.service_name);
    text("api_key_state", key_state_name(log.key_state));
    text("service_config_id", service.service_config_id);
    text("service_agent", service.service_agent);
    text("producer_project_id", service.producer_project_id);
    text("log_message", &format!("{} is called", request.operation));
    text("response_code_detail", &log.response_code_detail);
    if let Some(key) = &log.api_key {
        text("api_key", key);
    }
    fields.insert(
        "http_status_code".to_string(),
        Value {
            kind: Some(Kind::NumberValue(f64::from(request.response_code))),
        },
    );
    fields.insert(
        "timestamp".to_string(),
        Value {
            kind: Some(Kind::NumberValue(request.end_ms as f64 / 1000.0)),
        },
    );
    LogEntry {
        name: LOG_NAME.to_string(),
        timestamp: Some(timestamp(request.end_ms)),
        severity: severity as i32,
        http_request: Some(HttpRequest {
            request_method: log.method.clone(),
            request_url: log.path.clone(),
            request_size: i64::try_from(request.request_size).unwrap_or(i64::MAX),
            status: i32::from(request.response_code),
            response_size: i64::try_from(request.response_size).unwrap_or(i64::MAX),
            remote_ip: log.caller_ip.clone(),
            referer: log.referer.clone(),
            latency: Some(Duration {
                seconds: i64::try_from(latency_ms / 1000).unwrap_or(i64::MAX),
                nanos: i32::try_from((latency_ms % 1000).saturating_mul(1_000_000)).unwrap_or(0),
            }),
            protocol: "http".to_string(),
            ..HttpRequest::default()
        }),
        payload: Some(Payload::StructPayload(Struct { fields })),
        ..LogEntry::default()
    }
}

fn string(value: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(value.to_string())),
    }
}

/// ESPv2's `/credential_id` for a caller that presented a verified JWT:
/// `jwtauth:issuer=<base64url(iss)>&audience=<base64url(aud)>`, from the token's payload
/// (the `X-Endpoint-API-UserInfo` value: base64url of the claims JSON, padded or not).
/// The audience is the token's first; without one the `&audience=` part is left out.
pub fn jwt_credential_id(userinfo: &str) -> Option<String> {
    use base64::Engine;
    let trimmed = userinfo.trim_end_matches('=');
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let issuer = claims.get("iss")?.as_str()?;
    let audience = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => Some(aud.as_str()),
        Some(serde_json::Value::Array(list)) => list.first().and_then(serde_json::Value::as_str),
        _ => None,
    };
    let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let mut id = format!("jwtauth:issuer={}", encode(issuer));
    if let Some(audience) = audience {
        id.push_str("&audience=");
        id.push_str(&encode(audience));
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn userinfo(claims: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims)
    }

    #[test]
    fn jwt_callers_are_named_by_issuer_and_first_audience() {
        assert_eq!(
            jwt_credential_id(&userinfo(
                r#"{"iss":"https://issuer.example","aud":["api-1","api-2"],"sub":"u"}"#
            ))
            .as_deref(),
            Some("jwtauth:issuer=aHR0cHM6Ly9pc3N1ZXIuZXhhbXBsZQ&audience=YXBpLTE")
        );
        assert_eq!(
            jwt_credential_id(&userinfo(r#"{"iss":"i","aud":"a"}"#)).as_deref(),
            Some("jwtauth:issuer=aQ&audience=YQ")
        );
        // Padded userinfo (--jwt-pad-forward-payload-header) reads the same.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(r#"{"iss":"i","aud":"a"}"#);
        assert_eq!(
            jwt_credential_id(&padded).as_deref(),
            Some("jwtauth:issuer=aQ&audience=YQ")
        );
        assert_eq!(
            jwt_credential_id(&userinfo(r#"{"iss":"i"}"#)).as_deref(),
            Some("jwtauth:issuer=aQ")
        );
        assert_eq!(jwt_credential_id(&userinfo(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_credential_id("%%%"), None);
    }

    #[test]
    fn an_entry_carries_espv2s_fields() {
        let log = RequestLog {
            method: "GET".into(),
            path: "/v1/shelves".into(),
            caller_ip: "10.0.0.7".into(),
            referer: "https://app.example/".into(),
            key_state: Some(KeyState::Invalid),
            api_key: Some("bad-key".into()),
            response_code_detail: "via_upstream".into(),
        };
        let entry = log_entry(
            ServiceFacts {
                service_config_id: "cfg-1",
                service_agent: "wasp/0.1.0",
                producer_project_id: "proj",
                service_name: "api.example.com",
            },
            Finished {
                operation: "ListShelves",
                response_code: 400,
                start_ms: 1_000,
                end_ms: 2_250,
                request_size: 10,
                response_size: 20,
                log: &log,
            },
        );
        assert_eq!(entry.name, "endpoints_log");
        assert_eq!(entry.severity, LogSeverity::Error as i32);
        let http = entry.http_request.unwrap();
        assert_eq!(
            (
                http.request_method.as_str(),
                http.request_url.as_str(),
                http.status
            ),
            ("GET", "/v1/shelves", 400)
        );
        assert_eq!(http.remote_ip, "10.0.0.7");
        assert_eq!(
            http.latency.unwrap(),
            Duration {
                seconds: 1,
                nanos: 250_000_000
            }
        );
        let Some(Payload::StructPayload(payload)) = entry.payload else {
            panic!("a struct payload");
        };
        let text = |name: &str| match &payload.fields[name].kind {
            Some(Kind::StringValue(s)) => s.clone(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(text("log_message"), "ListShelves is called");
        assert_eq!(text("api_key_state"), "INVALID");
        assert_eq!(text("api_key"), "bad-key");
        assert_eq!(text("response_code_detail"), "via_upstream");
        assert_eq!(text("service_config_id"), "cfg-1");
        assert_eq!(
            payload.fields["http_status_code"].kind,
            Some(Kind::NumberValue(400.0))
        );
    }
}
