//! JWT key fetching on the host: the root context's key and discovery callouts, the
//! shared-data exchange between worker VMs, and deciding the requests that wait.
//!
//! Every policy decision (fetch or not, backoff, kid-refresh rate limit) is made by
//! `wasp_jwt::refresh::JwksState`; this module reads and writes that state in shared
//! data (compare-and-swap, so one worker fetches for all) and performs the calls.

use std::collections::HashMap;
use std::time::Duration;

use log::{info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use wasp_config::auth::fetch_request;
use wasp_jwt::refresh::{FetchTarget, JwksState, RefreshPolicy};
use wasp_jwt::Provider;

use super::callout::{response_body, response_status, Owner, Response};
use super::shared_data::swap;
use super::state::State;
use crate::jwt_auth::{fetch, seconds, settled, shared};

/// Callouts in flight: token id -> (provider index, discovery or keys). Owned by the root.
pub(super) type InFlight = HashMap<u32, (usize, Stage)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Discovery,
    Keys,
}

fn policy(provider: &Provider) -> RefreshPolicy {
    RefreshPolicy::for_provider(provider)
}

/// The root's periodic work: pick up keys other workers fetched, start the fetches that
/// are due (kid refreshes first). Returns the requests (context ids) whose wait for keys is
/// over, for the root to wake.
pub(super) fn tick(state: &State, in_flight: &mut InFlight, now_ms: u64) -> Vec<u32> {
    let now = seconds(now_ms);
    for index in 0..state.gateway.providers.len() {
        sync_view(state, index);
        plan(state, index, in_flight, now);
    }
    settle(state, now_ms)
}

/// Re-reads a provider's shared state when it changed, and its document when the
/// generation did (each VM parses a document once per generation).
fn sync_view(state: &State, index: usize) {
    let Some(provider) = state.gateway.providers.get(index) else {
        return;
    };
    let key = shared::state_key(state.gateway.jwks_scope(index));
    let Ok((bytes, cas)) = hostcalls::get_shared_data(&key) else {
        return;
    };
    let shared_state = bytes
        .as_deref()
        .and_then(shared::decode_state)
        .unwrap_or_default();
    let needs_document = {
        let mut views = state.key_views.borrow_mut();
        let Some(view) = views.providers.get_mut(index) else {
            return;
        };
        if view.state_cas.is_some() && view.state_cas == cas {
            return;
        }
        view.state = shared_state;
        view.state_cas = cas;
        view.state.has_keys() && view.state.generation != view.generation
    };
    if needs_document {
        adopt_document(state, index, &provider.id);
    }
}

fn adopt_document(state: &State, index: usize, provider: &str) {
    let key = shared::document_key(state.gateway.jwks_scope(index));
    let Ok((Some(bytes), _)) = hostcalls::get_shared_data(&key) else {
        return;
    };
    let Some((generation, document)) = shared::decode_document(&bytes) else {
        return;
    };
    match fetch::keys(document) {
        Ok((keys, _)) => {
            let mut views = state.key_views.borrow_mut();
            if let Some(view) = views.providers.get_mut(index) {
                view.keys = Some(keys);
                view.generation = generation;
            }
        }
        Err(reason) => warn!("shared keys of provider {provider} do not parse: {reason}"),
    }
}

/// Starts a fetch when this VM's view says one is due, confirming it through a CAS
/// write of the shared state (the lease) so that only one worker fetches.
fn plan(state: &State, index: usize, in_flight: &mut InFlight, now: u64) {
    let Some(provider) = state.gateway.providers.get(index) else {
        return;
    };
    let policy = policy(provider);
    let (kid_refresh, due) = {
        let mut views = state.key_views.borrow_mut();
        let Some(view) = views.providers.get_mut(index) else {
            return;
        };
        let kid_refresh = std::mem::take(&mut view.kid_refresh_wanted);
        let mut probe = view.state.clone();
        let due = probe.plan_tick(&policy, now) || probe != view.state;
        (kid_refresh, due)
    };
    if !kid_refresh && !due {
        return;
    }
    let started = update_shared_state(state, index, |shared_state| {
        let kid = kid_refresh && shared_state.start_kid_refresh(&policy, now).is_some();
        kid || shared_state.plan_tick(&policy, now)
    });
    if started == Some(true) {
        dispatch(state, index, in_flight, now);
    }
}

/// Read-modify-write of a provider's shared state with CAS, retried on a race. The view
/// takes the written state. Returns `change`'s answer, `None` when shared data failed.
fn update_shared_state<T>(
    state: &State,
    index: usize,
    change: impl Fn(&mut JwksState) -> T,
) -> Option<T> {
    let provider = state.gateway.providers.get(index)?;
    let key = shared::state_key(state.gateway.jwks_scope(index));
    for _ in 0..4 {
        let (bytes, cas) = hostcalls::get_shared_data(&key).ok()?;
        let before = bytes
            .as_deref()
            .and_then(shared::decode_state)
            .unwrap_or_default();
        let mut after = before.clone();
        let answer = change(&mut after);
        if after != before {
            match swap(&key, &shared::encode_state(&after), cas) {
                Ok(()) => {}
                Err(Status::CasMismatch) => continue,
                Err(status) => {
                    warn!("cannot write the key state of {}: {status:?}", provider.id);
                    return None;
                }
            }
        }
        let mut views = state.key_views.borrow_mut();
        if let Some(view) = views.providers.get_mut(index) {
            view.state = after;
            // The CAS changed with the write; the next sync re-reads.
            view.state_cas = None;
        }
        return Some(answer);
    }
    None
}

