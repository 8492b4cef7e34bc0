//! A matched request's stages after routing, in ESPv2's order: JWT, then API key and
//! quota, then backend auth (ID token), then the backend path.
//!
//! A stage that must wait (JWT keys, a Service Control answer, an ID token) parks the
//! request; whoever wakes it (the root's tick, a callout response) carries on from the next
//! stage through this module, so the order is written once. Every function acts on the
//! current effective context: the request's own, or one the root switched to.

use log::{error, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Action;
use wasp_config::SecurityRequirement;
use wasp_control_client::{CalloutResult, Flow, RequestInput, Step};
use wasp_jwt::refresh::RefreshPolicy;

use super::apply;
use super::callout::{Owner, Response};
use super::control;
use super::control_runtime::ControlPending;
use super::jwks::{seconds, set_userinfo};
use super::reads::string_property;
use super::state::State;
use super::tokens::{current_token, TokenAnswer, Woken};
use crate::decision::translated_path;
use crate::head::first;
use crate::jwt_auth::{authenticate, JwtOutcome, Pass};
use crate::local_reply::LocalReply;
use crate::service_control::{caller_ip, needs_flow};
use crate::waiters::{JwtPending, Onward, Pending, Waiter};

/// Where a request stands after running the stages it could.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Every stage passed: the request goes to its backend.
    Go,
    /// Parked until something arrives.
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
    pub fn resume(self) {
        if self == Outcome::Go {
            if let Err(status) = hostcalls::resume_http_request() {
                warn!("cannot resume a request: {status:?}");
            }
        }
    }
}

fn reply(local: &LocalReply) -> Outcome {
    apply::reply(local);
    Outcome::Replied
}

/// Stage 1, first look: the JWT requirement, if the operation has one.
pub(super) fn start(
    state: &State,
    context_id: u32,
    security: Option<&SecurityRequirement>,
    onward: Onward,
    now_ms: u64,
) -> Outcome {
    let Some(requirement) = security else {
        return after_jwt(state, context_id, onward, false, now_ms);
    };
    match check_jwt(state, requirement, &onward, now_ms, Pass::First) {
        JwtOutcome::Wait {
            providers,
            kid_refresh,
        } => {
            wait_for_keys(state, context_id, providers, &kid_refresh, onward, now_ms);
            Outcome::Paused
        }
        other => after_verdict(state, context_id, other, onward, now_ms),
    }
}

/// Stage 1 again, final, for a request that waited for its providers' keys.
fn jwt_final(state: &State, waiter: Waiter<JwtPending>, now_ms: u64) -> Outcome {
    let onward = waiter.pending.onward;
    let Some(requirement) = state
        .gateway
        .rules(onward.operation)
        .and_then(|rules| rules.security.as_ref())
    else {
        return reply(&LocalReply::Internal);
    };
    let outcome = check_jwt(state, requirement, &onward, now_ms, Pass::Final);
    after_verdict(state, waiter.context_id, outcome, onward, now_ms)
}

/// The JWT requirement against the request's head and this VM's keys.
fn check_jwt(
    state: &State,
    requirement: &SecurityRequirement,
    onward: &Onward,
    now_ms: u64,
    pass: Pass,
) -> JwtOutcome {
    authenticate(
        requirement,
        state.gateway.jwt_settings(),
        &state.gateway.providers,
        &state.key_views.borrow(),
        &mut state.verifier.borrow_mut(),
        &onward.headers,
        seconds(now_ms),
        pass,
    )
}

fn after_verdict(
    state: &State,
    context_id: u32,
    outcome: JwtOutcome,
    onward: Onward,
    now_ms: u64,
) -> Outcome {
    match outcome {
        JwtOutcome::Forward {
            userinfo,
            key_required,
        } => {
            let header = &state.gateway.generated.userinfo;
            if let Err(status) = set_userinfo(header, userinfo.as_deref()) {
                error!("cannot set the user info: {status:?}");
                return reply(&LocalReply::Internal);
            }
            if let (Some(_), Some(userinfo)) = (&state.control, userinfo) {
                state.note(context_id, |trace| trace.userinfo = Some(userinfo));
            }
            after_jwt(state, context_id, onward, key_required, now_ms)
        }
        JwtOutcome::Deny(error) => reply(&LocalReply::Jwt {
            error,
            realm: state.gateway.service_name.clone(),
        }),
        // A final pass never waits; fail closed if it somehow does.
        JwtOutcome::Wait { .. } => reply(&LocalReply::Internal),
    }
}

