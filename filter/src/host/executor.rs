//! Executes a request's steps on Envoy: every event goes through [`advance`], which lets the
//! [`Request`] decide (plain Rust) and then performs what it asked, in order. The request is
//! kept in `State::requests` before any step runs, so a callback a step re-enters finds it.
//!
//! Acts on the current effective context: the request's own, or one the root switched to
//! ([`wake`]).

use log::{error, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, MapType};
use wasp_control_client::CalloutResult;

use super::apply;
use super::callout::{Owner, Response};
use super::control;
use super::reads::string_property;
use super::state::State;
use super::tokens::current_token;
use crate::local_reply::LocalReply;
use crate::request::{ControlVm, Event, Lookups, Request, Step, TokenAnswer, Vm};

/// Where a request stands after its steps ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// On to its backend.
    Go,
    /// Held back until an answer or a deadline (or an event changed nothing).
    Paused,
    /// Answered locally.
    Replied,
}

impl Outcome {
    /// The answer to `on_http_request_headers`.
    pub fn action(self) -> Action {
        match self {
            Outcome::Go => Action::Continue,
            Outcome::Paused | Outcome::Replied => Action::Pause,
        }
    }

    /// For a request woken outside its own callback: let it go on if it may.
    fn resume(self) {
        if self == Outcome::Go {
            if let Err(status) = hostcalls::resume_http_request() {
                warn!("cannot resume a request: {status:?}");
            }
        }
    }
}

/// Runs `event` on `request` (the request of `context_id`, the effective context) and
/// executes the steps it returns; a call that cannot be made goes back in as its failure.
pub(super) fn advance(
    state: &State,
    context_id: u32,
    mut request: Request,
    event: Event,
    now_ms: u64,
) -> Outcome {
    let mut event = event;
    loop {
        let steps = decide(state, &mut request, event, now_ms);
        state.requests.borrow_mut().keep(context_id, request);
        let done = execute(state, context_id, steps, now_ms);
        if let Some(control) = &state.control {
            control.flush_logs();
        }
        match done {
            Executed::Outcome(outcome) => return outcome,
            Executed::NotCalled(reason) => {
                let Some(taken) = state.requests.borrow_mut().take(context_id) else {
                    return Outcome::Paused;
                };
                request = taken;
                event = Event::ControlAnswer(CalloutResult::Failed(reason));
            }
        }
    }
}

/// Wakes the request of `context_id` from the root or another context: switches to it, runs
/// the event, and lets it go on if it may. The caller restores its own context after.
pub(super) fn wake(state: &State, context_id: u32, event: Event, now_ms: u64) {
    let Some(request) = state.requests.borrow_mut().take(context_id) else {
        return;
    };
    if hostcalls::set_effective_context(context_id).is_err() {
        return; // The request is gone (and now forgotten).
    }
    advance(state, context_id, request, event, now_ms).resume();
}

/// A Service Control answer for the request that made the call, in whichever context
/// received it; read before switching context, and only while the request waits for it.
pub(super) fn on_control_response(state: &State, context_id: u32, response: &Response, now: u64) {
    if !state.requests.borrow().is_waiting(context_id) {
        return; // Its client left.
    }
    let result = control::callout_result(response);
    wake(state, context_id, Event::ControlAnswer(result), now);
}

/// The request's decision, with the VM's state borrowed for it alone (no host call runs
/// while these borrows are held, except the reads of [`HostLookups`]).
fn decide(state: &State, request: &mut Request, event: Event, now_ms: u64) -> Vec<Step> {
    let mut keys = state.key_views.borrow_mut();
    let mut verifier = state.verifier.borrow_mut();
    let mut control_state = state
        .control
        .as_ref()
        .map(|c| (c, c.state.borrow_mut(), c.ids.borrow_mut()));
    let control = control_state
        .as_mut()
        .map(|(runtime, flow_state, ids)| ControlVm {
            config: &runtime.config,
            operations: &runtime.operations,
            state: flow_state,
            ids,
        });
    let mut vm = Vm {
        gateway: &state.gateway,
        keys: &mut keys,
        verifier: &mut verifier,
        control,
    };
    request.on(event, &mut vm, &mut HostLookups { state }, now_ms)
}

/// The host's answers to a request's reads.
struct HostLookups<'s> {
    state: &'s State,
}

impl Lookups for HostLookups<'_> {
    fn id_token(&mut self, audience: &str, now_ms: u64) -> TokenAnswer {
        current_token(self.state, audience, now_ms)
    }

    fn source_address(&mut self) -> String {
        string_property(&["source", "address"])
    }
}

enum Executed {
    Outcome(Outcome),
    /// A Service Control call could not be dispatched, for this reason.
    NotCalled(String),
}

fn execute(state: &State, context_id: u32, steps: Vec<Step>, now_ms: u64) -> Executed {
    for step in steps {
        match step {
            Step::SetHeader(name, value) => {
                let set =
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, &name, Some(&value));
                if let Err(status) = set {
                    error!("cannot set the {name} header: {status:?}");
                    return failed(state, context_id);
                }
            }
            Step::RemoveHeader(name) => {
                if let Err(status) = hostcalls::remove_map_value(MapType::HttpRequestHeaders, &name)
                {
                    error!("cannot remove the {name} header: {status:?}");
                    return failed(state, context_id);
                }
            }
            Step::SetProperty(name, value) => {
                if let Err(status) = hostcalls::set_property(vec![name], Some(value.as_bytes())) {
                    warn!("cannot set the {name} property: {status:?}");
                }
            }
            Step::Reply(local) => {
                apply::reply(&local);
                return Executed::Outcome(Outcome::Replied);
            }
            Step::CallOut {
                callout,
                trace_context,
            } => {
                return match control::dispatch(state, &callout, trace_context.as_deref(), now_ms) {
                    Ok(token) => {
                        state.callouts.register(token, Owner::Request(context_id));
                        Executed::Outcome(Outcome::Paused)
                    }
                    Err(reason) => Executed::NotCalled(reason),
                };
            }
            Step::Wait => return Executed::Outcome(Outcome::Paused),
            Step::Forward => return Executed::Outcome(Outcome::Go),
        }
    }
    // An event the request's stage did not wait for: nothing changed.
    Executed::Outcome(Outcome::Paused)
}

/// A header edit failed: the request would reach its backend wrongly, so it ends in a 500.
fn failed(state: &State, context_id: u32) -> Executed {
    state.requests.borrow_mut().answered(context_id);
    apply::reply(&LocalReply::Internal);
    Executed::Outcome(Outcome::Replied)
}
