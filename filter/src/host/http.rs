//! The per-request context: reads the request head, asks
//! [`decide`](crate::decision::decide), runs the JWT stage, executes the
//! decision, and pauses the request when its JWT keys or its backend ID token
//! are not there yet.

use std::rc::Rc;

use log::error;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use wasp_jwt::refresh::RefreshPolicy;

use super::apply;
use super::jwks::{seconds, set_userinfo};
use super::state::{header_map, now_ms, State};
use super::tokens::{current_token, TokenAnswer};
use crate::decision::{decide, BackendAuthStep, Decision, Forward};
use crate::jwt_auth::{authenticate, JwtOutcome, Pass};
use crate::local_reply::LocalReply;
use crate::waiters::{JwtPending, Onward, Pending, Waiter};

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
                .is_some_and(|s| s.is_waiting(self.context_id))
    }

    fn forward(
        &mut self,
        state: &State,
        forward: &Forward,
        headers: &[(String, String)],
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
        let now = now_ms();
        if let Some(requirement) = forward.security {
            let outcome = authenticate(
                requirement,
                &state.gateway.service_name,
                &state.gateway.providers,
                &state.key_views.borrow(),
                &mut state.verifier.borrow_mut(),
                headers,
                seconds(now),
                Pass::First,
            );
            match outcome {
                JwtOutcome::Forward { userinfo } => {
                    if let Err(status) = set_userinfo(userinfo.as_deref()) {
                        error!("cannot set the user info: {status:?}");
                        return apply::reply(&LocalReply::Internal);
                    }
                }
                JwtOutcome::Deny(error) => {
                    return apply::reply(&LocalReply::Jwt {
                        error,
                        realm: state.gateway.service_name.clone(),
                    });
                }
                JwtOutcome::Wait {
                    providers,
                    kid_refresh,
                } => {
                    self.wait_for_keys(state, forward, headers, providers, &kid_refresh, now);
                    return Action::Pause;
                }
            }
        }
        let Some(auth) = forward.backend_auth else {
            return finish(None, None, forward.path.as_deref());
        };
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

    /// Parks the request until its providers' key fetches end (the root's tick
    /// starts them, kid refreshes included) or the fetch timeout passes.
    fn wait_for_keys(
        &mut self,
        state: &State,
        forward: &Forward,
        headers: &[(String, String)],
        providers: Vec<usize>,
        kid_refresh: &[usize],
        now: u64,
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
        let backend_auth = forward.backend_auth;
        state.jwt_waiters.borrow_mut().push(Waiter {
            context_id: self.context_id,
            // One tick to start the fetch, then the fetch's own timeout.
            deadline_ms: now.saturating_add(longest_fetch_s.saturating_add(1).saturating_mul(1000)),
            pending: JwtPending {
                operation: forward.operation_index,
                headers: headers.to_vec(),
                providers,
                onward: Onward {
                    audience: backend_auth.map(|a| a.audience.to_string()),
                    client_authorization: backend_auth
                        .and_then(|a| a.client_authorization)
                        .map(str::to_string),
                    path: forward.path.clone(),
                },
            },
        });
        self.waiting = true;
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
            Decision::Forward(forward) => self.forward(&state, &forward, &headers),
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
