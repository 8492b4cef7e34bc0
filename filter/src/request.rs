//! One request as a value: what it carries once routed ([`Onward`]), where it stands
//! ([`Stage`]), and its trace for the report. Events advance it ([`Request::on`]); each
//! answer is the list of [`Step`]s the host executes, in order. No host calls: the two reads a
//! stage may need (an ID token, Envoy's `source.address`) come through [`Lookups`], so a whole
//! request runs natively in the tests (`request/tests.rs`).
//!
//! The stages, in ESPv2's order: JWT (may wait for keys), API key and quota (may wait for a
//! Service Control answer; the flow is `wasp-control-client`'s), backend auth (may wait for
//! an ID token), then the backend path.

use std::borrow::Cow;
use std::rc::Rc;

use wasp_config::service_control::{ControlClientConfig, OperationControl};
use wasp_config::{SecurityRequirement, CONSUMER_PROPERTY, STAGES_PROPERTY};
use wasp_control_client::{
    Callout, CalloutResult, ControlState, Flow, OperationIds, Proceed, RequestInput,
    Step as FlowStep,
};
use wasp_jwt::refresh::RefreshPolicy;
use wasp_jwt::Verifier;

use crate::backend_auth;
use crate::decision::{translated_path, Forward};
use crate::gateway::Gateway;
use crate::head::first;
use crate::jwt_auth::{authenticate, seconds, JwtOutcome, KeyViews, Pass};
use crate::local_reply::LocalReply;
use crate::service_control::{caller_ip, needs_flow, Trace};

#[cfg(test)]
mod tests;

/// What the stages after routing need of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onward {
    /// The matched operation (index into the gateway's rules).
    pub operation: usize,
    /// The request head as it was read (JWTs and API keys are taken from it); shared, so
    /// keeping it while the request waits costs no copy.
    pub headers: Rc<Vec<(String, String)>>,
    /// Backend-auth audience, when an ID token is attached.
    pub audience: Option<String>,
    pub client_authorization: Option<String>,
    /// The translated `:path`.
    pub path: Option<String>,
}

impl Onward {
    /// What a routed request carries on from the decision on its head.
    pub fn from_forward(forward: &Forward<'_, '_>, headers: Rc<Vec<(String, String)>>) -> Onward {
        let backend_auth = forward.backend_auth;
        Onward {
            operation: forward.operation_index,
            audience: backend_auth.map(|a| a.audience.to_string()),
            client_authorization: backend_auth
                .and_then(|a| a.client_authorization)
                .map(str::to_string),
            path: forward.path.clone(),
            headers,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone)]
pub enum Stage {
    /// Not routed (yet, or never: a health probe let through while dependencies load).
    Head,
    /// Waiting until these providers' key fetches end, or the deadline.
    Keys {
        providers: Vec<usize>,
        deadline_ms: u64,
    },
    /// Waiting for the answer to its Service Control call.
    Control { flow: Box<Flow> },
    /// Waiting until the audience's ID token is ready, or the deadline.
    Token { audience: String, deadline_ms: u64 },
    /// Let on to its backend.
    Forwarded,
    /// Answered by the gateway.
    Answered,
    /// The client left while the request waited; any answer for it is dropped.
    Gone,
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The head matched an operation: the stages start.
    Start(Onward),
    /// The key fetches it waited for ended.
    KeysSettled,
    /// Its Service Control call answered (or could not be made: `Failed`).
    ControlAnswer(CalloutResult),
    /// Its audience's ID token is ready.
    TokenReady(String),
    /// Its audience's ID token cannot be had.
    TokenUnavailable,
    /// Its wait is over.
    Deadline,
}

/// One thing for the host to do to the request, in order. An event's steps are all decided
/// before the first runs, so later stages may have run already when a header edit fails; that
/// ends the request with a 500 (it would reach the backend wrongly) and the request is
/// [`answered`](Request::answered). A failed property is only logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Fixed names (`:path`, `authorization`) are borrowed, configured ones owned.
    SetHeader(Cow<'static, str>, String),
    /// Removes every value of the header.
    RemoveHeader(Cow<'static, str>),
    /// An Envoy property, for the access log or the trace span.
    SetProperty(&'static str, String),
    /// Answer locally; nothing follows.
    Reply(LocalReply),
    /// Make this Service Control call (with the client's trace context, when tracing); the
    /// request waits for [`Event::ControlAnswer`]. A call that cannot be made is answered
    /// with `CalloutResult::Failed`.
    CallOut {
        callout: Callout,
        trace_context: Option<String>,
    },
    /// The request waits (for keys or a token; its stage says which).
    Wait,
    /// On to the backend.
    Forward,
}

/// The answer of [`Lookups::id_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    Ready(String),
    Wait,
    Unavailable,
}

/// What a request may ask of its VM beyond its config: reads the host answers at once.
pub trait Lookups {
    /// The ID token for `audience` now (this VM's, or one another worker fetched).
    fn id_token(&mut self, audience: &str, now_ms: u64) -> TokenAnswer;
    /// Envoy's `source.address` (asked only when the head does not name the caller).
    fn source_address(&mut self) -> String;
}

/// The VM's state a request's stages read and update, borrowed for one event.
pub struct Vm<'a> {
    pub gateway: &'a Gateway,
    /// This VM's copy of each JWT provider's keys (a waiting request asks for kid refreshes).
    pub keys: &'a mut KeyViews,
    pub verifier: &'a mut Verifier,
    /// Service Control, when the config has an endpoint.
    pub control: Option<ControlVm<'a>>,
}

/// One VM's Service Control state, borrowed for one event.
pub struct ControlVm<'a> {
    pub config: &'a ControlClientConfig,
    /// Each operation's entry in `config.operations`, by the gateway's operation index.
    pub operations: &'a [Option<usize>],
    pub state: &'a mut ControlState,
    pub ids: &'a mut OperationIds,
}

