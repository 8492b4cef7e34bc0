//! One VM's requests in flight, by HTTP context id: the one place a request is kept between
//! its callbacks, whether it waits (for keys, a Service Control answer, an ID token) or only
//! has a trace that a later callback fills in. Who to wake is read from each request's stage.

use std::collections::HashMap;

use crate::request::{Request, Stage};
use crate::service_control::Trace;

/// Requests kept for their trace alone, at most; a host that never calls `on_log` must not
/// make the map grow without end (a report then goes missing, a request never does). A
/// waiting request is always kept: its deadline ends the wait.
pub const MAX_TRACED: usize = 20_000;

#[derive(Debug, Default)]
pub struct Requests {
    by_context: HashMap<u32, Request>,
}

impl Requests {
    /// Keeps a request between callbacks when it waits, or when its trace is still to be
    /// filled in (past [`MAX_TRACED`] such ones, it goes unreported). Others need no entry.
    pub fn keep(&mut self, context_id: u32, request: Request) {
        let traced = request.trace().is_some()
            && (self.by_context.len() < MAX_TRACED || self.by_context.contains_key(&context_id));
        if request.is_waiting() || traced {
            self.by_context.insert(context_id, request);
        } else {
            self.by_context.remove(&context_id);
        }
    }

    /// Takes a request out to advance it (it is kept again after).
    pub fn take(&mut self, context_id: u32) -> Option<Request> {
        self.by_context.remove(&context_id)
    }

    pub fn trace_mut(&mut self, context_id: u32) -> Option<&mut Trace> {
        self.by_context.get_mut(&context_id)?.trace_mut()
    }

    pub fn is_waiting(&self, context_id: u32) -> bool {
        self.by_context
            .get(&context_id)
            .is_some_and(Request::is_waiting)
    }

    /// The gateway answered the request outside its stages (a step failed); only its trace
    /// is still needed.
    pub fn answered(&mut self, context_id: u32) {
        self.change(context_id, Request::answered);
    }

    /// The client left (`on_done`): a waiting request stops waiting; its trace stays for
    /// `on_log`.
    pub fn client_gone(&mut self, context_id: u32) {
        self.change(context_id, Request::gone);
    }

    /// Changes a request, then keeps it only as [`Requests::keep`] would.
    fn change(&mut self, context_id: u32, change: impl FnOnce(&mut Request)) {
        if let Some(mut request) = self.take(context_id) {
            change(&mut request);
            self.keep(context_id, request);
        }
    }

    /// Ends a request (its `on_log`): its trace, if it had one.
    pub fn finish(&mut self, context_id: u32) -> Option<Trace> {
        self.by_context.remove(&context_id)?.into_trace()
    }

    /// Requests waiting for keys whose providers all `settled`, or whose deadline passed,
    /// in arrival order (Envoy's context ids grow).
    pub fn keys_settled(&self, now_ms: u64, settled: impl Fn(usize) -> bool) -> Vec<u32> {
        self.select(|stage| match stage {
            Stage::Keys {
                providers,
                deadline_ms,
            } => *deadline_ms <= now_ms || providers.iter().all(|&p| settled(p)),
            _ => false,
        })
    }

    /// Distinct audiences whose ID token someone waits for.
    pub fn awaited_audiences(&self) -> Vec<String> {
        let mut audiences: Vec<String> = Vec::new();
        for request in self.by_context.values() {
            if let Stage::Token { audience, .. } = request.stage() {
                if !audiences.contains(audience) {
                    audiences.push(audience.clone());
                }
            }
        }
        audiences
    }

    /// Requests waiting for `audience`'s token, in arrival order.
    pub fn awaiting_token(&self, audience: &str) -> Vec<u32> {
        self.select(|stage| matches!(stage, Stage::Token { audience: a, .. } if a == audience))
    }

    /// Requests whose wait for a token passed its deadline, in arrival order.
    pub fn token_waits_over(&self, now_ms: u64) -> Vec<u32> {
        self.select(
            |stage| matches!(stage, Stage::Token { deadline_ms, .. } if *deadline_ms <= now_ms),
        )
    }

    fn select(&self, picks: impl Fn(&Stage) -> bool) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .by_context
            .iter()
            .filter(|(_, request)| picks(request.stage()))
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_kept_for_their_trace_alone_are_bounded() {
        let mut requests = Requests::default();
        for id in 0..MAX_TRACED as u32 {
            requests.keep(id, Request::new(Some(Trace::new(id.into()))));
        }
        requests.keep(u32::MAX, Request::new(Some(Trace::new(0))));
        assert!(
            requests.finish(u32::MAX).is_none(),
            "past the bound: unreported"
        );
        requests.keep(7, Request::new(Some(Trace::new(5))));
        assert_eq!(
            requests.finish(7).map(|t| t.start_ms),
            Some(5),
            "a known one is kept"
        );
        requests.keep(u32::MAX, Request::new(Some(Trace::new(0))));
        assert!(requests.finish(u32::MAX).is_some());
    }

    #[test]
    fn an_untraced_request_needs_no_entry() {
        let mut requests = Requests::default();
        requests.keep(1, Request::new(None));
        assert!(requests.take(1).is_none());
        requests.keep(2, Request::new(Some(Trace::new(0))));
        requests.answered(2);
        assert!(
            requests.finish(2).is_some(),
            "the trace stays for the report"
        );
    }
}
