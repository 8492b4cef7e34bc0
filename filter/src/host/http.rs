//! The per-request context: reads the request head, asks
//! [`decide`](crate::decision::decide), pins the route, and starts the request's stages
//! ([`executor`](super::executor)); holds the body back while the request waits, and
//! leaves a report when the request ends.

use std::rc::Rc;

use log::error;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::apply;
use super::callout::Response;
use super::control;
use super::executor::{self, on_control_response, Outcome};
use super::reads::{header_map, now_ms, string_property};
use super::state::State;
use crate::decision::{decide, Decision, Forward};
use crate::head::Head;
use crate::local_reply::LocalReply;
use crate::metrics::Finished;
use crate::request::{Event, Onward, Request};
use crate::service_control::{int_property, BodyBytes, Trace};
use crate::startup::{self, GateAnswer};
use wasp_config::DENIAL_PROPERTY;

pub(super) struct WaspHttp {
    context_id: u32,
    state: Option<Rc<State>>,
    /// Held back by a stage at some point (then `State::requests` says whether it still is).
    waited: bool,
    /// Body bytes each way, for the report.
    request_bytes: BodyBytes,
    response_bytes: BodyBytes,
}

impl WaspHttp {
    pub(super) fn new(context_id: u32, state: Option<Rc<State>>) -> WaspHttp {
        WaspHttp {
            context_id,
            state,
            waited: false,
            request_bytes: BodyBytes::default(),
            response_bytes: BodyBytes::default(),
        }
    }

    /// Still paused: registered and not yet resumed or failed.
    fn still_waiting(&self) -> bool {
        self.waited
            && self
                .state
                .as_deref()
                .is_some_and(|s| s.requests.borrow().is_waiting(self.context_id))
    }

    /// Routes a matched request and starts its stages.
    fn forward(
        &mut self,
        state: &State,
        request: Request,
        forward: &Forward,
        headers: Rc<Vec<(String, String)>>,
        now_ms: u64,
    ) -> Action {
        if let Err(status) = apply::route(forward) {
            // Without the route header the request would reach the wrong
            // route, so fail closed.
            error!(
                "cannot set the route for {}: {status:?}",
                forward.operation_name
            );
            return self.reply(state, request, &LocalReply::Internal);
        }
        let event = Event::Start(Onward::from_forward(forward, headers));
        let outcome = executor::advance(state, self.context_id, request, event, now_ms);
        self.waited = outcome == Outcome::Paused;
        outcome.action()
    }

    /// Answers a request before its stages (the trace stays for the report).
    fn reply(&self, state: &State, mut request: Request, local: &LocalReply) -> Action {
        request.answered();
        state.requests.borrow_mut().keep(self.context_id, request);
        apply::reply(local)
    }
}

impl Context for WaspHttp {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        // A request's Service Control call (this context dispatched it).
        if let Some(state) = self.state.clone() {
            let Some(context_id) = state.callouts.take_request(token_id) else {
                return;
            };
            let response = Response {
                token_id,
                num_headers,
                body_size,
            };
            on_control_response(&state, context_id, &response, now_ms());
        }
    }

    fn on_done(&mut self) -> bool {
        // A request that ends while held back (client gone) stops waiting.
        if self.waited {
            if let Some(state) = self.state.as_deref() {
                state.requests.borrow_mut().client_gone(self.context_id);
            }
        }
        true
    }
}