impl<'a> ControlVm<'a> {
    /// The Service Control settings of the operation at gateway index `index`, if any.
    pub fn operation(&self, index: usize) -> Option<&'a OperationControl> {
        let entry = self.operations.get(index).copied().flatten()?;
        self.config.operations.get(entry)
    }
}

/// One request in flight.
#[derive(Debug, Clone)]
pub struct Request {
    stage: Stage,
    onward: Option<Onward>,
    /// What it leaves for its report, metrics and trace span; `None` when nothing counts it.
    trace: Option<Trace>,
}

impl Request {
    pub fn new(trace: Option<Trace>) -> Request {
        Request {
            stage: Stage::Head,
            onward: None,
            trace,
        }
    }

    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    pub fn trace_mut(&mut self) -> Option<&mut Trace> {
        self.trace.as_mut()
    }

    pub fn into_trace(self) -> Option<Trace> {
        self.trace
    }

    /// Held back until an answer or a deadline.
    pub fn is_waiting(&self) -> bool {
        matches!(
            self.stage,
            Stage::Keys { .. } | Stage::Control { .. } | Stage::Token { .. }
        )
    }

    /// The gateway answered it (by a stage, before routing, or because a step failed): it
    /// never went on, whatever its stages had decided. Kept until `on_log` for its trace;
    /// the head it carried is not needed any more.
    pub fn answered(&mut self) {
        self.stage = Stage::Answered;
        self.onward = None;
        self.note(|trace| trace.forwarded_ms = None);
    }

    /// The client left; an answer that comes later is dropped.
    pub fn gone(&mut self) {
        if self.is_waiting() {
            self.stage = Stage::Gone;
        }
    }

