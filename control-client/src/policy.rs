//! What a callout's outcome means, independent of the call: a protobuf answer, a network
//! failure (no response, no `:status`, any 5xx — Envoy reports a connect failure as a
//! synthetic 503 and a timeout as 504), or a rejection (any other non-200, e.g. a 401 for a
//! bad token) which ESPv2 turns into a 500 for the client whatever the fail policy. Also the
//! retry rule (network failures only, up to the configured retries) and a throttle that logs
//! transport failures at most once per interval, with counts. A 200 whose body is oversized
//! (or, found by the flow, not the expected protobuf) is a bad answer: the control service is
//! broken, so the fail policy applies as for an outage, without retrying.

use crate::callout::{CallKind, CalloutResult, MAX_ANSWER_BYTES};
use crate::config::{CallSettings, FailPolicy};
use crate::reply::{Reply, RpcCode};

/// Body bytes quoted in an error message at most (the body is the control service's, not
/// the client's; keep replies and logs short).
const QUOTED_BODY_MAX: usize = 200;

/// A callout's outcome class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTP 200: the body is the protobuf answer.
    Answer(Vec<u8>),
    /// The control service could not be reached or failed (retried; then the fail policy).
    NetworkFailure(String),
    /// The control service refused the call (non-5xx error): 500 INTERNAL, never retried.
    Rejected(Reply),
    /// A 200 the filter cannot use (oversized): the fail policy, never retried.
    BadAnswer(String),
}

/// Classifies a host result.
pub fn classify(result: CalloutResult) -> Transport {
    match result {
        CalloutResult::Failed(reason) => Transport::NetworkFailure(format!(
            "Calling Google Service Control API failed with: {reason}"
        )),
        CalloutResult::Response { status: None, .. } => Transport::NetworkFailure(
            "Calling Google Service Control API failed with: no :status in the response".into(),
        ),
        CalloutResult::Response {
            status: Some(200),
            body,
        } => Transport::Answer(body),
        CalloutResult::Response {
            status: Some(status),
            body,
        } => {
            let text = format!(
                "Calling Google Service Control API failed with: {status} and body: {}",
                quoted(&body)
            );
            if (500..600).contains(&status) {
                Transport::NetworkFailure(text)
            } else {
                Transport::Rejected(Reply::coded(RpcCode::Internal, &text))
            }
        }
        CalloutResult::Oversized { status, body_size } => {
            let text = format!(
                "Calling Google Service Control API failed with: {} and a body of {body_size} bytes, over the {MAX_ANSWER_BYTES}-byte limit",
                status.map_or_else(|| "no :status".to_string(), |s| s.to_string())
            );
            match status {
                Some(200) => Transport::BadAnswer(text),
                Some(status) if !(500..600).contains(&status) => {
                    Transport::Rejected(Reply::coded(RpcCode::Internal, &text))
                }
                _ => Transport::NetworkFailure(text),
            }
        }
    }
}

fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut end = text.len().min(QUOTED_BODY_MAX);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default().to_string()
}

/// Whether a call that failed on the network at attempt `attempt` (1-based) is tried again.
pub fn should_retry(settings: CallSettings, attempt: u32) -> bool {
    attempt <= settings.retries
}

/// What a request gets when Check or AllocateQuota failed on the network (after retries).
pub fn on_network_failure(policy: FailPolicy, detail: &str) -> Option<Reply> {
    match policy {
        FailPolicy::Open => None,
        FailPolicy::Closed => Some(Reply::coded(RpcCode::Unavailable, detail)),
    }
}

/// Logs transport failures at most once per interval: the first failure logs at once, later
/// ones are counted and summarised when the interval has passed.
#[derive(Debug, Clone)]
pub struct FailureLog {
    interval_secs: u64,
    last_logged_at: Option<u64>,
    unlogged: [u64; 3],
    /// Every failure since start, per kind (check, quota, report), for counters.
    pub totals: [u64; 3],
}

