//! The per-request state machine, as values: API key -> Check (cached) -> AllocateQuota ->
//! proceed. [`Flow::start`] and [`Flow::resume`] return a [`Step`]: proceed with these header
//! edits, deny with this reply, or make this callout and hand its result back to `resume`
//! (Kuadrant's deferred continuation). The adapter only moves bytes; every decision, retry and
//! fail-open/closed choice happens here, so the whole flow is a native test.
//!
//! Order and rules (ESPv2 `handler_impl.cc`):
//! 1. The key is looked for in the operation's locations. Two different keys -> 400, but only
//!    when the key is used (a required key, or the quota consumer).
//! 2. Key required: none -> 401; else Check, answered from the cache when fresh. Not required:
//!    no Check at all, even if a key was sent.
//! 3. Metric costs: AllocateQuota for the key (`api_key:<key>`) or the producer project. A
//!    cached 429 for that consumer and operation answers without a call.
//! 4. Proceed: client-sent consumer headers are always removed; a verified consumer's are set;
//!    with `remove_api_key` the key is removed from headers and query.
//!
//! Network failures (no response, 5xx) are retried per call kind, then: a stale cached Check
//! result is used if there is one, else the fail policy (open: go on without a Check / quota
//! decision; closed: 503). A non-5xx error from the control service is a 500 in every policy.

use crate::api_key::{effective_locations, extract, FoundKey, KeyRemoval, MULTIPLE_KEYS_MESSAGE};
use crate::callout::{CallKind, Callout, CalloutResult};
use crate::check::{
    check_request, interpret as interpret_check, CheckOutcome, Consumer, KeyState,
    BACKENDS_UNAVAILABLE,
};
use crate::check_cache::{CachedCheck, CheckCache, Lookup};
use crate::config::{ControlClientConfig, OperationControl};
use crate::labels::RequestFacts;
use crate::operation_id::OperationId;
use crate::policy::{classify, on_network_failure, should_retry, FailureLog, Transport};
use crate::quota::{
    consumer_id, interpret as interpret_quota, quota_request, seconds_to_window_end, DenialCache,
    QuotaOutcome,
};
use crate::reply::{Reply, MISSING_KEY_MESSAGE};
use crate::report::ReportRecord;
use crate::request_log::RequestLog;
use std::collections::BTreeMap;
use wasp_servicecontrol::{AllocateQuotaResponse, CheckResponse, Message};

/// Log lines kept for the adapter to print, at most (the failure log is throttled already).
const MAX_PENDING_LOGS: usize = 16;

/// Per-VM state shared by every request of the VM (one thread, so plain `&mut`).
#[derive(Debug, Clone)]
pub struct ControlState {
    pub check_cache: CheckCache,
    pub quota_denials: DenialCache,
    pub failures: FailureLog,
    pub counters: Counters,
    logs: Vec<String>,
}

/// What happened, for the adapter's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub check_calls: u64,
    pub check_cache_hits: u64,
    pub quota_calls: u64,
    pub quota_cache_hits: u64,
    /// Requests let through because the control service failed (fail open).
    pub failed_open: u64,
    /// Requests answered 503 because the control service failed (fail closed).
    pub failed_closed: u64,
    /// Calls the control service refused (non-5xx): answered 500.
    pub rejected_calls: u64,
    /// 200 answers that were oversized or not the expected protobuf (then the fail policy).
    pub bad_answers: u64,
}

impl ControlState {
    pub fn new(config: &ControlClientConfig) -> ControlState {
        ControlState {
            check_cache: CheckCache::new(config.check_cache),
            quota_denials: DenialCache::new(config.quota_settings),
            failures: FailureLog::new(config.failure_log_interval_secs),
            counters: Counters::default(),
            logs: Vec::new(),
        }
    }

    /// Lines to log (warn level) since the last call.
    pub fn drain_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    fn log(&mut self, line: String) {
        if self.logs.len() < MAX_PENDING_LOGS {
            self.logs.push(line);
        }
    }
}

/// The request parts the flow reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestInput<'a> {
    /// The matched operation's name.
    pub operation: &'a str,
    /// A unique id for this request's Check and AllocateQuota (the adapter makes it).
    pub operation_id: OperationId,
    /// Request headers as received.
    pub headers: &'a [(String, String)],
    /// `:path` including the query.
    pub path: &'a str,
    /// The client address for the `caller_ip` label.
    pub caller_ip: &'a str,
    /// The security requirement needs a key for this request whatever the operation's
    /// compiled default says: the JWT stage let it in through an alternative that names a
    /// key, or no token came and only key alternatives are left.
    pub key_required: bool,
}