    /// Advances the request by one event; an event its stage does not wait for changes
    /// nothing (a stray or late answer).
    pub fn on(
        &mut self,
        event: Event,
        vm: &mut Vm<'_>,
        lookups: &mut dyn Lookups,
        now_ms: u64,
    ) -> Vec<Step> {
        let mut run = Run {
            vm,
            lookups,
            now_ms,
            steps: Vec::new(),
        };
        let stage = std::mem::replace(&mut self.stage, Stage::Answered);
        match (stage, event) {
            (Stage::Head, Event::Start(onward)) => self.start(onward, &mut run),
            (Stage::Keys { .. }, Event::KeysSettled | Event::Deadline) => {
                self.jwt(Pass::Final, &mut run)
            }
            (Stage::Control { flow }, Event::ControlAnswer(result)) => {
                self.control_answer(*flow, result, &mut run)
            }
            (Stage::Token { .. }, Event::TokenReady(jwt)) => self.go(Some(&jwt), &mut run),
            (Stage::Token { audience, .. }, Event::TokenUnavailable | Event::Deadline) => {
                self.reply(LocalReply::TokenNotFound { audience }, &mut run)
            }
            (stage, _) => self.stage = stage,
        }
        run.steps
    }

    fn note(&mut self, change: impl FnOnce(&mut Trace)) {
        if let Some(trace) = &mut self.trace {
            change(trace);
        }
    }

    fn reply(&mut self, local: LocalReply, run: &mut Run<'_, '_>) {
        self.answered();
        run.steps.push(Step::Reply(local));
    }

    fn start(&mut self, onward: Onward, run: &mut Run<'_, '_>) {
        let reported = run.vm.control.is_some();
        let name = run.vm.gateway.rules(onward.operation).map(|r| &r.name);
        self.note(|trace| {
            trace.operation_index = Some(onward.operation);
            if reported {
                trace.operation = name.cloned();
            }
        });
        self.onward = Some(onward);
        self.jwt(Pass::First, run);
    }

    /// Stage 1: the JWT requirement, if the operation has one. A first pass may wait for
    /// keys; a final one (the wait is over) decides with what there is.
    fn jwt(&mut self, pass: Pass, run: &mut Run<'_, '_>) {
        let Some(onward) = &self.onward else {
            return self.reply(LocalReply::Internal, run);
        };
        let gateway = run.vm.gateway;
        let Some(rules) = gateway.rules(onward.operation) else {
            return self.reply(LocalReply::Internal, run);
        };
        let Some(requirement) = rules.security.as_ref() else {
            return self.api_key(false, run);
        };
        let headers = Rc::clone(&onward.headers);
        let outcome = check_jwt(requirement, run, &headers, pass);
        match outcome {
            JwtOutcome::Forward {
                userinfo,
                key_required,
            } => {
                if let Some(userinfo) = userinfo {
                    let header = gateway.generated.userinfo.clone();
                    run.steps
                        .push(Step::SetHeader(header.into(), userinfo.clone()));
                    if run.vm.control.is_some() {
                        self.note(|trace| trace.userinfo = Some(userinfo));
                    }
                }
                self.api_key(key_required, run)
            }
            JwtOutcome::Deny(error) => self.reply(
                LocalReply::Jwt {
                    error,
                    realm: gateway.service_name.clone(),
                },
                run,
            ),
            JwtOutcome::Wait { .. } if pass == Pass::Final => {
                // A final pass never waits; fail closed if it somehow does.
                self.reply(LocalReply::Internal, run)
            }
            JwtOutcome::Wait {
                providers,
                kid_refresh,
            } => self.wait_for_keys(providers, &kid_refresh, run),
        }
    }

    /// Waits until the providers' key fetches end (the root's tick starts them, kid
    /// refreshes included) or the longest fetch timeout passes.
    fn wait_for_keys(&mut self, providers: Vec<usize>, kid_refresh: &[usize], run: &mut Run) {
        let mut longest_fetch_s = 0;
        for &index in &providers {
            if let Some(provider) = run.vm.gateway.providers.get(index) {
                longest_fetch_s = longest_fetch_s
                    .max(RefreshPolicy::for_provider(provider).fetch_timeout_seconds);
            }
            if let Some(view) = run.vm.keys.providers.get_mut(index) {
                view.kid_refresh_wanted |= kid_refresh.contains(&index);
            }
        }
        // One tick to start the fetch, then the fetch's own timeout.
        let wait_ms = longest_fetch_s.saturating_add(1).saturating_mul(1000);
        self.stage = Stage::Keys {
            providers,
            deadline_ms: run.now_ms.saturating_add(wait_ms),
        };
        run.steps.push(Step::Wait);
    }

