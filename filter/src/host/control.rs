//! The API-key / quota / report stage on the host: Check and AllocateQuota callouts for the
//! requests that wait on them, and batched reports sent from the root's tick.
//!
//! Every decision is `wasp-control-client`'s ([`Flow`], [`ReportBatcher`], [`Delivery`]);
//! this module keeps their state per VM and moves bytes. Envoy runs every callout on the
//! root context, whichever context dispatched it, so a response can be handled by the HTTP
//! context that dispatched it or by the root (a request woken from the tick): both call
//! [`on_response`], which finds the request by the callout's token.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use log::{debug, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use wasp_config::service_control::{ControlClientConfig, OperationControl};
use wasp_config::ACCESS_TOKEN_KEY;
use wasp_control_client::{
    Callout, CalloutResult, ControlState, Delivery, DeliveryStep, Flow, OperationIds,
    ReportBatcher, ReportRequest, MAX_ANSWER_BYTES,
};

use super::state::{now_ms, string_property, State};
use super::tokens::{current_token, response_body, response_status, Response, TokenAnswer};
use crate::service_control::{caller_ip, operation_index, Exported, Trace, METRICS};
use crate::waiters::Onward;

/// A request waiting for a Check or AllocateQuota answer.
pub(super) struct ControlPending {
    pub context_id: u32,
    pub flow: Flow,
    pub onward: Onward,
}

/// One VM's Service Control state; every borrow ends before the next host call.
pub(super) struct ControlRuntime {
    pub config: ControlClientConfig,
    pub state: RefCell<ControlState>,
    pub ids: RefCell<OperationIds>,
    batcher: RefCell<ReportBatcher>,
    /// Full batches from `on_log`, sent by the root's next tick.
    outbox: RefCell<Vec<ReportRequest>>,
    /// Callout token -> the request waiting for it.
    pending: RefCell<HashMap<u32, ControlPending>>,
    /// Each operation's settings (by the gateway's operation index) in `config.operations`.
    operations: Vec<Option<usize>>,
    /// Envoy counter ids of [`METRICS`] (`None` where the host refused one).
    metric_ids: Vec<Option<u32>>,
    exported: RefCell<Exported>,
}

impl ControlRuntime {
    pub fn new<'a>(
        config: ControlClientConfig,
        operation_names: impl Iterator<Item = &'a str>,
    ) -> ControlRuntime {
        // Seeded from WASI's random source (std's hasher keys): ids differ between VMs.
        let seed = RandomState::new().hash_one(now_ms());
        ControlRuntime {
            state: RefCell::new(ControlState::new(&config)),
            ids: RefCell::new(OperationIds::new(seed)),
            batcher: RefCell::new(ReportBatcher::new(&config, seed.rotate_left(17))),
            outbox: RefCell::new(Vec::new()),
            pending: RefCell::new(HashMap::new()),
            operations: operation_index(&config, operation_names),
            metric_ids: METRICS
                .iter()
                .map(|name| hostcalls::define_metric(MetricType::Counter, name).ok())
                .collect(),
            exported: RefCell::new(Exported::default()),
            config,
        }
    }

    /// Adds what the flow counted since the last export to the Envoy counters.
    pub fn export_counters(&self) {
        let deltas = self
            .exported
            .borrow_mut()
            .deltas(&self.state.borrow().counters);
        for (id, delta) in self.metric_ids.iter().zip(deltas) {
            if let (Some(id), Ok(delta @ 1..)) = (id, i64::try_from(delta)) {
                let _ = hostcalls::increment_metric(*id, delta);
            }
        }
    }

    /// The Service Control settings of the operation at gateway index `index`, if any.
    pub fn operation(&self, index: usize) -> Option<&OperationControl> {
        let entry = self.operations.get(index).copied().flatten()?;
        self.config.operations.get(entry)
    }

    pub fn is_waiting(&self, context_id: u32) -> bool {
        self.pending
            .borrow()
            .values()
            .any(|p| p.context_id == context_id)
    }

    /// A request ended while its callout was out; the answer, if it comes, is dropped.
    pub fn forget(&self, context_id: u32) {
        self.pending
            .borrow_mut()
            .retain(|_, p| p.context_id != context_id);
    }

    pub fn park(&self, token_id: u32, pending: ControlPending) {
        self.pending.borrow_mut().insert(token_id, pending);
    }

    pub fn take_pending(&self, token_id: u32) -> Option<ControlPending> {
        self.pending.borrow_mut().remove(&token_id)
    }

    /// Prints what the flow wanted logged (already throttled by the client).
    pub fn flush_logs(&self) {
        for line in self.state.borrow_mut().drain_logs() {
            warn!("{line}");
        }
    }
}

