//! Backend-auth ID tokens, one per audience: what this worker VM knows, when to
//! fetch, and whether a request can get a token now, must wait, or must fail.
//!
//! Plain state, time passed in (ms since the Unix epoch). The host adapter
//! (`host/id_token_fetch.rs`) performs the fetches and shared-data reads these
//! methods ask for and reports the results back.
//!
//! ESPv2 behaviour kept: one token per distinct audience, fetched ahead of need
//! and refreshed before expiry (`refresh_before_expiry_s`, 60 s by default),
//! failed fetches retried every 2 s, and a request that finds no token is
//! answered `500 Token not found for audience: <aud>`. Added: a request that
//! arrives while the first fetch is in flight waits for it instead of failing.

pub mod request;
pub mod shared;
pub mod token;

use std::collections::HashMap;

use shared::Lease;
pub use token::{FetchError, IdToken};

/// Wait after a failed fetch before the next one (ESPv2's `kFailedRequestRetryTime`).
pub const RETRY_AFTER_FAILURE_MS: u64 = 2_000;

/// Extra time beyond the call timeout before an unanswered fetch counts as lost
/// (Envoy always answers a callout, with a 504 on timeout; this is a safety net).
const FETCH_SLACK_MS: u64 = 1_000;

/// Can a request have a token for its audience now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Yes: this JWT.
    Ready(&'a str),
    /// Not yet, but a fetch is under way (here or in another worker) or about to start.
    Wait,
    /// No: the last fetch failed and the next one is not due yet.
    Unavailable,
}

/// Who is fetching an audience's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Idle,
    /// This worker dispatched a call; counted as lost after `until_ms`.
    Local {
        until_ms: u64,
    },
    /// Another worker holds the lease until `until_ms`.
    Remote {
        until_ms: u64,
    },
}

#[derive(Debug, Clone)]
struct Audience {
    token: Option<IdToken>,
    /// When to fetch a replacement for `token`.
    refresh_at_ms: u64,
    fetch: Fetch,
    /// Set by a failed fetch: requests without a token fail fast until then.
    failed_until_ms: Option<u64>,
}

/// The ID tokens of every audience in the configuration (per worker VM).
#[derive(Debug, Clone)]
pub struct IdTokens {
    audiences: HashMap<String, Audience>,
    timeout_ms: u64,
    refresh_before_ms: u64,
}