    /// Stage 2: API key and quota, when the config has a Service Control endpoint.
    /// `key_required`: the JWT stage says this request needs a key.
    fn api_key(&mut self, key_required: bool, run: &mut Run<'_, '_>) {
        let now_ms = run.now_ms;
        self.note(|trace| trace.jwt_done_ms = Some(now_ms));
        let Some(onward) = &self.onward else {
            return self.reply(LocalReply::Internal, run);
        };
        let Run { vm, lookups, .. } = run;
        let gateway = vm.gateway;
        let Some(control) = &mut vm.control else {
            if key_required {
                // Unreachable: the config check refuses API-key requirements without
                // Service Control. Fail closed all the same.
                return self.reply(LocalReply::Internal, run);
            }
            return self.backend_token(run);
        };
        let Some(rules) = gateway.rules(onward.operation) else {
            return self.reply(LocalReply::Internal, run);
        };
        let settings = control.operation(onward.operation);
        if !needs_flow(control.config, settings, key_required) {
            // Nothing to check or charge: only reported.
            return self.backend_token(run);
        }
        let headers = Rc::clone(&onward.headers);
        let from_head = gateway.caller_sources().from_head(&headers);
        // Envoy's address is a host read: only when the head did not say.
        let source = match from_head {
            Some(_) => String::new(),
            None => lookups.source_address(),
        };
        let input = RequestInput {
            operation: &rules.name,
            operation_id: control.ids.next_id(),
            headers: &headers,
            path: first(&headers, ":path").unwrap_or_default(),
            caller_ip: from_head.as_deref().unwrap_or_else(|| caller_ip(&source)),
            key_required,
        };
        let (flow, step) = Flow::start_for(control.config, settings, control.state, input, now_ms);
        self.control_step(flow, step, run);
    }

    fn control_answer(&mut self, mut flow: Flow, result: CalloutResult, run: &mut Run<'_, '_>) {
        let Some(control) = &mut run.vm.control else {
            return self.reply(LocalReply::Internal, run);
        };
        match flow.resume(control.config, control.state, result, run.now_ms) {
            Ok(step) => self.control_step(flow, step, run),
            Err(_) => self.reply(LocalReply::Internal, run),
        }
    }

    /// One step of the Service Control flow: a call to wait for, or its verdict.
    fn control_step(&mut self, flow: Flow, step: FlowStep, run: &mut Run<'_, '_>) {
        if let FlowStep::Callout(callout) = step {
            // With tracing on, the client's trace context goes on to Service Control too.
            let trace_context = match (&self.onward, run.vm.gateway.trace_stages) {
                (Some(onward), true) => first(&onward.headers, "traceparent").map(str::to_string),
                _ => None,
            };
            self.stage = Stage::Control {
                flow: Box::new(flow),
            };
            run.steps.push(Step::CallOut {
                callout,
                trace_context,
            });
            return;
        }
        self.note(|trace| trace.note_key(flow.key_state(), flow.api_key(), flow.caller_ip()));
        if let Some(consumer) = flow.consumer() {
            // For the access log and metrics: only for requests whose key named a consumer.
            let name = format!("{}:{}", consumer.kind.to_ascii_lowercase(), consumer.number);
            run.steps
                .push(Step::SetProperty(CONSUMER_PROPERTY, name.clone()));
            self.note(|trace| trace.consumer = Some(name));
        }
        match step {
            FlowStep::Deny(denial) => self.reply(
                LocalReply::ServiceControl {
                    status: denial.status,
                    message: denial.message,
                    retry_after_secs: denial.retry_after_secs,
                },
                run,
            ),
            FlowStep::Proceed(edits) => self.proceed(edits, run),
            FlowStep::Callout(_) => self.reply(LocalReply::Internal, run),
        }
    }

