//! The per-request context: reads the request head, asks
//! [`decide`](crate::decision::decide), executes the decision, and pauses the
//! request when its backend ID token is not there yet.

use std::rc::Rc;

use log::error;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::apply;
use super::state::{header_map, now_ms, State};
use super::tokens::{current_token, TokenAnswer};
use crate::decision::{decide, BackendAuthStep, Decision, Forward};
use crate::local_reply::LocalReply;
use crate::waiters::{Pending, Waiter};

pub(super) struct WaspHttp {
    context_id: u32,
    state: Option<Rc<State>>,
    /// Registered in the root's wait list (paused for a token).
    waiting: bool,
}

impl WaspHttp {
    pub(super) fn new(context_id: u32, state: Option<Rc<State>>) -> WaspHttp {
        WaspHttp {
            context_id,
            state,
            waiting: false,
        }
    }

    /// Still paused: registered and not yet resumed or failed by the root.
    fn still_waiting(&self) -> bool {
        self.waiting
            && self
                .state
                .as_deref()
                .is_some_and(|s| s.waiters.borrow().contains(self.context_id))
    }

    fn forward(&mut self, state: &State, forward: &Forward) -> Action {
        if let Err(status) = apply::route(forward) {
            // Without the route header the request would reach the wrong
            // route, so fail closed.
            error!(
                "cannot set the route for {}: {status:?}",
                forward.operation_name
            );
            return apply::reply(&LocalReply::Internal);
        }
        let Some(auth) = forward.backend_auth else {
            return finish(None, None, forward.path.as_deref());
        };
        let now = now_ms();
        match current_token(state, auth.audience, now) {
            TokenAnswer::Ready(jwt) => finish(
                Some(&jwt),
                auth.client_authorization,
                forward.path.as_deref(),
            ),
            TokenAnswer::Unavailable => apply::reply(&LocalReply::TokenNotFound {
                audience: auth.audience.to_string(),
            }),
            TokenAnswer::Wait => {
                self.wait(state, auth, forward.path.clone(), now);
                Action::Pause
            }
        }
    }

    /// Parks the request in the root's wait list until its token arrives or
    /// the source's timeout passes.
    fn wait(&mut self, state: &State, auth: BackendAuthStep, path: Option<String>, now: u64) {
        state.waiters.borrow_mut().push(Waiter {
            context_id: self.context_id,
            deadline_ms: now.saturating_add(state.token_wait_ms()),
            pending: Pending {
                audience: auth.audience.to_string(),
                client_authorization: auth.client_authorization.map(str::to_string),
                path,
            },
        });
        self.waiting = true;
    }
}

/// The last header changes of a request that goes on now.
fn finish(
    id_token: Option<&str>,
    client_authorization: Option<&str>,
    path: Option<&str>,
) -> Action {
    match apply::backend(id_token, client_authorization, path) {
        Ok(()) => Action::Continue,
        Err(status) => {
            error!("cannot set the backend headers: {status:?}");
            apply::reply(&LocalReply::Internal)
        }
    }
}

impl Context for WaspHttp {
    fn on_done(&mut self) -> bool {
        // A request that ends while paused (client gone) leaves the wait list.
        if self.waiting {
            if let Some(state) = self.state.as_deref() {
                state.waiters.borrow_mut().remove(self.context_id);
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
        // One host call for the whole head; pseudo headers are in it.
        let headers = match header_map(MapType::HttpRequestHeaders) {
            Ok(headers) => headers,
            Err(status) => {
                error!("cannot read request headers: {status:?}");
                return apply::reply(&LocalReply::Internal);
            }
        };
        match decide(&state.gateway, &headers) {
            Decision::Reply(local) => apply::reply(&local),
            Decision::Forward(forward) => self.forward(&state, &forward),
        }
    }

    // While paused for a token, body and trailers are held back too: a
    // Continue here would let Envoy send the request on without the token.
    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        if self.still_waiting() {
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
}
