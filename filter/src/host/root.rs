//! The root context: turns the plugin configuration into a [`Gateway`] once,
//! hands it to every request's context, and owns the ID-token fetches.

use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use wasp_config::FilterConfig;

use super::callout::{Owner, Response};
use super::control;
use super::executor::{on_control_response, wake};
use super::http::WaspHttp;
use super::jwks;
use super::metrics;
use super::reads::now_ms;
use super::state::State;
use super::tokens::{self, InFlight, Woken};
use crate::gateway::Gateway;
use crate::request::Event;

/// The first tick comes right after configure: never dispatch inside
/// `on_configure` (Envoy's cluster manager may not be ready; envoy#27311).
const FIRST_TICK: Duration = Duration::from_millis(1);
/// Then: refresh checks, waiters' deadlines, tokens fetched by other workers.
const TICK: Duration = Duration::from_millis(250);

pub(super) struct WaspRoot {
    context_id: u32,
    /// `None` until a configuration was accepted.
    state: Option<Rc<State>>,
    in_flight: InFlight,
    /// JWT key and discovery callouts in flight.
    key_fetches: jwks::InFlight,
    /// Report batches in flight.
    reports: control::Deliveries,
    ticking: Option<Duration>,
    /// Envoy ids of the per-operation metrics defined so far.
    metric_ids: metrics::MetricIds,
}

impl WaspRoot {
    pub(super) fn new(context_id: u32) -> WaspRoot {
        WaspRoot {
            context_id,
            state: None,
            in_flight: InFlight::new(),
            key_fetches: jwks::InFlight::new(),
            reports: control::Deliveries::new(),
            ticking: None,
            metric_ids: metrics::MetricIds::default(),
        }
    }

    /// Host calls after this act on the root context again (waking requests switched away).
    fn restore(&self) {
        let _ = hostcalls::set_effective_context(self.context_id);
    }

    fn set_tick(&mut self, period: Duration) {
        if self.ticking == Some(period) {
            return;
        }
        match hostcalls::set_tick_period(period) {
            Ok(()) => self.ticking = Some(period),
            Err(status) => warn!("cannot set the tick period: {status:?}"),
        }
    }
}

impl Context for WaspRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(state) = self.state.clone() {
            let response = Response {
                token_id,
                num_headers,
                body_size,
            };
            let now = now_ms();
            // The fetchers say whom their answer wakes; the executor carries those on.
            match state.callouts.take(token_id) {
                // A Check or AllocateQuota of a request woken by the tick.
                Some(Owner::Request(context_id)) => {
                    on_control_response(&state, context_id, &response, now)
                }
                Some(Owner::Report) => {
                    control::on_report_response(&state, &mut self.reports, &response)
                }
                Some(Owner::Keys) => {
                    let woken = jwks::on_response(&state, &mut self.key_fetches, response, now);
                    wake_key_waiters(&state, woken, now);
                }
                Some(Owner::Token) => {
                    let woken = tokens::on_response(&state, &mut self.in_flight, response, now);
                    wake_token_waiters(&state, woken, now);
                }
                None => {}
            }
            self.restore();
        }
    }
}

impl RootContext for WaspRoot {
    /// Returning false makes Envoy refuse the configuration (startup fails, or
    /// an xDS update is rejected and the previous one kept), so a bad config
    /// never serves traffic.
    fn on_configure(&mut self, configuration_size: usize) -> bool {
        match compile(configuration_size) {
            Ok((gateway, summary)) => {
                info!("configuration accepted: {summary}");
                // Tokens and keys are fetched from the tick; the first one prefetches.
                // Reports are sent from the tick too.
                let fetches = !gateway.audiences().is_empty()
                    || !gateway.providers.is_empty()
                    || gateway.service_control.is_some()
                    || gateway.metrics.is_some();
                self.state = Some(Rc::new(State::new(gateway)));
                if fetches {
                    self.set_tick(FIRST_TICK);
                }
                true
            }
            Err(reason) => {
                error!("configuration rejected: {reason}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.set_tick(TICK);
        if let Some(state) = self.state.clone() {
            let now = now_ms();
            let woken = tokens::tick(&state, &mut self.in_flight, now);
            wake_token_waiters(&state, woken, now);
            let woken = jwks::tick(&state, &mut self.key_fetches, now);
            wake_key_waiters(&state, woken, now);
            self.restore();
            control::tick(&state, &mut self.reports, now);
            metrics::flush(&state, &mut self.metric_ids, now);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always a context: the SDK panics on `None`.
        Some(Box::new(WaspHttp::new(context_id, self.state.clone())))
    }
}

/// Carries on with the requests the token fetches settled, each in its own context. The
/// caller restores its own context after.
fn wake_token_waiters(state: &State, woken: Woken, now_ms: u64) {
    for (context_id, jwt) in woken.ready {
        wake(state, context_id, Event::TokenReady(jwt), now_ms);
    }
    for context_id in woken.unavailable {
        wake(state, context_id, Event::TokenUnavailable, now_ms);
    }
    for context_id in woken.waited_too_long {
        wake(state, context_id, Event::Deadline, now_ms);
    }
}

/// Decides again, finally, the requests whose wait for JWT keys is over. The caller
/// restores its own context after.
fn wake_key_waiters(state: &State, settled: Vec<u32>, now_ms: u64) {
    for context_id in settled {
        wake(state, context_id, Event::KeysSettled, now_ms);
    }
}

/// Reads and checks the plugin configuration and compiles it.
fn compile(configuration_size: usize) -> Result<(Gateway, String), String> {
    let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, configuration_size)
        .map_err(|status| format!("cannot read the plugin configuration: {status:?}"))?
        .ok_or("the plugin configuration is empty; set it to the filter.json that `wasp compile` wrote")?;
    // Gateway::build validates it.
    let config = FilterConfig::parse(&bytes)?;
    let summary = format!(
        "service {}, {} operations, {} routes, config {}",
        config.service_name,
        config.operations.len(),
        config.routes.len(),
        config.config_hash
    );
    let gateway = Gateway::build(config)?;
    let audiences = gateway.audiences().len();
    let providers = gateway.providers.len();
    let control = match &gateway.service_control {
        Some(c) => format!(
            "Service Control at {} ({} operations with keys or quotas, fail {:?})",
            c.endpoint.authority,
            c.operations.len(),
            c.network_fail_policy
        ),
        None => "no Service Control".to_string(),
    };
    Ok((
        gateway,
        format!("{summary}, {audiences} ID-token audiences, {providers} JWT providers, {control}"),
    ))
}