/// Calls the provider's discovery or key URL; the state is already marked in flight.
fn dispatch(state: &State, index: usize, in_flight: &mut InFlight, now: u64) {
    let Some(provider) = state.gateway.providers.get(index) else {
        return;
    };
    let target = {
        let views = state.key_views.borrow();
        let Some(view) = views.providers.get(index) else {
            return;
        };
        view.state.fetch_target(provider)
    };
    let (url, stage) = match &target {
        FetchTarget::Discovery(url) => (url.as_str(), Stage::Discovery),
        FetchTarget::Keys(url) => (url.as_str(), Stage::Keys),
    };
    let Some(request) = fetch_request(&state.gateway.jwks_clusters, url) else {
        warn!(
            "no cluster serves {url} (provider {}); add its origin to jwks_clusters",
            provider.id
        );
        fetch_failed(state, index, now);
        return;
    };
    let timeout = Duration::from_secs(policy(provider).fetch_timeout_seconds);
    match hostcalls::dispatch_http_call(
        request.cluster,
        fetch::headers(request.authority, request.path),
        None,
        vec![],
        timeout,
    ) {
        Ok(token_id) => {
            state.callouts.register(token_id, Owner::Keys);
            in_flight.insert(token_id, (index, stage));
        }
        Err(status) => {
            warn!(
                "cannot call cluster {} for provider {}: {status:?}",
                request.cluster, provider.id
            );
            fetch_failed(state, index, now);
        }
    }
}

fn fetch_failed(state: &State, index: usize, now: u64) {
    if let Some(provider) = state.gateway.providers.get(index) {
        let policy = policy(provider);
        update_shared_state(state, index, |s| s.on_fetch_failed(&policy, now));
    }
}

/// A key or discovery response arrived at the root context; returns the requests (context
/// ids) whose wait for keys is over.
pub(super) fn on_response(
    state: &State,
    in_flight: &mut InFlight,
    response: Response,
    now_ms: u64,
) -> Vec<u32> {
    let Some((index, stage)) = in_flight.remove(&response.token_id) else {
        return Vec::new();
    };
    let Some(provider) = state.gateway.providers.get(index) else {
        return Vec::new();
    };
    let now = seconds(now_ms);
    // Status and announced size first: an oversized body is never read.
    let body = fetch::check_head(response_status(response.num_headers), response.body_size)
        .map(|()| response_body(response.body_size));
    let result = body.and_then(|body| match stage {
        Stage::Discovery => fetch::discovered_jwks_uri(&body).map(|uri| {
            update_shared_state(state, index, |s| s.on_discovered(uri.clone()));
            dispatch(state, index, in_flight, now);
        }),
        Stage::Keys => fetch::keys(&body).map(|(keys, hash)| {
            store_keys(state, index, &body, keys, hash, now);
        }),
    });
    if let Some(metrics) = &state.metrics {
        metrics
            .borrow_mut()
            .jwks_fetch(&provider.id, result.is_ok());
    }
    if let Err(reason) = result {
        warn!(
            "key fetch for provider {} failed: {reason}; the last good keys keep serving",
            provider.id
        );
        fetch_failed(state, index, now);
    }
    settle(state, now_ms)
}

/// Publishes a fetched document (before the state announcing its generation) and uses it.
fn store_keys(
    state: &State,
    index: usize,
    body: &[u8],
    keys: wasp_jwt::KeySet,
    hash: String,
    now: u64,
) {
    let Some(provider) = state.gateway.providers.get(index) else {
        return;
    };
    let document_key = shared::document_key(state.gateway.jwks_scope(index));
    let generation = update_shared_state(state, index, |s| {
        let generation = s.on_keys_fetched(now, hash.clone());
        if let Err(status) = hostcalls::set_shared_data(
            &document_key,
            Some(&shared::encode_document(generation, body)),
            None,
        ) {
            warn!("cannot share the keys of {}: {status:?}", provider.id);
        }
        generation
    });
    let Some(generation) = generation else {
        return;
    };
    info!(
        "keys of provider {} fetched: {} usable, generation {generation}",
        provider.id,
        keys.len()
    );
    let mut views = state.key_views.borrow_mut();
    if let Some(view) = views.providers.get_mut(index) {
        if view.generation != generation || view.keys.is_none() {
            view.keys = Some(keys);
            view.generation = generation;
        }
    }
}

/// The requests waiting for keys whose fetches ended, and those past their deadline
/// (decided with the keys there are then).
fn settle(state: &State, now_ms: u64) -> Vec<u32> {
    let now = seconds(now_ms);
    let views = state.key_views.borrow();
    state.requests.borrow().keys_settled(now_ms, |index| {
        views
            .providers
            .get(index)
            .is_none_or(|view| settled(view, now))
    })
}
