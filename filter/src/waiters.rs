//! Requests paused until something the root context fetches arrives: an
//! audience's ID token ([`Pending`]) or a JWT provider's keys ([`JwtPending`]).
//!
//! Owned by the root context (one per worker VM, single-threaded): the HTTP
//! context that pauses registers here; the root resumes or fails the waiters
//! when a fetch ends, and its tick fails those past their deadline. An HTTP
//! context that ends early (client gone) removes itself.

use std::rc::Rc;

/// What the root still has to do to a paused request once its token is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The audience whose token the request needs.
    pub audience: String,
    /// The client's `Authorization`, to move to `X-Forwarded-Authorization`.
    pub client_authorization: Option<String>,
    /// The translated `:path`, applied after the token (the request pipeline's order).
    pub path: Option<String>,
}

/// What the root still has to do to a request paused for JWT keys: decide the JWT
/// stage again, then go on as [`Onward`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtPending {
    /// Providers whose fetches the request waits for (indices into the config's providers).
    pub providers: Vec<usize>,
    pub onward: Onward,
}

/// What the stages after routing need of a request, kept while it is paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onward {
    /// The matched operation (index into the gateway's rules).
    pub operation: usize,
    /// The request head as it was read (JWTs and API keys are taken from it); shared, so
    /// keeping it costs no copy.
    pub headers: Rc<Vec<(String, String)>>,
    /// Backend-auth audience, when an ID token is attached.
    pub audience: Option<String>,
    pub client_authorization: Option<String>,
    /// The translated `:path`.
    pub path: Option<String>,
}

/// One paused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter<P = Pending> {
    /// The HTTP context id (for `set_effective_context`).
    pub context_id: u32,
    /// Give up waiting at this time (ms since the Unix epoch).
    pub deadline_ms: u64,
    pub pending: P,
}

#[derive(Debug)]
pub struct WaitList<P = Pending> {
    waiters: Vec<Waiter<P>>,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        WaitList {
            waiters: Vec::new(),
        }
    }
}

impl<P> WaitList<P> {
    pub fn push(&mut self, waiter: Waiter<P>) {
        self.waiters.push(waiter);
    }

    /// Forgets a request that ended while waiting.
    pub fn remove(&mut self, context_id: u32) {
        self.waiters.retain(|w| w.context_id != context_id);
    }

    /// Whether the request with this context id is still waiting.
    pub fn contains(&self, context_id: u32) -> bool {
        self.waiters.iter().any(|w| w.context_id == context_id)
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Removes and returns the waiters whose deadline is `now_ms` or earlier.
    pub fn take_expired(&mut self, now_ms: u64) -> Vec<Waiter<P>> {
        self.take(|w| w.deadline_ms <= now_ms)
    }

    /// Removes and returns the waiters `matches` picks, in arrival order.
    pub fn take(&mut self, matches: impl Fn(&Waiter<P>) -> bool) -> Vec<Waiter<P>> {
        let (taken, kept) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(matches);
        self.waiters = kept;
        taken
    }
}

impl WaitList<Pending> {
    /// Distinct audiences someone waits for.
    pub fn audiences(&self) -> Vec<String> {
        let mut audiences: Vec<String> = Vec::new();
        for waiter in &self.waiters {
            if !audiences.contains(&waiter.pending.audience) {
                audiences.push(waiter.pending.audience.clone());
            }
        }
        audiences
    }

    /// Removes and returns the waiters for `audience`, in arrival order.
    pub fn take_audience(&mut self, audience: &str) -> Vec<Waiter> {
        self.take(|w| w.pending.audience == audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(context_id: u32, audience: &str, deadline_ms: u64) -> Waiter {
        Waiter {
            context_id,
            deadline_ms,
            pending: Pending {
                audience: audience.into(),
                client_authorization: None,
                path: None,
            },
        }
    }

    fn ids(waiters: &[Waiter]) -> Vec<u32> {
        waiters.iter().map(|w| w.context_id).collect()
    }

    #[test]
    fn waiters_are_taken_by_audience_in_arrival_order() {
        let mut list = WaitList::default();
        list.push(waiter(1, "a", 10));
        list.push(waiter(2, "b", 10));
        list.push(waiter(3, "a", 10));
        assert_eq!(list.audiences(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(ids(&list.take_audience("a")), vec![1, 3]);
        assert_eq!(ids(&list.take_audience("a")), Vec::<u32>::new());
        assert_eq!(ids(&list.take_audience("b")), vec![2]);
        assert!(list.is_empty());
    }

    #[test]
    fn expired_waiters_are_taken_at_their_deadline() {
        let mut list = WaitList::default();
        list.push(waiter(1, "a", 10));
        list.push(waiter(2, "a", 20));
        assert!(list.take_expired(9).is_empty());
        assert_eq!(ids(&list.take_expired(10)), vec![1]);
        assert_eq!(ids(&list.take_audience("a")), vec![2]);
    }

    #[test]
    fn a_finished_request_is_forgotten() {
        let mut list = WaitList::default();
        list.push(waiter(1, "a", 10));
        list.push(waiter(2, "a", 10));
        assert!(list.contains(1));
        list.remove(1);
        assert!(!list.contains(1));
        assert_eq!(ids(&list.take_audience("a")), vec![2]);
    }

    #[test]
    fn key_waiters_are_taken_when_their_providers_settle() {
        let key_waiter = |context_id, providers: Vec<usize>| Waiter {
            context_id,
            deadline_ms: 100,
            pending: JwtPending {
                providers,
                onward: Onward {
                    operation: 0,
                    headers: Rc::default(),
                    audience: None,
                    client_authorization: None,
                    path: None,
                },
            },
        };
        let mut list: WaitList<JwtPending> = WaitList::default();
        list.push(key_waiter(1, vec![0]));
        list.push(key_waiter(2, vec![0, 1]));
        list.push(key_waiter(3, vec![1]));
        // Provider 0's fetch ended, provider 1's has not.
        let settled = [true, false];
        let ready = list.take(|w| w.pending.providers.iter().all(|&p| settled[p]));
        assert_eq!(
            ready.iter().map(|w| w.context_id).collect::<Vec<_>>(),
            vec![1]
        );
        assert!(list.contains(2) && list.contains(3));
        assert_eq!(list.take_expired(100).len(), 2);
        assert!(list.is_empty());
    }
}