impl IdTokens {
    /// No token yet for any of `audiences`.
    pub fn new<'a>(
        audiences: impl IntoIterator<Item = &'a str>,
        timeout_ms: u64,
        refresh_before_s: u64,
    ) -> IdTokens {
        let empty = Audience {
            token: None,
            refresh_at_ms: 0,
            fetch: Fetch::Idle,
            failed_until_ms: None,
        };
        IdTokens {
            audiences: audiences
                .into_iter()
                .map(|a| (a.to_string(), empty.clone()))
                .collect(),
            timeout_ms,
            refresh_before_ms: refresh_before_s.saturating_mul(1000),
        }
    }

    /// Every configured audience (unordered).
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.audiences.keys().map(String::as_str)
    }

    /// What a request for `audience` gets at `now_ms`. An audience that is not
    /// configured is [`Lookup::Unavailable`].
    pub fn lookup(&self, audience: &str, now_ms: u64) -> Lookup<'_> {
        let Some(state) = self.audiences.get(audience) else {
            return Lookup::Unavailable;
        };
        if let Some(token) = state.token.as_ref().filter(|t| now_ms < t.expires_at_ms) {
            return Lookup::Ready(&token.jwt);
        }
        if state.fetching(now_ms) {
            return Lookup::Wait;
        }
        match state.failed_until_ms {
            Some(until) if now_ms < until => Lookup::Unavailable,
            // Never fetched, or the retry is due: the next tick starts a fetch.
            _ => Lookup::Wait,
        }
    }

    /// Whether the token entry in shared data is worth reading: this worker
    /// has no usable token, or its token is due for refresh (another worker may
    /// have refreshed it already).
    pub fn wants_shared_token(&self, audience: &str, now_ms: u64) -> bool {
        self.audiences.get(audience).is_some_and(|s| {
            s.token.as_ref().is_none_or(|t| now_ms >= t.expires_at_ms) || now_ms >= s.refresh_at_ms
        })
    }

    /// Whether a fetch should start now: no token or refresh due, nobody
    /// fetching, and not backing off after a failure.
    pub fn needs_fetch(&self, audience: &str, now_ms: u64) -> bool {
        let Some(state) = self.audiences.get(audience) else {
            return false;
        };
        if state.fetching(now_ms) || state.failed_until_ms.is_some_and(|until| now_ms < until) {
            return false;
        }
        state.token.is_none() || now_ms >= state.refresh_at_ms
    }

    /// How long a fetch starting at `now_ms` may hold the lease.
    pub fn lease_until(&self, now_ms: u64) -> u64 {
        now_ms
            .saturating_add(self.timeout_ms)
            .saturating_add(FETCH_SLACK_MS)
    }

    /// This worker dispatched a fetch. Returns until when the lease is held.
    pub fn fetch_started(&mut self, audience: &str, now_ms: u64) -> u64 {
        let until_ms = self.lease_until(now_ms);
        if let Some(state) = self.audiences.get_mut(audience) {
            state.fetch = Fetch::Local { until_ms };
        }
        until_ms
    }

    /// Another worker holds the fetch lease until `until_ms`.
    pub fn fetching_elsewhere(&mut self, audience: &str, until_ms: u64) {
        if let Some(state) = self.audiences.get_mut(audience) {
            state.fetch = Fetch::Remote { until_ms };
        }
    }

    /// Whether this worker waits on another worker's fetch (so the lease is
    /// worth watching: that fetch may have failed).
    pub fn waits_on_other_worker(&self, audience: &str, now_ms: u64) -> bool {
        self.audiences
            .get(audience)
            .is_some_and(|s| matches!(s.fetch, Fetch::Remote { until_ms } if now_ms < until_ms))
    }

    /// Takes in the fetch lease as found in shared data: another worker is
    /// fetching, has failed (so requests here fail fast too), or is done.
    pub fn follow_lease(&mut self, audience: &str, lease: Option<Lease>, now_ms: u64) {
        match lease {
            Some(Lease::Fetching { until_ms }) if now_ms < until_ms => {
                self.fetching_elsewhere(audience, until_ms)
            }
            Some(Lease::Failed { until_ms }) if now_ms < until_ms => {
                self.failed_elsewhere(audience, until_ms)
            }
            _ => {
                if let Some(state) = self.audiences.get_mut(audience) {
                    if matches!(state.fetch, Fetch::Remote { .. }) {
                        state.fetch = Fetch::Idle;
                    }
                }
            }
        }
    }

    /// This worker's fetch returned a token.
    pub fn fetched(&mut self, audience: &str, token: IdToken, now_ms: u64) {
        let refresh_before_ms = self.refresh_before_ms;
        if let Some(state) = self.audiences.get_mut(audience) {
            state.set_token(token, now_ms, refresh_before_ms);
            state.fetch = Fetch::Idle;
        }
    }

    /// This worker's fetch failed. Returns when the next attempt is due.
    pub fn fetch_failed(&mut self, audience: &str, now_ms: u64) -> u64 {
        let until_ms = now_ms.saturating_add(RETRY_AFTER_FAILURE_MS);
        if let Some(state) = self.audiences.get_mut(audience) {
            state.fetch = Fetch::Idle;
            state.failed_until_ms = Some(until_ms);
        }
        until_ms
    }

    /// The worker holding the lease reported a failure; retry after `until_ms`.
    pub fn failed_elsewhere(&mut self, audience: &str, until_ms: u64) {
        if let Some(state) = self.audiences.get_mut(audience) {
            if !matches!(state.fetch, Fetch::Local { .. }) {
                state.fetch = Fetch::Idle;
                state.failed_until_ms = Some(until_ms);
            }
        }
    }

    /// A token found in shared data. Kept when it outlives the current one;
    /// returns whether it was.
    pub fn adopt(&mut self, audience: &str, token: IdToken, now_ms: u64) -> bool {
        let refresh_before_ms = self.refresh_before_ms;
        let Some(state) = self.audiences.get_mut(audience) else {
            return false;
        };
        let newer = state
            .token
            .as_ref()
            .is_none_or(|t| token.expires_at_ms > t.expires_at_ms);
        if !newer || token.expires_at_ms <= now_ms {
            return false;
        }
        state.set_token(token, now_ms, refresh_before_ms);
        if matches!(state.fetch, Fetch::Remote { .. }) {
            state.fetch = Fetch::Idle;
        }
        true
    }
}