/// Request edits when the request goes on to the backend: remove these headers, then set
/// these, and replace `:path` when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proceed {
    pub remove_headers: Vec<String>,
    pub set_headers: Vec<(String, String)>,
    pub new_path: Option<String>,
}

/// What the adapter does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Proceed(Proceed),
    Deny(Reply),
    /// Dispatch this call, pause the request, and pass the result to [`Flow::resume`].
    Callout(Callout),
}

/// `resume` was called while no callout was outstanding (a stray response): ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotWaiting;

/// One request's progress.
#[derive(Debug, Clone)]
pub struct Flow {
    operation: String,
    operation_id: OperationId,
    path: String,
    facts: RequestFacts,
    key: Option<FoundKey>,
    key_state: KeyState,
    consumer: Option<Consumer>,
    metric_costs: BTreeMap<String, i64>,
    /// A cached Check result past its freshness, used if the refreshing call fails.
    stale: Option<CachedCheck>,
    awaiting: Option<Callout>,
    start_ms: u64,
}

impl Flow {
    /// Starts the flow for a request that matched `input.operation`.
    pub fn start(
        config: &ControlClientConfig,
        state: &mut ControlState,
        input: RequestInput<'_>,
        now_ms: u64,
    ) -> (Flow, Step) {
        let operation = config.operation(input.operation);
        Flow::start_for(config, operation, state, input, now_ms)
    }

    /// [`Flow::start`] with the operation's settings already looked up (the adapter keeps
    /// them by operation index, so a request costs no search through the operations).
    pub fn start_for(
        config: &ControlClientConfig,
        operation: Option<&OperationControl>,
        state: &mut ControlState,
        input: RequestInput<'_>,
        now_ms: u64,
    ) -> (Flow, Step) {
        let required = input.key_required || operation.is_some_and(|op| op.api_key_required);
        let metric_costs = operation
            .map(|op| op.metric_costs.clone())
            .unwrap_or_default();
        let locations =
            effective_locations(operation.map_or(&[], |op| op.api_key_locations.as_slice()));
        let query = input.path.split_once('?').map_or("", |(_, query)| query);
        let extracted = extract(&locations, input.headers, query);
        let key_used = required || !metric_costs.is_empty();
        let mut flow = Flow {
            operation: input.operation.to_string(),
            operation_id: input.operation_id,
            path: input.path.to_string(),
            facts: RequestFacts::from_headers(input.headers, input.caller_ip),
            key: extracted.clone().ok().flatten(),
            key_state: KeyState::NotChecked,
            consumer: None,
            metric_costs,
            stale: None,
            awaiting: None,
            start_ms: now_ms,
        };
        if key_used && extracted.is_err() {
            return (flow, Step::Deny(Reply::new(400, MULTIPLE_KEYS_MESSAGE)));
        }
        let step = if !required {
            flow.quota_stage(config, state, now_ms)
        } else if flow.key.is_none() {
            Step::Deny(Reply::new(401, MISSING_KEY_MESSAGE))
        } else {
            flow.check_stage(config, state, now_ms)
        };
        (flow, step)
    }

    /// Continues with the result of the callout the last step asked for.
    pub fn resume(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        result: CalloutResult,
        now_ms: u64,
    ) -> Result<Step, NotWaiting> {
        let callout = self.awaiting.take().ok_or(NotWaiting)?;
        let step = match classify(result) {
            Transport::NetworkFailure(detail) => {
                if should_retry(callout.kind.settings(config), callout.attempt) {
                    let retry = callout.retry();
                    self.awaiting = Some(retry.clone());
                    return Ok(Step::Callout(retry));
                }
                self.network_failure(config, state, callout.kind, &detail, now_ms)
            }
            Transport::Rejected(reply) => {
                state.counters.rejected_calls = state.counters.rejected_calls.saturating_add(1);
                Step::Deny(reply)
            }
            Transport::BadAnswer(detail) => {
                self.bad_answer(config, state, callout.kind, &detail, now_ms)
            }
            Transport::Answer(body) => match callout.kind {
                CallKind::Check => self.on_check_answer(config, state, &body, now_ms),
                CallKind::Quota => self.on_quota_answer(config, state, &body, now_ms),
                CallKind::Report => self.proceed(config),
            },
        };
        Ok(step)
    }

