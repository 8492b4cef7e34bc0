//! AllocateQuota: the request for an operation's `x-google-quota` metric costs and what the
//! answer means. Mode `NORMAL` by default: a request that does not fit is refused and consumes
//! nothing (all metrics or none), so with costs > 1 the 429 comes exactly when the next call
//! would pass the limit. ESPv2 sends `BEST_EFFORT` and lets a request through while the
//! allocation is in flight; that overshoots, so here every request waits for its allocation.
//!
//! Caching: grants are never cached (each request is charged). A `RESOURCE_EXHAUSTED` denial
//! is kept per (consumer, operation) until its one-minute window ends: usage only grows within
//! a window, so the same cost cannot fit again before then. Other operations with a smaller
//! cost still ask. (The window end is read on the gateway's clock; a gateway clock behind the
//! control service's extends a denial by that skew.)

use crate::check_cache::MAX_CACHED_KEY_LEN;
use crate::config::{ControlClientConfig, QuotaModeSetting, QuotaSettings};
use crate::labels::RequestFacts;
use crate::reply::{Reply, RpcCode};
use std::collections::{BTreeMap, HashMap};
use wasp_servicecontrol::quota_error::Code;
use wasp_servicecontrol::quota_operation::QuotaMode;
use wasp_servicecontrol::{
    AllocateQuotaRequest, AllocateQuotaResponse, MetricValueSet, QuotaOperation,
};

/// Quota windows are one minute (`1/min/{project}`).
pub const WINDOW_SECS: u64 = 60;

/// Seconds from `now_secs` until its window ends (1..=60): when a denied cost can fit again.
pub fn seconds_to_window_end(now_secs: u64) -> u64 {
    WINDOW_SECS.saturating_sub(now_secs % WINDOW_SECS)
}

/// The quota consumer: the key when one was sent, else the producer project (ESPv2).
pub fn consumer_id(key: Option<&str>, producer_project_id: &str) -> String {
    match key {
        Some(key) => format!("api_key:{key}"),
        None => format!("project:{producer_project_id}"),
    }
}

/// Builds the AllocateQuotaRequest. Costs of 0 or less count 1 (ESPv2).
pub fn quota_request(
    config: &ControlClientConfig,
    operation_name: &str,
    operation_id: &str,
    consumer_id: &str,
    metric_costs: &BTreeMap<String, i64>,
    facts: &RequestFacts,
) -> AllocateQuotaRequest {
    let mode = match config.quota_settings.mode {
        QuotaModeSetting::Normal => QuotaMode::Normal,
        QuotaModeSetting::BestEffort => QuotaMode::BestEffort,
    };
    AllocateQuotaRequest {
        service_name: config.service_name.clone(),
        service_config_id: config.service_config_id.clone(),
        allocate_operation: Some(QuotaOperation {
            operation_id: operation_id.to_string(),
            method_name: operation_name.to_string(),
            consumer_id: consumer_id.to_string(),
            labels: facts.quota_labels(&config.service_agent),
            quota_metrics: metric_costs
                .iter()
                .map(|(metric, cost)| MetricValueSet::int64(metric.clone(), (*cost).max(1)))
                .collect(),
            quota_mode: mode as i32,
        }),
    }
}

/// What an AllocateQuotaResponse means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaOutcome {
    Granted,
    /// Over the limit (429); cacheable until the window ends.
    Exhausted(Reply),
    /// Another quota error (403 / 400 / 500 as ESPv2 maps them).
    Denied(Reply),
}

/// Interprets the answer; the first error decides (ESPv2).
pub fn interpret(response: &AllocateQuotaResponse) -> QuotaOutcome {
    let Some(error) = response.allocate_errors.first() else {
        return QuotaOutcome::Granted;
    };
    let description = error.description.as_str();
    match Code::try_from(error.code) {
        Ok(Code::ResourceExhausted) => {
            QuotaOutcome::Exhausted(Reply::coded(RpcCode::ResourceExhausted, description))
        }
        Ok(Code::BillingNotActive) => {
            QuotaOutcome::Denied(Reply::coded(RpcCode::PermissionDenied, description))
        }
        Ok(Code::ProjectDeleted | Code::ApiKeyInvalid | Code::ApiKeyExpired) => {
            QuotaOutcome::Denied(Reply::coded(RpcCode::InvalidArgument, description))
        }
        _ => QuotaOutcome::Denied(Reply::coded(RpcCode::Internal, description)),
    }
}

/// One VM's cache of quota denials, per (consumer id, operation), until the window ends.
#[derive(Debug, Clone)]
pub struct DenialCache {
    settings: QuotaSettings,
    entries: HashMap<(String, String), (Reply, u64)>,
}

impl DenialCache {
    pub fn new(settings: QuotaSettings) -> DenialCache {
        DenialCache {
            settings,
            entries: HashMap::new(),
        }
    }

    /// The cached 429 for this consumer and operation, if its window has not ended, with
    /// `Retry-After` counting down to the window's end.
    pub fn lookup(&self, consumer_id: &str, operation: &str, now_secs: u64) -> Option<Reply> {
        self.entries
            .get(&(consumer_id.to_string(), operation.to_string()))
            .filter(|(_, until)| now_secs < *until)
            .map(|(reply, until)| reply.clone().retry_after(until.saturating_sub(now_secs)))
    }

