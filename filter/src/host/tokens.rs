//! ID-token fetching on the host: the metadata-server callouts, the shared-data
//! exchange between worker VMs, and waking the requests that wait.
//!
//! Every decision (fetch or not, ready / wait / fail) is made by
//! [`IdTokens`](crate::id_tokens::IdTokens); this module only performs the host
//! calls it asks for. All callouts are dispatched by the root context (from
//! `on_tick`), so their responses come back to the root.

use std::collections::HashMap;
use std::time::Duration;

use log::{info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use wasp_config::ACCESS_TOKEN_KEY;

use super::callout::{response_body, response_status, Owner, Response};
use super::shared_data::swap;
use super::state::State;
use crate::id_tokens::request::{self, AnswerKind, CallPlan};
use crate::id_tokens::shared::{self, Lease};
use crate::id_tokens::{token, Lookup};
use crate::request::TokenAnswer;

/// The token for `audience` now: from this VM's cache, else from shared data
/// (another worker may have fetched it).
pub(super) fn current_token(state: &State, audience: &str, now: u64) -> TokenAnswer {
    let answer = lookup(state, audience, now);
    if matches!(answer, TokenAnswer::Ready(_))
        || !state.tokens.borrow().wants_shared_token(audience, now)
    {
        return answer;
    }
    adopt_shared(state, audience, now);
    lookup(state, audience, now)
}

fn lookup(state: &State, audience: &str, now: u64) -> TokenAnswer {
    match state.tokens.borrow().lookup(audience, now) {
        Lookup::Ready(jwt) => TokenAnswer::Ready(jwt.to_string()),
        Lookup::Wait => TokenAnswer::Wait,
        Lookup::Unavailable => TokenAnswer::Unavailable,
    }
}

/// Reads the audience's token entry from shared data and keeps it if newer.
fn adopt_shared(state: &State, audience: &str, now: u64) {
    let key = shared::token_key(&state.gateway.token_scope, audience);
    let Ok((Some(bytes), _)) = hostcalls::get_shared_data(&key) else {
        return;
    };
    if let Some(token) = shared::decode_token(&bytes) {
        state.tokens.borrow_mut().adopt(audience, token, now);
    }
}

/// Callouts in flight: token id -> audience and how its answer reads. Owned by the
/// root context.
pub(super) type InFlight = HashMap<u32, (String, AnswerKind)>;

/// Requests (by context id) the token fetches settled, for the root to wake (the fetchers
/// never advance a request: they say whom to wake).
#[derive(Default)]
pub(super) struct Woken {
    /// Their token is ready.
    pub ready: Vec<(u32, String)>,
    /// Their token is unavailable.
    pub unavailable: Vec<u32>,
    /// They waited too long.
    pub waited_too_long: Vec<u32>,
}

/// The root's periodic work: pick up tokens other workers fetched, start the
/// fetches that are due; returns the waiting requests to wake or fail.
pub(super) fn tick(state: &State, in_flight: &mut InFlight, now: u64) -> Woken {
    let audiences: Vec<String> = state
        .tokens
        .borrow()
        .audiences()
        .map(str::to_string)
        .collect();
    for audience in &audiences {
        if state.tokens.borrow().wants_shared_token(audience, now) {
            adopt_shared(state, audience, now);
        }
        if state.tokens.borrow().waits_on_other_worker(audience, now) {
            if let Some((lease, _)) = read_lease(state, audience) {
                state.tokens.borrow_mut().follow_lease(audience, lease, now);
            }
        }
        if state.tokens.borrow().needs_fetch(audience, now) {
            start_fetch(state, audience, in_flight, now);
        }
    }
    let mut woken = Woken::default();
    let awaited = state.requests.borrow().awaited_audiences();
    for audience in &awaited {
        settle(state, audience, now, &mut woken);
    }
    // One settled above too is woken once: its stage no longer waits for the deadline.
    woken.waited_too_long = state.requests.borrow().token_waits_over(now);
    woken
}

/// The audience's fetch lease and its CAS version, as shared data holds them.
fn read_lease(state: &State, audience: &str) -> Option<(Option<Lease>, Option<u32>)> {
    let key = shared::lease_key(&state.gateway.token_scope, audience);
    match hostcalls::get_shared_data(&key) {
        Ok((value, cas)) => Some((value.as_deref().and_then(Lease::decode), cas)),
        Err(status) => {
            warn!("cannot read the ID-token lease for {audience}: {status:?}");
            None
        }
    }
}

/// Takes the fetch lease (compare-and-swap, so one worker fetches for all)
/// and dispatches the call: the metadata server's, or IAM's once the access token
/// that authorises it is ready.
fn start_fetch(state: &State, audience: &str, in_flight: &mut InFlight, now: u64) {
    let Some(source) = &state.gateway.id_token_source else {
        return;
    };
    // Only IAM's calls are authorised by the access token (`request::plan` decides).
    let access = source
        .iam
        .as_ref()
        .map(|_| current_token(state, ACCESS_TOKEN_KEY, now));
    let ready = match &access {
        Some(TokenAnswer::Ready(token)) => Some(token.as_str()),
        _ => None,
    };
    let call = match request::plan(source, audience, ready) {
        CallPlan::Call(call) => call,
        // The access token is fetched on this tick too; try again on the next, unless it
        // failed (then this audience fails fast until its retry).
        CallPlan::NeedsAccessToken => {
            if matches!(access, Some(TokenAnswer::Unavailable)) {
                warn!("no access token to ask IAM for an ID token for {audience}");
                record_failure(state, audience, now);
            }
            return;
        }
    };
    let Some((lease, cas)) = read_lease(state, audience) else {
        return;
    };
    if !Lease::is_free(lease, now) {
        state.tokens.borrow_mut().follow_lease(audience, lease, now);
        return;
    }
    let lease_key = shared::lease_key(&state.gateway.token_scope, audience);
    let until_ms = state.tokens.borrow().lease_until(now);
    let taken = Lease::Fetching { until_ms }.encode();
    match swap(&lease_key, &taken, cas) {
        Ok(()) => {}
        Err(Status::CasMismatch) => {
            // Another worker took it a moment ago.
            state
                .tokens
                .borrow_mut()
                .fetching_elsewhere(audience, until_ms);
            return;
        }
        Err(status) => {
            warn!("cannot take the ID-token lease for {audience}: {status:?}");
            return;
        }
    }
    let headers: Vec<(&str, &str)> = call.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    match hostcalls::dispatch_http_call(
        call.cluster,
        headers,
        call.body.as_deref(),
        vec![],
        Duration::from_millis(source.timeout_ms),
    ) {
        Ok(token_id) => {
            state.callouts.register(token_id, Owner::Token);
            in_flight.insert(token_id, (audience.to_string(), call.answer));
            state.tokens.borrow_mut().fetch_started(audience, now);
        }
        Err(status) => {
            // Unknown cluster or a missing pseudo header: a config problem.
            warn!(
                "cannot call the token source (cluster {}) for {audience}: {status:?}",
                call.cluster
            );
            record_failure(state, audience, now);
        }
    }
}

/// A token-call response (metadata server or IAM) arrived at the root context; returns
/// the waiting requests it settles.
pub(super) fn on_response(
    state: &State,
    in_flight: &mut InFlight,
    response: Response,
    now: u64,
) -> Woken {
    let mut woken = Woken::default();
    let Some((audience, answer)) = in_flight.remove(&response.token_id) else {
        return woken;
    };
    // Read everything about the response before switching contexts.
    let status = response_status(response.num_headers);
    let result = token::check_size(response.body_size).and_then(|()| {
        let body = response_body(response.body_size);
        match answer {
            AnswerKind::AccessToken => token::parse_access_token(status, &body, now),
            AnswerKind::RawJwt => token::parse_response(status, &body, now),
            AnswerKind::IamToken => token::parse_iam_response(status, &body, now),
        }
    });
    if let Some(metrics) = &state.metrics {
        metrics.borrow_mut().id_token_fetch(result.is_ok());
    }
    match result {
        Ok(token) => {
            info!(
                "fetched an ID token for {audience}, valid for {} s",
                token.expires_at_ms.saturating_sub(now) / 1000
            );
            let scope = &state.gateway.token_scope;
            let shared_token = shared::encode_token(&token);
            if let Err(status) = hostcalls::set_shared_data(
                &shared::token_key(scope, &audience),
                Some(&shared_token),
                None,
            ) {
                warn!("cannot share the ID token for {audience}: {status:?}");
            }
            let _ = hostcalls::set_shared_data(
                &shared::lease_key(scope, &audience),
                Some(&Lease::Done.encode()),
                None,
            );
            state.tokens.borrow_mut().fetched(&audience, token, now);
        }
        Err(reason) => {
            warn!("ID-token fetch for {audience} failed: {reason}");
            record_failure(state, &audience, now);
        }
    }
    settle(state, &audience, now, &mut woken);
    woken
}

/// Marks a failed fetch here and, through the lease, for the other workers.
fn record_failure(state: &State, audience: &str, now: u64) {
    let until_ms = state.tokens.borrow_mut().fetch_failed(audience, now);
    let lease_key = shared::lease_key(&state.gateway.token_scope, audience);
    let _ =
        hostcalls::set_shared_data(&lease_key, Some(&Lease::Failed { until_ms }.encode()), None);
}

/// The requests waiting for `audience`, to wake if its token is ready or unavailable; none
/// while it is still on its way.
fn settle(state: &State, audience: &str, now: u64, woken: &mut Woken) {
    match lookup(state, audience, now) {
        TokenAnswer::Wait => {}
        TokenAnswer::Ready(jwt) => {
            let waiting = state.requests.borrow().awaiting_token(audience);
            woken
                .ready
                .extend(waiting.into_iter().map(|id| (id, jwt.clone())));
        }
        TokenAnswer::Unavailable => {
            let waiting = state.requests.borrow().awaiting_token(audience);
            woken.unavailable.extend(waiting);
        }
    }
}