impl HttpContext for WaspHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(state) = self.state.clone() else {
            return apply::reply(&LocalReply::NotConfigured);
        };
        // One clock read for the whole head (a host call).
        let now = now_ms();
        let mut trace = state.traced().then(|| Trace::new(now));
        // One host call for the whole head; pseudo headers are in it.
        let headers = match header_map(MapType::HttpRequestHeaders) {
            Ok(headers) => headers,
            Err(status) => {
                error!("cannot read request headers: {status:?}");
                return self.reply(&state, Request::new(trace), &LocalReply::Internal);
            }
        };
        if let (Some(trace), Some(_)) = (&mut trace, &state.control) {
            trace.note_head(&headers, state.gateway.caller_sources());
        }
        let request = Request::new(trace);
        // The decision borrows the head; the later stages share it (a parked request keeps it).
        let headers = Rc::new(headers);
        let gateway = &state.gateway;
        let head = Head::from_headers(
            &headers,
            gateway.envoy_sets_external_address,
            &gateway.generated,
        );
        if let Some(gate) = &gateway.wait_for_dependencies {
            match startup::gate(gate, head.path, state.missing_dependency(now)) {
                GateAnswer::Decide => {}
                GateAnswer::PassHealthProbe => {
                    state.requests.borrow_mut().keep(self.context_id, request);
                    return Action::Continue;
                }
                GateAnswer::Reply(local) => return self.reply(&state, request, &local),
            }
        }
        match decide(gateway, &head) {
            Decision::Reply(local) => {
                apply::remove_forged_original_path(&headers);
                self.reply(&state, request, &local)
            }
            Decision::Forward(forward) => {
                self.forward(&state, request, &forward, Rc::clone(&headers), now)
            }
        }
    }

    // While paused for a token, body and trailers are held back too: a
    // Continue here would let Envoy send the request on without the token.
    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        let waiting = self.still_waiting();
        self.request_bytes.chunk(body_size, waiting);
        if waiting {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.still_waiting() {
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(state) = self.state.as_deref().filter(|s| s.counts_requests()) {
            let status = response_status();
            // Reports count the backend's latency to its response headers.
            let now = state.control.is_some().then(now_ms);
            state.note(self.context_id, |trace| {
                if let Some(now) = now {
                    trace.response_ms.get_or_insert(now);
                }
                trace.response_code = trace.response_code.or(status);
            });
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.response_bytes.chunk(body_size, false);
        Action::Continue
    }

    fn on_log(&mut self) {
        let Some(state) = self.state.as_deref() else {
            return;
        };
        let Some(trace) = state.requests.borrow_mut().finish(self.context_id) else {
            return;
        };
        if !state.counts_requests() {
            return; // Traced for the span's stage timings only.
        }
        // The status came with the response headers, but a local reply may have none.
        let code = trace
            .response_code
            .or_else(response_status)
            .or_else(response_code_property)
            .unwrap_or(0);
        let now = now_ms();
        if let Some(metrics) = &state.metrics {
            // Only a request the filter never let on was answered by the filter: one
            // property read, on those requests alone.
            let denial = match trace.forwarded_ms {
                None => Some(string_property(&[DENIAL_PROPERTY])).filter(|d| !d.is_empty()),
                Some(_) => None,
            };
            metrics.borrow_mut().finished(&Finished {
                operation: trace.operation_index,
                status: code,
                consumer: trace.consumer.as_deref(),
                denial: denial.as_deref(),
                total_ms: now.saturating_sub(trace.start_ms),
                backend_ms: trace.forwarded_ms.map(|at| now.saturating_sub(at)),
                gateway_ms: trace
                    .forwarded_ms
                    .map(|at| at.saturating_sub(trace.start_ms)),
            });
        }
        if let Some(control) = &state.control {
            let (request, response) = (self.request_bytes.total(), self.response_bytes.total());
            control::report(control, trace, code, now, request, response);
        }
    }
}

/// The response's `:status` (one header lookup; Envoy's `response.code` property costs
/// several times more).
fn response_status() -> Option<u16> {
    hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
}

/// Envoy's `response.code`, for a response whose headers the filter cannot read.
fn response_code_property() -> Option<u16> {
    hostcalls::get_property(vec!["response", "code"])
        .ok()
        .flatten()
        .and_then(|bytes| int_property(&bytes))
        .and_then(|c| u16::try_from(c).ok())
}