/// Parks the request until its providers' key fetches end (the root's tick starts them,
/// kid refreshes included) or the fetch timeout passes.
fn wait_for_keys(
    state: &State,
    context_id: u32,
    providers: Vec<usize>,
    kid_refresh: &[usize],
    onward: Onward,
    now_ms: u64,
) {
    let mut longest_fetch_s = 0;
    {
        let mut views = state.key_views.borrow_mut();
        for &index in &providers {
            if let Some(provider) = state.gateway.providers.get(index) {
                longest_fetch_s = longest_fetch_s
                    .max(RefreshPolicy::for_provider(provider).fetch_timeout_seconds);
            }
            if let Some(view) = views.providers.get_mut(index) {
                view.kid_refresh_wanted |= kid_refresh.contains(&index);
            }
        }
    }
    state.jwt_waiters.borrow_mut().push(Waiter {
        context_id,
        // One tick to start the fetch, then the fetch's own timeout.
        deadline_ms: now_ms.saturating_add(longest_fetch_s.saturating_add(1).saturating_mul(1000)),
        pending: JwtPending { providers, onward },
    });
}

/// Stage 2: API key and quota, when the config has a Service Control endpoint.
/// `key_required`: the JWT stage says this request needs a key.
fn after_jwt(
    state: &State,
    context_id: u32,
    onward: Onward,
    key_required: bool,
    now_ms: u64,
) -> Outcome {
    state.note(context_id, |trace| trace.jwt_done_ms = Some(now_ms));
    let Some(control) = &state.control else {
        if key_required {
            // The config check refuses API-key requirements without Service Control.
            error!("a request needs an API key but no Service Control is configured");
            return reply(&LocalReply::Internal);
        }
        return after_control(state, context_id, onward, now_ms);
    };
    let Some(rules) = state.gateway.rules(onward.operation) else {
        return reply(&LocalReply::Internal);
    };
    let settings = control.operation(onward.operation);
    if !needs_flow(&control.config, settings, key_required) {
        // Nothing to check or charge: only reported (client consumer headers are already gone).
        return after_control(state, context_id, onward, now_ms);
    }
    let operation_id = control.ids.borrow_mut().next_id();
    let from_head = state.gateway.caller_sources().from_head(&onward.headers);
    // Envoy's address is a property lookup (a host call): only when the head did not say.
    let source = match from_head {
        Some(_) => String::new(),
        None => string_property(&["source", "address"]),
    };
    let path = first(&onward.headers, ":path").unwrap_or_default();
    let input = RequestInput {
        operation: &rules.name,
        operation_id,
        headers: &onward.headers,
        path,
        caller_ip: from_head.as_deref().unwrap_or_else(|| caller_ip(&source)),
        key_required,
    };
    let (flow, step) = Flow::start_for(
        &control.config,
        settings,
        &mut control.state.borrow_mut(),
        input,
        now_ms,
    );
    control_step(state, context_id, flow, step, onward, now_ms)
}

/// Carries out one step of a request's Service Control flow.
fn control_step(
    state: &State,
    context_id: u32,
    mut flow: Flow,
    mut step: Step,
    mut onward: Onward,
    now_ms: u64,
) -> Outcome {
    let Some(control) = &state.control else {
        return reply(&LocalReply::Internal);
    };
    // A failed dispatch is fed back as a failed call: the flow retries or applies its policy.
    let step = loop {
        let Step::Callout(callout) = &step else {
            break step;
        };
        // With tracing on, the client's trace context goes on to Service Control too.
        let trace_context = state
            .gateway
            .trace_stages
            .then(|| first(&onward.headers, "traceparent"))
            .flatten();
        match control::dispatch(state, callout, trace_context, now_ms) {
            Ok(token) => {
                state.callouts.register(token, Owner::Request);
                control.park(
                    token,
                    ControlPending {
                        context_id,
                        flow,
                        onward,
                    },
                );
                control.flush_logs();
                return Outcome::Paused;
            }
            Err(reason) => {
                let resumed = flow.resume(
                    &control.config,
                    &mut control.state.borrow_mut(),
                    CalloutResult::Failed(reason),
                    now_ms,
                );
                match resumed {
                    Ok(next) => step = next,
                    Err(_) => return reply(&LocalReply::Internal),
                }
            }
        }
    };
    control.flush_logs();
    state.note(context_id, |trace| {
        trace.note_key(flow.key_state(), flow.api_key(), flow.caller_ip());
    });
    if let Some(consumer) = flow.consumer() {
        // For the access log; a host call only for requests whose key named a consumer.
        let name = format!("{}:{}", consumer.kind.to_ascii_lowercase(), consumer.number);
        if let Err(status) =
            hostcalls::set_property(vec![wasp_config::CONSUMER_PROPERTY], Some(name.as_bytes()))
        {
            warn!("cannot record the consumer: {status:?}");
        }
        state.note(context_id, |trace| trace.consumer = Some(name));
    }
    match step {
        Step::Deny(denial) => reply(&LocalReply::ServiceControl {
            status: denial.status,
            message: denial.message,
            retry_after_secs: denial.retry_after_secs,
        }),
        Step::Proceed(edits) => {
            if let Err(status) = apply::edits(&edits, &state.gateway.generated) {
                error!("cannot apply the API-key stage's header changes: {status:?}");
                return reply(&LocalReply::Internal);
            }
            if let Some(path) = edits.new_path {
                // The key left the query: the backend path is translated from what remains.
                let Some(rules) = state.gateway.rules(onward.operation) else {
                    return reply(&LocalReply::Internal);
                };
                match translated_path(rules, &path) {
                    Ok(translated) => onward.path = Some(translated.unwrap_or(path)),
                    Err(local) => return reply(&local),
                }
            }
            after_control(state, context_id, onward, now_ms)
        }
        Step::Callout(_) => reply(&LocalReply::Internal),
    }
}