/// Makes a Service Control call, with the metadata server's access token when the
/// endpoint wants one. The token id comes back with the response.
pub(super) fn dispatch(
    state: &State,
    callout: &Callout,
    trace_context: Option<&str>,
    now_ms: u64,
) -> Result<u32, String> {
    let authorization = match state.control.as_ref() {
        Some(control) if control.config.endpoint.metadata_access_token => {
            match current_token(state, ACCESS_TOKEN_KEY, now_ms) {
                TokenAnswer::Ready(token) => Some(format!("Bearer {token}")),
                TokenAnswer::Wait => {
                    return Err("no access token for Service Control yet (metadata server)".into())
                }
                TokenAnswer::Unavailable => {
                    return Err(
                        "no access token for Service Control: the metadata server fetch failed"
                            .into(),
                    )
                }
            }
        }
        _ => None,
    };
    let mut headers: Vec<(&str, &str)> = callout
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    if let Some(value) = &authorization {
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        headers.push(("authorization", value));
    }
    if let Some(traceparent) = trace_context {
        headers.push(("traceparent", traceparent));
    }
    hostcalls::dispatch_http_call(
        &callout.cluster,
        headers,
        Some(&callout.body),
        vec![],
        Duration::from_millis(callout.timeout_ms),
    )
    .map_err(|status| format!("cannot call cluster {}: {status:?}", callout.cluster))
}

/// What a callout returned; read before any context switch.
pub(super) fn callout_result(response: &Response) -> CalloutResult {
    let status = response_status(response.num_headers).and_then(|s| u16::try_from(s).ok());
    if response.num_headers == 0 {
        // Envoy answers a reset, a timeout or an unknown cluster without headers.
        return CalloutResult::Failed("no response from Service Control".into());
    }
    if response.body_size > MAX_ANSWER_BYTES {
        // Not read: a broken or hostile control service must not cost the filter memory.
        return CalloutResult::Oversized {
            status,
            body_size: response.body_size,
        };
    }
    CalloutResult::Response {
        status,
        body: response_body(response.body_size),
    }
}

/// Records a finished request for the next report (from `on_log`). Sizes are body bytes,
/// as ESPv2 reports them; the code was read with the response headers (Envoy's property
/// lookup, several times dearer, only when there were none).
pub(super) fn report(
    control: &ControlRuntime,
    mut trace: Trace,
    code: u16,
    now: u64,
    request_size: u64,
    response_size: u64,
) {
    // Property lookups (about 12,000 instructions each), in on_log, off the request's path,
    // and only for what the trace cannot tell.
    trace.log.response_code_detail = match trace.known_code_detail() {
        Some(detail) => detail.to_string(),
        None => string_property(&["response", "code_details"]),
    };
    if trace.log.caller_ip.is_empty() {
        trace.log.caller_ip = caller_ip(&string_property(&["source", "address"])).to_string();
    }
    let record = trace.record(code, now, request_size, response_size);
    if let Some(full) = control.batcher.borrow_mut().record(record, now) {
        control.outbox.borrow_mut().push(full);
    }
}

/// Report batches in flight from the root: token -> delivery. Owned by the root.
pub(super) type Deliveries = HashMap<u32, Delivery>;

/// The root's periodic work: send the batches that are full or due.
pub(super) fn tick(state: &State, deliveries: &mut Deliveries, now: u64) {
    let Some(control) = &state.control else {
        return;
    };
    let mut batches = std::mem::take(&mut *control.outbox.borrow_mut());
    if control.batcher.borrow().due(now) {
        batches.extend(control.batcher.borrow_mut().take());
    }
    for batch in batches {
        let delivery = Delivery::new(&control.config, &batch);
        send(state, deliveries, delivery);
    }
    control.flush_logs();
    control.export_counters();
}

fn send(state: &State, deliveries: &mut Deliveries, delivery: Delivery) {
    let Some(control) = &state.control else {
        return;
    };
    match dispatch(state, delivery.callout(), None, now_ms()) {
        Ok(token) => {
            deliveries.insert(token, delivery);
        }
        Err(reason) => {
            // Counted like a failed delivery; the next batch is tried afresh.
            let note = control.state.borrow_mut().failures.note(
                wasp_control_client::CallKind::Report,
                &reason,
                now_ms() / 1000,
            );
            if let Some(line) = note {
                warn!("{line}");
            }
        }
    }
}

/// A report response arrived at the root. Returns false when the token is not a report's.
pub(super) fn on_report_response(
    state: &State,
    deliveries: &mut Deliveries,
    response: &Response,
) -> bool {
    let Some(mut delivery) = deliveries.remove(&response.token_id) else {
        return false;
    };
    let Some(control) = &state.control else {
        return true;
    };
    match delivery.on_result(&control.config, callout_result(response)) {
        DeliveryStep::Delivered => {}
        DeliveryStep::Retry(_) => send(state, deliveries, delivery),
        DeliveryStep::Dropped(reason) => {
            let note = control.state.borrow_mut().failures.note(
                wasp_control_client::CallKind::Report,
                &reason,
                now_ms() / 1000,
            );
            match note {
                Some(line) => warn!("{line}"),
                None => debug!("a report batch was dropped: {reason}"),
            }
        }
    }
    true
}