impl FailureLog {
    pub fn new(interval_secs: u64) -> FailureLog {
        FailureLog {
            interval_secs,
            last_logged_at: None,
            unlogged: [0; 3],
            totals: [0; 3],
        }
    }

    /// Counts a failure; returns the line to log, if one is due.
    pub fn note(&mut self, kind: CallKind, detail: &str, now_secs: u64) -> Option<String> {
        let slot = match kind {
            CallKind::Check => 0,
            CallKind::Quota => 1,
            CallKind::Report => 2,
        };
        for counts in [&mut self.unlogged, &mut self.totals] {
            if let Some(count) = counts.get_mut(slot) {
                *count = count.saturating_add(1);
            }
        }
        let due = self
            .last_logged_at
            .is_none_or(|last| now_secs >= last.saturating_add(self.interval_secs));
        if !due {
            return None;
        }
        let [check, quota, report] = self.unlogged;
        self.unlogged = [0; 3];
        self.last_logged_at = Some(now_secs);
        Some(format!(
            "service control failed: {detail} (failed calls since the last message: check {check}, allocateQuota {quota}, report {report})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> CalloutResult {
        CalloutResult::Response {
            status: Some(status),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_200_is_an_answer() {
        assert_eq!(
            classify(response(200, "x")),
            Transport::Answer(b"x".to_vec())
        );
    }

    #[test]
    fn no_status_5xx_and_failed_calls_are_network_failures() {
        for result in [
            CalloutResult::Response {
                status: None,
                body: vec![],
            },
            CalloutResult::Failed("dispatch failed: BadArgument".into()),
            response(503, "upstream connect error"),
            response(504, "upstream request timeout"),
        ] {
            assert!(
                matches!(classify(result.clone()), Transport::NetworkFailure(_)),
                "{result:?}"
            );
        }
        assert_eq!(
            classify(response(504, "upstream request timeout")),
            Transport::NetworkFailure(
                "Calling Google Service Control API failed with: 504 and body: upstream request timeout"
                    .into()
            )
        );
    }

    #[test]
    fn other_errors_are_internal_500s() {
        let Transport::Rejected(reply) = classify(response(403, "service control is not enabled"))
        else {
            panic!("a 403 is a rejection");
        };
        assert_eq!(reply.status, 500);
        assert_eq!(
            reply.message,
            "INTERNAL: Calling Google Service Control API failed with: 403 and body: service control is not enabled"
        );
        let Transport::Rejected(long) = classify(response(400, &"é".repeat(500))) else {
            panic!("a 400 is a rejection");
        };
        assert!(long.message.len() < 300);
    }

    #[test]
    fn retries_follow_the_settings() {
        let check = CallSettings {
            timeout_ms: 1000,
            retries: 3,
        };
        assert!((1..=3).all(|attempt| should_retry(check, attempt)));
        assert!(!should_retry(check, 4));
        let none = CallSettings {
            timeout_ms: 1000,
            retries: 0,
        };
        assert!(!should_retry(none, 1));
    }

    #[test]
    fn fail_policy() {
        assert_eq!(on_network_failure(FailPolicy::Open, "x"), None);
        let reply = on_network_failure(
            FailPolicy::Closed,
            "Calling Google Service Control API failed with: 503 and body: b",
        )
        .unwrap();
        assert_eq!(reply.status, 503);
        assert!(reply
            .message
            .starts_with("UNAVAILABLE: Calling Google Service Control API"));
    }

    #[test]
    fn failures_are_logged_once_per_interval_with_counts() {
        let mut log = FailureLog::new(60);
        assert!(log.note(CallKind::Check, "a", 1000).is_some());
        assert!(log.note(CallKind::Check, "a", 1001).is_none());
        assert!(log.note(CallKind::Quota, "a", 1059).is_none());
        let line = log.note(CallKind::Report, "boom", 1060).unwrap();
        assert!(line.contains("boom"), "{line}");
        assert!(
            line.contains("check 1, allocateQuota 1, report 1"),
            "{line}"
        );
        assert_eq!(log.totals, [2, 1, 1]);
    }
}
