//! What one reported operation says, as every report view reads it.
//!
//! Gateways aggregate: one reported operation may stand for several requests. The count
//! of an operation is its `serviceruntime.googleapis.com/api/producer/request_count`
//! value when present; an operation carrying only `by_consumer` metrics is ESPv2's
//! per-consumer copy of another operation and counts 0; anything else counts 1.

use wasp_servicecontrol::Operation;

pub const PRODUCER_REQUEST_COUNT: &str = "serviceruntime.googleapis.com/api/producer/request_count";
pub const RESPONSE_CODE_LABEL: &str = "/response_code";

/// How many requests one reported operation stands for.
pub fn request_count(operation: &Operation) -> u64 {
    let producer = operation
        .metric_value_sets
        .iter()
        .find(|set| set.metric_name == PRODUCER_REQUEST_COUNT);
    if let Some(set) = producer {
        return u64::try_from(set.int64_sum()).unwrap_or(0);
    }
    let by_consumer_only = !operation.metric_value_sets.is_empty()
        && operation
            .metric_value_sets
            .iter()
            .all(|set| set.metric_name.contains("/by_consumer/"));
    u64::from(!by_consumer_only)
}

/// The response code of an operation: the `/response_code` label, else the status of
/// its first log entry's HTTP request, else `unknown`.
pub fn response_code(operation: &Operation) -> String {
    if let Some(code) = operation.labels.get(RESPONSE_CODE_LABEL) {
        return code.clone();
    }
    operation
        .log_entries
        .iter()
        .find_map(|entry| entry.http_request.as_ref().map(|http| http.status))
        .filter(|status| *status != 0)
        .map_or_else(|| "unknown".to_string(), |status| status.to_string())
}