impl Audience {
    fn fetching(&self, now_ms: u64) -> bool {
        match self.fetch {
            Fetch::Idle => false,
            Fetch::Local { until_ms } | Fetch::Remote { until_ms } => now_ms < until_ms,
        }
    }

    /// Refresh `refresh_before` ahead of expiry, but never sooner than half the
    /// remaining lifetime, so a short-lived token is not refetched on every tick.
    fn set_token(&mut self, token: IdToken, now_ms: u64, refresh_before_ms: u64) {
        let remaining = token.expires_at_ms.saturating_sub(now_ms);
        self.refresh_at_ms = token
            .expires_at_ms
            .saturating_sub(refresh_before_ms)
            .max(now_ms.saturating_add(remaining / 2));
        self.token = Some(token);
        self.failed_until_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "https://backend.run.app";
    const T0: u64 = 1_700_000_000_000;
    const HOUR: u64 = 3_600_000;

    fn tokens() -> IdTokens {
        IdTokens::new([AUD, "other"], 5_000, 60)
    }

    fn token(jwt: &str, expires_at_ms: u64) -> IdToken {
        IdToken {
            jwt: jwt.into(),
            expires_at_ms,
        }
    }

    #[test]
    fn before_the_first_fetch_requests_wait_and_a_fetch_is_due() {
        let t = tokens();
        assert_eq!(t.lookup(AUD, T0), Lookup::Wait);
        assert!(t.needs_fetch(AUD, T0));
        assert!(t.wants_shared_token(AUD, T0));
        assert_eq!(t.lookup("unknown", T0), Lookup::Unavailable);
        assert!(!t.needs_fetch("unknown", T0));
    }

    #[test]
    fn one_fetch_at_a_time_then_the_token_serves_until_refresh() {
        let mut t = tokens();
        let until = t.fetch_started(AUD, T0);
        assert_eq!(until, T0 + 6_000);
        assert!(!t.needs_fetch(AUD, T0 + 100));
        assert_eq!(t.lookup(AUD, T0 + 100), Lookup::Wait);
        t.fetched(AUD, token("jwt1", T0 + HOUR), T0 + 200);
        assert_eq!(t.lookup(AUD, T0 + 300), Lookup::Ready("jwt1"));
        assert!(!t.wants_shared_token(AUD, T0 + 300));
        // Refresh is due 60 s before expiry, and the old token still serves meanwhile.
        assert!(!t.needs_fetch(AUD, T0 + HOUR - 60_001));
        assert!(t.needs_fetch(AUD, T0 + HOUR - 60_000));
        assert!(t.wants_shared_token(AUD, T0 + HOUR - 60_000));
        assert_eq!(t.lookup(AUD, T0 + HOUR - 1), Lookup::Ready("jwt1"));
        // Expired: no longer served.
        assert_eq!(t.lookup(AUD, T0 + HOUR), Lookup::Wait);
        // Audiences are independent.
        assert!(t.needs_fetch("other", T0 + 300));
    }

    #[test]
    fn short_lived_tokens_refresh_at_half_life() {
        let mut t = tokens();
        t.fetch_started(AUD, T0);
        t.fetched(AUD, token("short", T0 + 30_000), T0);
        assert!(!t.needs_fetch(AUD, T0 + 14_999));
        assert!(t.needs_fetch(AUD, T0 + 15_000));
    }

    #[test]
    fn a_failure_fails_requests_fast_and_retries_after_two_seconds() {
        let mut t = tokens();
        t.fetch_started(AUD, T0);
        assert_eq!(t.fetch_failed(AUD, T0 + 50), T0 + 2_050);
        assert_eq!(t.lookup(AUD, T0 + 100), Lookup::Unavailable);
        assert!(!t.needs_fetch(AUD, T0 + 2_049));
        assert!(t.needs_fetch(AUD, T0 + 2_050));
        // The retry is due: requests wait for it again.
        assert_eq!(t.lookup(AUD, T0 + 2_050), Lookup::Wait);
    }

    #[test]
    fn a_failed_refresh_keeps_serving_the_valid_token() {
        let mut t = tokens();
        t.fetched(AUD, token("jwt1", T0 + HOUR), T0);
        let refresh = T0 + HOUR - 60_000;
        t.fetch_started(AUD, refresh);
        t.fetch_failed(AUD, refresh + 10);
        assert_eq!(t.lookup(AUD, refresh + 20), Lookup::Ready("jwt1"));
        assert!(t.needs_fetch(AUD, refresh + 2_010));
    }

    #[test]
    fn a_lost_fetch_stops_blocking_after_timeout_and_slack() {
        let mut t = tokens();
        t.fetch_started(AUD, T0);
        assert!(!t.needs_fetch(AUD, T0 + 5_999));
        assert!(t.needs_fetch(AUD, T0 + 6_000));
    }

    #[test]
    fn tokens_fetched_by_another_worker_are_adopted_when_newer() {
        let mut t = tokens();
        t.fetching_elsewhere(AUD, T0 + 6_000);
        assert!(!t.needs_fetch(AUD, T0));
        assert_eq!(t.lookup(AUD, T0), Lookup::Wait);
        assert!(t.adopt(AUD, token("remote", T0 + HOUR), T0 + 10));
        assert_eq!(t.lookup(AUD, T0 + 20), Lookup::Ready("remote"));
        // Older or expired tokens are ignored.
        assert!(!t.adopt(AUD, token("older", T0 + HOUR - 1), T0 + 30));
        assert!(!t.adopt("other", token("expired", T0), T0 + 30));
        assert_eq!(t.lookup(AUD, T0 + 40), Lookup::Ready("remote"));
    }

    #[test]
    fn the_lease_tells_what_another_worker_is_doing() {
        let mut t = tokens();
        t.follow_lease(
            AUD,
            Some(Lease::Fetching {
                until_ms: T0 + 6_000,
            }),
            T0,
        );
        assert!(t.waits_on_other_worker(AUD, T0));
        assert!(!t.needs_fetch(AUD, T0));
        assert_eq!(t.lookup(AUD, T0), Lookup::Wait);
        t.follow_lease(
            AUD,
            Some(Lease::Failed {
                until_ms: T0 + 2_000,
            }),
            T0 + 10,
        );
        assert!(!t.waits_on_other_worker(AUD, T0 + 10));
        assert_eq!(t.lookup(AUD, T0 + 10), Lookup::Unavailable);
        // An expired lease or a finished fetch: this worker may fetch itself.
        t.follow_lease(
            AUD,
            Some(Lease::Fetching {
                until_ms: T0 + 6_000,
            }),
            T0 + 3_000,
        );
        t.follow_lease(AUD, Some(Lease::Done), T0 + 3_010);
        assert!(t.needs_fetch(AUD, T0 + 3_010));
        t.follow_lease(
            AUD,
            Some(Lease::Fetching {
                until_ms: T0 + 5_000,
            }),
            T0 + 5_000,
        );
        assert!(t.needs_fetch(AUD, T0 + 5_000));
    }

    #[test]
    fn a_failure_reported_by_another_worker_fails_fast_here_too() {
        let mut t = tokens();
        t.fetching_elsewhere(AUD, T0 + 6_000);
        t.failed_elsewhere(AUD, T0 + 2_000);
        assert_eq!(t.lookup(AUD, T0 + 100), Lookup::Unavailable);
        assert!(t.needs_fetch(AUD, T0 + 2_000));
        // Never overrides this worker's own fetch in flight.
        t.fetch_started(AUD, T0 + 2_000);
        t.failed_elsewhere(AUD, T0 + 9_000);
        assert_eq!(t.lookup(AUD, T0 + 2_100), Lookup::Wait);
    }
}
