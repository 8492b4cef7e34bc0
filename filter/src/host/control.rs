//! The API-key / quota / report stage on the host: Check and AllocateQuota callouts for the
//! requests that wait on them, and batched reports sent from the root's tick.
//!
//! Every decision is `wasp-control-client`'s ([`Flow`], [`ReportBatcher`], [`Delivery`]);
//! this module keeps their state per VM and moves bytes. Envoy runs every callout on the
//! root context, whichever context dispatched it, so a response can be handled by the HTTP
//! context that dispatched it or by the root (a request woken from the tick): both call
//! [`on_response`], which finds the request by the callout's token.

use std::collections::HashMap;
use std::time::Duration;

use log::{debug, warn};
use proxy_wasm::hostcalls;
use wasp_config::ACCESS_TOKEN_KEY;
use wasp_control_client::{Callout, CalloutResult, Delivery, DeliveryStep, MAX_ANSWER_BYTES};

use super::callout::{response_body, response_status, Owner, Response};
use super::control_runtime::ControlRuntime;
use super::reads::{now_ms, string_property};
use super::state::State;
use super::tokens::current_token;
use crate::request::TokenAnswer;
use crate::service_control::{caller_ip, Trace};

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
            state.callouts.register(token, Owner::Report);
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

/// A report response arrived at the root.
pub(super) fn on_report_response(state: &State, deliveries: &mut Deliveries, response: &Response) {
    let Some(mut delivery) = deliveries.remove(&response.token_id) else {
        return;
    };
    let Some(control) = &state.control else {
        return;
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
}