    pub fn store(&mut self, consumer_id: &str, operation: &str, reply: Reply, now_secs: u64) {
        let huge_key = consumer_id.len() > MAX_CACHED_KEY_LEN.saturating_add("api_key:".len());
        if !self.settings.cache_denials || self.settings.max_denials == 0 || huge_key {
            return;
        }
        if self.entries.len() >= self.settings.max_denials {
            self.entries.retain(|_, (_, until)| now_secs < *until);
        }
        if self.entries.len() >= self.settings.max_denials {
            return; // Full of live denials: asking again is always correct, only slower.
        }
        let window_end = now_secs.saturating_add(seconds_to_window_end(now_secs));
        self.entries.insert(
            (consumer_id.to_string(), operation.to_string()),
            (reply, window_end),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_servicecontrol::QuotaError;

    fn error(code: i32, description: &str) -> AllocateQuotaResponse {
        AllocateQuotaResponse {
            allocate_errors: vec![QuotaError {
                code,
                description: description.into(),
                ..QuotaError::default()
            }],
            ..AllocateQuotaResponse::default()
        }
    }

    #[test]
    fn request_carries_costs_mode_and_consumer() {
        let config = crate::test_config();
        let costs: BTreeMap<String, i64> =
            [("reads".to_string(), 3), ("writes".to_string(), 0)].into();
        let request = quota_request(
            &config,
            "1.shop.Read",
            "op-1",
            &consumer_id(Some("k"), "prod"),
            &costs,
            &RequestFacts::default(),
        );
        let op = request.allocate_operation.unwrap();
        assert_eq!(op.consumer_id, "api_key:k");
        assert_eq!(op.method_name, "1.shop.Read");
        assert_eq!(op.quota_mode(), QuotaMode::Normal);
        let charged: Vec<(String, i64)> = op
            .quota_metrics
            .iter()
            .map(|set| (set.metric_name.clone(), set.int64_sum()))
            .collect();
        assert_eq!(charged, vec![("reads".into(), 3), ("writes".into(), 1)]);
        assert_eq!(consumer_id(None, "prod"), "project:prod");
    }

    #[test]
    fn best_effort_when_configured() {
        let mut config = crate::test_config();
        config.quota_settings.mode = QuotaModeSetting::BestEffort;
        let request = quota_request(
            &config,
            "op",
            "id",
            "project:p",
            &BTreeMap::new(),
            &RequestFacts::default(),
        );
        assert_eq!(
            request.allocate_operation.unwrap().quota_mode(),
            QuotaMode::BestEffort
        );
    }

    #[test]
    fn outcomes_follow_espv2() {
        assert_eq!(
            interpret(&AllocateQuotaResponse::default()),
            QuotaOutcome::Granted
        );
        assert_eq!(
            interpret(&error(
                Code::ResourceExhausted as i32,
                "Quota exceeded for quota metric 'r'"
            )),
            QuotaOutcome::Exhausted(Reply::new(
                429,
                "RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'r'"
            ))
        );
        assert_eq!(
            interpret(&error(Code::ResourceExhausted as i32, "")),
            QuotaOutcome::Exhausted(Reply::new(429, "RESOURCE_EXHAUSTED: "))
        );
        assert_eq!(
            interpret(&error(Code::BillingNotActive as i32, "billing")),
            QuotaOutcome::Denied(Reply::new(403, "PERMISSION_DENIED: billing"))
        );
        for code in [
            Code::ProjectDeleted,
            Code::ApiKeyInvalid,
            Code::ApiKeyExpired,
        ] {
            assert_eq!(
                interpret(&error(code as i32, "d")),
                QuotaOutcome::Denied(Reply::new(400, "INVALID_ARGUMENT: d"))
            );
        }
        assert_eq!(
            interpret(&error(4242, "odd")),
            QuotaOutcome::Denied(Reply::new(500, "INTERNAL: odd"))
        );
    }

    #[test]
    fn the_window_ends_on_the_minute() {
        assert_eq!(seconds_to_window_end(6_000_000), 60);
        assert_eq!(seconds_to_window_end(6_000_001), 59);
        assert_eq!(seconds_to_window_end(6_000_059), 1);
    }

    #[test]
    fn denials_last_until_the_window_ends() {
        let mut cache = DenialCache::new(QuotaSettings::default());
        let reply = Reply::new(429, "RESOURCE_EXHAUSTED: x");
        cache.store("api_key:k", "op", reply.clone(), 6_000_030);
        // Retry-After counts down to the window's end, never below 1.
        let at = |now| cache.lookup("api_key:k", "op", now);
        assert_eq!(at(6_000_031), Some(reply.clone().retry_after(29)));
        assert_eq!(at(6_000_059), Some(reply.retry_after(1)));
        assert_eq!(cache.lookup("api_key:k", "op", 6_000_060), None);
        assert_eq!(cache.lookup("api_key:k", "other", 6_000_031), None);
        assert_eq!(cache.lookup("api_key:j", "op", 6_000_031), None);
    }

    #[test]
    fn denial_cache_can_be_off_and_is_bounded() {
        let off = QuotaSettings {
            cache_denials: false,
            ..QuotaSettings::default()
        };
        let mut cache = DenialCache::new(off);
        cache.store("c", "op", Reply::new(429, "x"), 0);
        assert_eq!(cache.lookup("c", "op", 1), None);

        let small = QuotaSettings {
            max_denials: 1,
            ..QuotaSettings::default()
        };
        let mut cache = DenialCache::new(small);
        cache.store("a", "op", Reply::new(429, "x"), 0);
        cache.store("b", "op", Reply::new(429, "x"), 1);
        assert!(cache.lookup("a", "op", 2).is_some());
        assert!(cache.lookup("b", "op", 2).is_none());
        // Once a's window ended it makes room.
        cache.store("b", "op", Reply::new(429, "x"), 61);
        assert!(cache.lookup("b", "op", 62).is_some());
    }
}