    /// The report record for this request once its response ended.
    pub fn report(
        &self,
        response_code: u16,
        end_ms: u64,
        backend_latency_ms: Option<u64>,
        request_size: u64,
        response_size: u64,
    ) -> ReportRecord {
        let verified_key = self.verified_key().map(str::to_string);
        let log = RequestLog {
            caller_ip: self.facts.caller_ip.clone(),
            referer: self.facts.referer.clone(),
            key_state: Some(self.key_state),
            api_key: self.api_key().map(str::to_string),
            ..RequestLog::default()
        };
        ReportRecord {
            operation: self.operation.clone(),
            verified_key,
            response_code,
            start_ms: self.start_ms,
            end_ms,
            backend_latency_ms,
            request_size,
            response_size,
            jwt_credential: None,
            log,
        }
    }

    /// The client address the labels name.
    pub fn caller_ip(&self) -> &str {
        &self.facts.caller_ip
    }

    /// The API key the request sent, once one was found.
    pub fn api_key(&self) -> Option<&str> {
        self.key.as_ref().map(|found| found.key.as_str())
    }

    /// ESPv2's `api_key_state` of this request so far.
    pub fn key_state(&self) -> KeyState {
        self.key_state
    }

    /// The key, once Check verified it (fresh or cached).
    pub fn verified_key(&self) -> Option<&str> {
        match self.key_state {
            KeyState::Verified => self.key.as_ref().map(|found| found.key.as_str()),
            _ => None,
        }
    }

    /// The consumer Check reported, if any.
    pub fn consumer(&self) -> Option<&Consumer> {
        self.consumer.as_ref()
    }

    fn key(&self) -> &str {
        self.key.as_ref().map_or("", |found| found.key.as_str())
    }

    fn check_stage(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        now_ms: u64,
    ) -> Step {
        let context = self.facts.cache_context();
        match state
            .check_cache
            .lookup(&self.operation, self.key(), &context, now_ms / 1000)
        {
            Lookup::Fresh(decision) => {
                state.counters.check_cache_hits = state.counters.check_cache_hits.saturating_add(1);
                self.apply_check(config, state, decision, now_ms)
            }
            Lookup::Stale(decision) => {
                self.stale = Some(decision);
                self.call_check(config, state, now_ms)
            }
            Lookup::Miss => self.call_check(config, state, now_ms),
        }
    }

    fn call_check(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        now_ms: u64,
    ) -> Step {
        state.counters.check_calls = state.counters.check_calls.saturating_add(1);
        let request = check_request(
            config,
            &self.operation,
            &self.operation_id.to_string(),
            self.key(),
            &self.facts,
            now_ms,
        );
        self.call(Callout::new(
            config,
            CallKind::Check,
            request.encode_to_vec(),
        ))
    }

    fn call(&mut self, callout: Callout) -> Step {
        self.awaiting = Some(callout.clone());
        Step::Callout(callout)
    }

    fn apply_check(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        decision: CachedCheck,
        now_ms: u64,
    ) -> Step {
        match decision {
            CachedCheck::Allowed(consumer) => {
                self.key_state = KeyState::Verified;
                self.consumer = consumer;
                self.quota_stage(config, state, now_ms)
            }
            CachedCheck::Denied(denial) => {
                self.key_state = denial.key_state;
                Step::Deny(denial.reply)
            }
        }
    }

    fn on_check_answer(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        body: &[u8],
        now_ms: u64,
    ) -> Step {
        let response = match CheckResponse::decode(body) {
            Ok(response) => response,
            Err(e) => {
                let detail = undecodable(CallKind::Check, &e);
                return self.bad_answer(config, state, CallKind::Check, &detail, now_ms);
            }
        };
        let decision = match interpret_check(&response, &config.service_name) {
            CheckOutcome::Allowed(consumer) => CachedCheck::Allowed(consumer),
            CheckOutcome::Denied(denial) => CachedCheck::Denied(denial),
            CheckOutcome::Unavailable => {
                let detail = BACKENDS_UNAVAILABLE;
                return self.network_failure(config, state, CallKind::Check, detail, now_ms);
            }
        };
        self.stale = None;
        let context = self.facts.cache_context();
        state.check_cache.store(
            &self.operation,
            self.key(),
            &context,
            decision.clone(),
            now_ms / 1000,
        );
        self.apply_check(config, state, decision, now_ms)
    }