/// A Service Control answer for a parked request, in whichever context received it.
pub(super) fn on_control_response(state: &State, response: &Response, now_ms: u64) {
    let Some(control) = &state.control else {
        return;
    };
    let Some(mut pending) = control.take_pending(response.token_id) else {
        return;
    };
    // Read the answer before switching context.
    let result = control::callout_result(response);
    if hostcalls::set_effective_context(pending.context_id).is_err() {
        return; // The request is gone.
    }
    let resumed = pending.flow.resume(
        &control.config,
        &mut control.state.borrow_mut(),
        result,
        now_ms,
    );
    let outcome = match resumed {
        Ok(step) => control_step(
            state,
            pending.context_id,
            pending.flow,
            step,
            pending.onward,
            now_ms,
        ),
        Err(_) => reply(&LocalReply::Internal),
    };
    outcome.resume();
}

/// Stage 3: the backend ID token, which may have to be waited for.
fn after_control(state: &State, context_id: u32, onward: Onward, now_ms: u64) -> Outcome {
    state.note(context_id, |trace| trace.control_done_ms = Some(now_ms));
    let Some(audience) = onward.audience else {
        return go(
            state,
            context_id,
            None,
            None,
            onward.path.as_deref(),
            now_ms,
        );
    };
    match current_token(state, &audience, now_ms) {
        TokenAnswer::Ready(jwt) => go(
            state,
            context_id,
            Some(&jwt),
            onward.client_authorization.as_deref(),
            onward.path.as_deref(),
            now_ms,
        ),
        TokenAnswer::Unavailable => reply(&LocalReply::TokenNotFound { audience }),
        TokenAnswer::Wait => {
            state.waiters.borrow_mut().push(Waiter {
                context_id,
                deadline_ms: now_ms.saturating_add(state.token_wait_ms()),
                pending: Pending {
                    audience,
                    client_authorization: onward.client_authorization,
                    path: onward.path,
                },
            });
            Outcome::Paused
        }
    }
}

/// The last changes before the backend: the ID token and the translated path.
pub(super) fn go(
    state: &State,
    context_id: u32,
    id_token: Option<&str>,
    client_authorization: Option<&str>,
    path: Option<&str>,
    now_ms: u64,
) -> Outcome {
    if let Err(status) = apply::backend(id_token, client_authorization, path) {
        error!("cannot set the backend headers: {status:?}");
        return reply(&LocalReply::Internal);
    }
    let mut stages = None;
    state.note(context_id, |trace| {
        trace.forwarded_ms = Some(now_ms);
        if state.gateway.trace_stages {
            stages = Some(trace.stages());
        }
    });
    if let Some(stages) = stages {
        // For the trace span's `wasp.stages` tag; a host call only when tracing is on.
        if let Err(status) =
            hostcalls::set_property(vec![wasp_config::STAGES_PROPERTY], Some(stages.as_bytes()))
        {
            warn!("cannot record the stage timings: {status:?}");
        }
    }
    Outcome::Go
}

/// Carries on with the requests the token fetches settled, each in its own context: the
/// ready ones go to their backend, the others get `500 Token not found`. The caller
/// restores its own context after.
pub(super) fn wake_token_waiters(state: &State, woken: Woken, now_ms: u64) {
    for (waiter, jwt) in woken.ready {
        if hostcalls::set_effective_context(waiter.context_id).is_err() {
            continue; // The request is gone.
        }
        let pending = &waiter.pending;
        go(
            state,
            waiter.context_id,
            Some(&jwt),
            pending.client_authorization.as_deref(),
            pending.path.as_deref(),
            now_ms,
        )
        .resume();
    }
    for waiter in woken.failed {
        if hostcalls::set_effective_context(waiter.context_id).is_err() {
            continue;
        }
        apply::reply(&LocalReply::TokenNotFound {
            audience: waiter.pending.audience,
        });
    }
}

/// Decides again, finally, the requests whose wait for JWT keys is over, then runs the
/// rest of their pipelines. The caller restores its own context after.
pub(super) fn wake_key_waiters(state: &State, waiters: Vec<Waiter<JwtPending>>, now_ms: u64) {
    for waiter in waiters {
        if hostcalls::set_effective_context(waiter.context_id).is_err() {
            continue; // The request is gone.
        }
        jwt_final(state, waiter, now_ms).resume();
    }
}
