//! One HTTP call to the control service, as a value the adapter hands to
//! `dispatch_http_call`, and what came back.

use crate::config::{CallSettings, ControlClientConfig};
use wasp_servicecontrol::{Method, CONTENT_TYPE};

/// Which Service Control call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    Check,
    Quota,
    Report,
}

impl CallKind {
    pub fn method(self) -> Method {
        match self {
            CallKind::Check => Method::Check,
            CallKind::Quota => Method::AllocateQuota,
            CallKind::Report => Method::Report,
        }
    }

    pub fn settings(self, config: &ControlClientConfig) -> CallSettings {
        match self {
            CallKind::Check => config.check,
            CallKind::Quota => config.quota,
            CallKind::Report => config.report,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CallKind::Check => "check",
            CallKind::Quota => "allocateQuota",
            CallKind::Report => "report",
        }
    }
}

/// A POST to make: `dispatch_http_call(cluster, headers, Some(body), [], timeout)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub kind: CallKind,
    pub cluster: String,
    /// Pseudo-headers first (`:method`, `:path`, `:authority`), then content type and auth.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Always positive (a zero timeout means none to Envoy).
    pub timeout_ms: u64,
    /// 1 for the first try, counting retries.
    pub attempt: u32,
}

impl Callout {
    pub fn new(config: &ControlClientConfig, kind: CallKind, body: Vec<u8>) -> Callout {
        let endpoint = &config.endpoint;
        let path = format!(
            "{}{}",
            endpoint.path_prefix.trim_end_matches('/'),
            kind.method().path(&config.service_name)
        );
        let mut headers = vec![
            (":method".to_string(), "POST".to_string()),
            (":path".to_string(), path),
            (":authority".to_string(), endpoint.authority.clone()),
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
        ];
        if let Some(token) = &endpoint.bearer_token {
            headers.push(("authorization".to_string(), format!("Bearer {token}")));
        }
        Callout {
            kind,
            cluster: endpoint.cluster.clone(),
            headers,
            body,
            timeout_ms: kind.settings(config).timeout_ms.max(1),
            attempt: 1,
        }
    }

    /// The same call again, one attempt later.
    pub fn retry(&self) -> Callout {
        Callout {
            attempt: self.attempt.saturating_add(1),
            ..self.clone()
        }
    }

    /// The `:path` header.
    pub fn path(&self) -> &str {
        self.headers
            .iter()
            .find(|(name, _)| name == ":path")
            .map_or("", |(_, value)| value.as_str())
    }
}

/// What the host reported for a callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutResult {
    /// `on_http_call_response`: the `:status` header if there was one, and the body.
    Response { status: Option<u16>, body: Vec<u8> },
    /// The call could not be made or no response came (dispatch error, torn-down stream).
    Failed(String),
    /// A response whose body is larger than [`MAX_ANSWER_BYTES`]; the host did not read it.
    Oversized {
        status: Option<u16>,
        body_size: usize,
    },
}

/// The largest Service Control answer the host reads. Check and AllocateQuota answers are
/// a few hundred bytes; a bigger one is a broken or hostile control service, and reading it
/// would cost the filter memory and time per request.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ControlClientConfig {
        ControlClientConfig::from_json(
            br#"{"service_name": "shop.example.com", "producer_project_id": "p",
                 "endpoint": {"cluster": "sc", "authority": "sc.local", "path_prefix": "/control/",
                              "bearer_token": "t0k"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn builds_the_post_for_each_kind() {
        let config = config();
        let check = Callout::new(&config, CallKind::Check, vec![1]);
        assert_eq!(check.path(), "/control/v1/services/shop.example.com:check");
        assert_eq!(check.cluster, "sc");
        assert_eq!(check.timeout_ms, 1000);
        assert!(check
            .headers
            .contains(&("authorization".into(), "Bearer t0k".into())));
        assert!(check
            .headers
            .contains(&("content-type".into(), "application/x-protobuf".into())));
        let quota = Callout::new(&config, CallKind::Quota, vec![]);
        assert_eq!(
            quota.path(),
            "/control/v1/services/shop.example.com:allocateQuota"
        );
        let report = Callout::new(&config, CallKind::Report, vec![]);
        assert_eq!(report.timeout_ms, 2000);
        assert_eq!(report.retry().retry().attempt, 3);
    }
}
