//! What the root context shares with the HTTP contexts of its worker VM.
//!
//! One VM is one thread, so `RefCell` is enough; every borrow is dropped
//! before the next host call (a host call may re-enter the SDK dispatcher).

use std::cell::{Cell, RefCell};

use wasp_jwt::Verifier;

use super::callout::Registry;
use super::control_runtime::ControlRuntime;
use crate::gateway::Gateway;
use crate::id_tokens::{IdTokens, Lookup};
use crate::jwt_auth::{KeyViews, ProviderKeys};
use crate::metrics::Recorder;
use crate::requests::Requests;
use crate::service_control::Trace;
use crate::startup::{first_missing, Dependency};

pub(super) struct State {
    pub gateway: Gateway,
    pub tokens: RefCell<IdTokens>,
    /// This VM's copy of each JWT provider's keys.
    pub key_views: RefCell<KeyViews>,
    /// The verified-token and negative caches (per VM).
    pub verifier: RefCell<Verifier>,
    /// API keys, quotas and reports, when the config has a Service Control endpoint.
    pub control: Option<ControlRuntime>,
    /// Every dependency has answered once on this VM (`wait_for_dependencies`).
    pub dependencies_ready: Cell<bool>,
    /// The requests in flight that wait, or whose trace reports or metrics need.
    pub requests: RefCell<Requests>,
    /// Per-operation metrics, when the config asks for them; drained by the root's tick.
    pub metrics: Option<RefCell<Recorder>>,
    /// Every callout in flight and whose answer it is.
    pub callouts: Registry,
}

impl State {
    pub fn new(gateway: Gateway) -> State {
        let (timeout_ms, refresh_before_s) = gateway
            .id_token_source
            .as_ref()
            .map_or((0, 0), |s| (s.timeout_ms, s.refresh_before_expiry_s));
        let tokens = IdTokens::new(gateway.token_keys(), timeout_ms, refresh_before_s);
        let key_views = KeyViews {
            providers: gateway
                .providers
                .iter()
                .map(|_| ProviderKeys::default())
                .collect(),
        };
        let control = gateway
            .service_control
            .clone()
            .map(|config| ControlRuntime::new(config, gateway.operation_names()));
        let metrics = gateway
            .metrics
            .as_ref()
            .map(|config| RefCell::new(Recorder::new(config, gateway.operation_names())));
        State {
            gateway,
            tokens: RefCell::new(tokens),
            key_views: RefCell::new(key_views),
            verifier: RefCell::new(Verifier::default()),
            requests: RefCell::new(Requests::default()),
            metrics,
            control,
            dependencies_ready: Cell::new(false),
            callouts: Registry::default(),
        }
    }

    /// The first JWT provider without keys or token not fetched yet on this VM, until all
    /// are in once; then never again.
    pub fn missing_dependency(&self, now_ms: u64) -> Option<Dependency<'_>> {
        if self.dependencies_ready.get() {
            return None;
        }
        let has_keys: Vec<bool> = self
            .key_views
            .borrow()
            .providers
            .iter()
            .map(|view| view.keys.is_some())
            .collect();
        let providers = self
            .gateway
            .providers
            .iter()
            .zip(has_keys)
            .map(|(provider, has)| (provider.id.as_str(), has));
        let tokens = self.tokens.borrow();
        let token_states: Vec<(&str, bool)> = self
            .gateway
            .token_keys()
            .into_iter()
            .map(|key| (key, matches!(tokens.lookup(key, now_ms), Lookup::Ready(_))))
            .collect();
        let missing = first_missing(providers, token_states);
        if missing.is_none() {
            self.dependencies_ready.set(true);
        }
        missing
    }

    /// Whether each finished request is counted (in reports or metrics), which needs its
    /// status.
    pub fn counts_requests(&self) -> bool {
        self.control.is_some() || self.metrics.is_some()
    }

    /// Whether requests are traced (to be counted, or for the span's stage timings).
    pub fn traced(&self) -> bool {
        self.counts_requests() || self.gateway.trace_stages
    }

    /// Changes the trace of the request `context_id`, if it has one.
    pub fn note(&self, context_id: u32, change: impl FnOnce(&mut Trace)) {
        if let Some(trace) = self.requests.borrow_mut().trace_mut(context_id) {
            change(trace);
        }
    }
}