    fn quota_stage(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        now_ms: u64,
    ) -> Step {
        if self.metric_costs.is_empty() {
            return self.proceed(config);
        }
        let consumer = self.quota_consumer(config);
        if let Some(reply) = state
            .quota_denials
            .lookup(&consumer, &self.operation, now_ms / 1000)
        {
            state.counters.quota_cache_hits = state.counters.quota_cache_hits.saturating_add(1);
            return Step::Deny(reply);
        }
        state.counters.quota_calls = state.counters.quota_calls.saturating_add(1);
        let request = quota_request(
            config,
            &self.operation,
            &self.operation_id.to_string(),
            &consumer,
            &self.metric_costs,
            &self.facts,
        );
        self.call(Callout::new(
            config,
            CallKind::Quota,
            request.encode_to_vec(),
        ))
    }

    fn quota_consumer(&self, config: &ControlClientConfig) -> String {
        consumer_id(
            self.key.as_ref().map(|found| found.key.as_str()),
            &config.producer_project_id,
        )
    }

    fn on_quota_answer(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        body: &[u8],
        now_ms: u64,
    ) -> Step {
        let response = match AllocateQuotaResponse::decode(body) {
            Ok(response) => response,
            Err(e) => {
                let detail = undecodable(CallKind::Quota, &e);
                return self.bad_answer(config, state, CallKind::Quota, &detail, now_ms);
            }
        };
        match interpret_quota(&response) {
            QuotaOutcome::Granted => self.proceed(config),
            QuotaOutcome::Exhausted(reply) => {
                let reply = reply.retry_after(seconds_to_window_end(now_ms / 1000));
                let consumer = self.quota_consumer(config);
                state
                    .quota_denials
                    .store(&consumer, &self.operation, reply.clone(), now_ms / 1000);
                Step::Deny(reply)
            }
            QuotaOutcome::Denied(reply) => Step::Deny(reply),
        }
    }

    /// The call failed after its retries, answered something unusable, or Check answered
    /// `*_UNAVAILABLE`.
    fn network_failure(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        kind: CallKind,
        detail: &str,
        now_ms: u64,
    ) -> Step {
        if let Some(line) = state.failures.note(kind, detail, now_ms / 1000) {
            state.log(line);
        }
        if kind == CallKind::Check {
            if let Some(stale) = self.stale.take() {
                return self.apply_check(config, state, stale, now_ms);
            }
        }
        if let Some(reply) = on_network_failure(config.network_fail_policy, detail) {
            state.counters.failed_closed = state.counters.failed_closed.saturating_add(1);
            return Step::Deny(reply);
        }
        state.counters.failed_open = state.counters.failed_open.saturating_add(1);
        match kind {
            CallKind::Check => self.quota_stage(config, state, now_ms),
            CallKind::Quota | CallKind::Report => self.proceed(config),
        }
    }

    /// A 200 the flow cannot use: the control service is broken, which a client cannot
    /// tell from down, so it is counted, logged (throttled) and the fail policy applies.
    fn bad_answer(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        kind: CallKind,
        detail: &str,
        now_ms: u64,
    ) -> Step {
        state.counters.bad_answers = state.counters.bad_answers.saturating_add(1);
        self.network_failure(config, state, kind, detail, now_ms)
    }

    fn proceed(&self, config: &ControlClientConfig) -> Step {
        let prefix = &config.generated_header_prefix;
        let type_header = format!("{prefix}API-Consumer-Type");
        let number_header = format!("{prefix}API-Consumer-Number");
        let mut edits = Proceed {
            remove_headers: vec![type_header.clone(), number_header.clone()],
            ..Proceed::default()
        };
        if let Some(consumer) = &self.consumer {
            edits
                .set_headers
                .push((type_header, consumer.kind.to_string()));
            edits
                .set_headers
                .push((number_header, consumer.number.to_string()));
        }
        if config.remove_api_key {
            if let Some(found) = &self.key {
                let removal = KeyRemoval::for_key(found, &self.path);
                edits.remove_headers.extend(removal.remove_headers);
                edits.new_path = removal.new_path;
            }
        }
        Step::Proceed(edits)
    }
}

/// What a 200 whose body is not the expected message says in the log and a fail-closed reply.
fn undecodable(kind: CallKind, error: &dyn std::fmt::Display) -> String {
    format!(
        "Failed to parse the {} response from Google Service Control API: {error}",
        kind.name()
    )
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