    /// The API-key stage's header changes, then the backend path from what the query kept.
    fn proceed(&mut self, edits: Proceed, run: &mut Run<'_, '_>) {
        let generated = &run.vm.gateway.generated;
        // Client-sent consumer headers were removed with the route; only the key's are left.
        for name in edits.remove_headers {
            if !generated.is_consumer(&name) {
                run.steps.push(Step::RemoveHeader(name.into()));
            }
        }
        for (name, value) in edits.set_headers {
            run.steps.push(Step::SetHeader(name.into(), value));
        }
        if let Some(path) = edits.new_path {
            // The key left the query: the backend path is translated from what remains.
            let rules = self
                .onward
                .as_ref()
                .and_then(|onward| run.vm.gateway.rules(onward.operation));
            let Some(rules) = rules else {
                return self.reply(LocalReply::Internal, run);
            };
            match translated_path(rules, &path) {
                Ok(translated) => {
                    if let Some(onward) = &mut self.onward {
                        onward.path = Some(translated.unwrap_or(path));
                    }
                }
                Err(local) => return self.reply(local, run),
            }
        }
        self.backend_token(run);
    }

    /// Stage 3: the backend ID token, which may have to be waited for.
    fn backend_token(&mut self, run: &mut Run<'_, '_>) {
        let now_ms = run.now_ms;
        self.note(|trace| trace.control_done_ms = Some(now_ms));
        let Some(audience) = self.onward.as_ref().and_then(|o| o.audience.clone()) else {
            return self.go(None, run);
        };
        match run.lookups.id_token(&audience, now_ms) {
            TokenAnswer::Ready(jwt) => self.go(Some(&jwt), run),
            TokenAnswer::Unavailable => self.reply(LocalReply::TokenNotFound { audience }, run),
            TokenAnswer::Wait => {
                let wait_ms = run
                    .vm
                    .gateway
                    .id_token_source
                    .as_ref()
                    .map_or(0, |s| s.timeout_ms);
                self.stage = Stage::Token {
                    audience,
                    deadline_ms: now_ms.saturating_add(wait_ms),
                };
                run.steps.push(Step::Wait);
            }
        }
    }

    /// The last changes before the backend: the ID token, then the translated path.
    fn go(&mut self, id_token: Option<&str>, run: &mut Run<'_, '_>) {
        // The request's last stage: what it carried is not needed after.
        let Some(onward) = self.onward.take() else {
            return self.reply(LocalReply::Internal, run);
        };
        if let Some(id_token) = id_token {
            let client = onward.client_authorization.as_deref();
            for (name, value) in backend_auth::headers(id_token, client) {
                // Removed first: a client may have sent several values.
                run.steps.push(Step::RemoveHeader(name.into()));
                run.steps.push(Step::SetHeader(name.into(), value));
            }
        }
        if let Some(path) = onward.path {
            run.steps.push(Step::SetHeader(":path".into(), path));
        }
        let now_ms = run.now_ms;
        self.note(|trace| trace.forwarded_ms = Some(now_ms));
        if run.vm.gateway.trace_stages {
            if let Some(trace) = &self.trace {
                // For the trace span's `wasp.stages` tag.
                run.steps
                    .push(Step::SetProperty(STAGES_PROPERTY, trace.stages()));
            }
        }
        self.stage = Stage::Forwarded;
        run.steps.push(Step::Forward);
    }
}

/// One event's borrowed world and the steps it produced so far.
struct Run<'v, 'a> {
    vm: &'v mut Vm<'a>,
    lookups: &'v mut dyn Lookups,
    now_ms: u64,
    steps: Vec<Step>,
}

/// The JWT requirement against the request's head and this VM's keys.
fn check_jwt(
    requirement: &SecurityRequirement,
    run: &mut Run<'_, '_>,
    headers: &[(String, String)],
    pass: Pass,
) -> JwtOutcome {
    let gateway = run.vm.gateway;
    authenticate(
        requirement,
        gateway.jwt_settings(),
        &gateway.providers,
        run.vm.keys,
        run.vm.verifier,
        headers,
        seconds(run.now_ms),
        pass,
    )
}
