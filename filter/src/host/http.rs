//! The per-request context: reads the request head, asks
//! [`decide`](crate::decision::decide), pins the route, and runs the stages after it
//! ([`pipeline`](super::pipeline)); holds the body back while the request is parked, and
//! leaves a report when the request ends.

use std::rc::Rc;

use log::error;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::apply;
use super::control;
use super::pipeline::{self, on_control_response};
use super::state::{header_map, now_ms, State};
use super::tokens::Response;
use crate::decision::{decide, Decision, Forward};
use crate::local_reply::LocalReply;
use crate::service_control::BodyBytes;
use crate::startup::{self, GateAnswer};
use crate::waiters::Onward;

pub(super) struct WaspHttp {
    context_id: u32,
    state: Option<Rc<State>>,
    /// Parked by a stage (registered in one of the state's wait lists).
    waiting: bool,
    /// Body bytes each way, for the report.
    request_bytes: BodyBytes,
    response_bytes: BodyBytes,
}

impl WaspHttp {
    pub(super) fn new(context_id: u32, state: Option<Rc<State>>) -> WaspHttp {
        WaspHttp {
            context_id,
            state,
            waiting: false,
            request_bytes: BodyBytes::default(),
            response_bytes: BodyBytes::default(),
        }
    }

    /// Still paused: registered and not yet resumed or failed.
    fn still_waiting(&self) -> bool {
        self.waiting
            && self
                .state
                .as_deref()
                .is_some_and(|s| s.is_waiting(self.context_id))
    }

    fn forward(
        &mut self,
        state: &State,
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
            return apply::reply(&LocalReply::Internal);
        }
        if let Some(control) = &state.control {
            if let Some(trace) = control.traces.borrow_mut().get_mut(self.context_id) {
                trace.operation = Some(forward.operation_name.to_string());
            }
        }
        let backend_auth = forward.backend_auth;
        let onward = Onward {
            operation: forward.operation_index,
            audience: backend_auth.map(|a| a.audience.to_string()),
            client_authorization: backend_auth
                .and_then(|a| a.client_authorization)
                .map(str::to_string),
            path: forward.path.clone(),
            headers,
        };
        let outcome = pipeline::start(state, self.context_id, forward.security, onward, now_ms);
        self.waiting = outcome == pipeline::Outcome::Paused;
        outcome.action()
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
        // A Service Control call this request dispatched itself.
        if let Some(state) = self.state.clone() {
            let response = Response {
                token_id,
                num_headers,
                body_size,
            };
            on_control_response(&state, &response, now_ms());
        }
    }

    fn on_done(&mut self) -> bool {
        // A request that ends while paused (client gone) leaves the wait lists.
        if self.waiting {
            if let Some(state) = self.state.as_deref() {
                state.forget(self.context_id);
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
        if let Some(control) = &state.control {
            control.traces.borrow_mut().start(self.context_id, now);
        }
        // One host call for the whole head; pseudo headers are in it.
        let headers = match header_map(MapType::HttpRequestHeaders) {
            Ok(headers) => headers,
            Err(status) => {
                error!("cannot read request headers: {status:?}");
                return apply::reply(&LocalReply::Internal);
            }
        };
        if let Some(control) = &state.control {
            if let Some(trace) = control.traces.borrow_mut().get_mut(self.context_id) {
                trace.note_head(&headers, state.gateway.client_ip_from_forwarded);
            }
        }
        if let Some(gate) = &state.gateway.wait_for_dependencies {
            let path = headers
                .iter()
                .find(|(name, _)| name == ":path")
                .map_or("", |(_, value)| value.as_str());
            match startup::gate(gate, path, state.missing_dependency(now)) {
                GateAnswer::Decide => {}
                GateAnswer::PassHealthProbe => return Action::Continue,
                GateAnswer::Reply(local) => return apply::reply(&local),
            }
        }
        // The decision borrows the head; the later stages share it (a parked request keeps it).
        let headers = Rc::new(headers);
        match decide(&state.gateway, &headers) {
            Decision::Reply(local) => {
                apply::remove_forged_original_path(&headers);
                apply::reply(&local)
            }
            Decision::Forward(forward) => self.forward(&state, &forward, Rc::clone(&headers), now),
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
        if let Some(control) = self.state.as_deref().and_then(|s| s.control.as_ref()) {
            // One header lookup; Envoy's `response.code` property costs several times more.
            let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse().ok());
            if let Some(trace) = control.traces.borrow_mut().get_mut(self.context_id) {
                trace.response_ms.get_or_insert(now_ms());
                trace.response_code = trace.response_code.or(status);
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        self.response_bytes.chunk(body_size, false);
        Action::Continue
    }

    fn on_log(&mut self) {
        if let Some(control) = self.state.as_deref().and_then(|s| s.control.as_ref()) {
            control::report(
                control,
                self.context_id,
                self.request_bytes.total(),
                self.response_bytes.total(),
            );
        }
    }
}
