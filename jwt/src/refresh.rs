//! When to fetch a provider's keys: a pure policy over plain state, so the filter can keep the
//! state in Envoy shared data (one fetch for all worker VMs) and drive it from requests and
//! ticks. Keys are served for the cache TTL, then refreshed in the background with exponential
//! backoff on failure, and the last good keys keep serving however long refreshes fail. A
//! request only waits when there are no keys yet (the cold first fetch), and only until the
//! fetch timeout. An unknown `kid` triggers at most one refresh per interval.

use serde::{Deserialize, Serialize};

use crate::jwks::discovery_url;
use crate::provider::{JwksSource, Provider};

/// Tunables of the policy. `Default` follows ESPv2 where it has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPolicy {
    /// Keys are fresh for this long after a successful fetch (ESPv2: 300 s).
    pub ttl_seconds: u64,
    /// A fetch in flight longer than this counts as failed; also bounds a cold wait.
    pub fetch_timeout_seconds: u64,
    /// First retry delay after a failure; doubles per consecutive failure...
    pub backoff_base_seconds: u64,
    /// ...up to this (ESPv2: 200 ms to 32 s).
    pub backoff_max_seconds: u64,
    /// At most one unknown-`kid` refresh per this interval.
    pub unknown_kid_interval_seconds: u64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            ttl_seconds: crate::provider::DEFAULT_JWKS_CACHE_SECONDS,
            fetch_timeout_seconds: 5,
            backoff_base_seconds: 1,
            backoff_max_seconds: 32,
            unknown_kid_interval_seconds: 30,
        }
    }
}

impl RefreshPolicy {
    /// The policy for a provider (its configured cache TTL).
    pub fn for_provider(provider: &Provider) -> RefreshPolicy {
        RefreshPolicy {
            ttl_seconds: provider.jwks_cache_seconds,
            ..RefreshPolicy::default()
        }
    }
}

/// One provider's fetch state. Plain data: serialise it into shared data as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksState {
    /// Bumped whenever a fetched document differs from the previous one; 0 = no keys yet.
    /// Verified-token cache entries are tagged with it.
    pub generation: u64,
    /// Hash of the current document (hex), to tell a changed document from a re-fetch.
    pub document_hash: Option<String>,
    /// When the current keys were fetched (or last confirmed unchanged).
    pub fetched_at: Option<u64>,
    /// `jwks_uri` found by OIDC discovery.
    pub discovered_jwks_uri: Option<String>,
    /// When the fetch in flight started.
    pub in_flight_since: Option<u64>,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// No new fetch before this time (backoff).
    pub retry_at: u64,
    /// When the last unknown-`kid` refresh started.
    pub last_kid_refresh: Option<u64>,
}

/// What a request should do about keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPlan {
    /// Use the current keys.
    Serve,
    /// Use the current keys, and start a background fetch (already marked in flight).
    ServeAndFetch,
    /// No keys yet: start a fetch (already marked in flight) and pause until it ends or `until`.
    FetchAndWait { until: u64 },
    /// No keys yet, a fetch is in flight: pause until it ends or `until`.
    Wait { until: u64 },
    /// No keys, and the last fetch failed recently: answer "Jwks remote fetch is failed".
    Fail,
}

/// What to fetch next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchTarget {
    /// The OIDC discovery document; feed its `jwks_uri` to [`JwksState::on_discovered`].
    Discovery(String),
    /// The key document.
    Keys(String),
}

impl JwksState {
    /// Whether keys are loaded.
    pub fn has_keys(&self) -> bool {
        self.generation > 0
    }

    /// Plans for a request that needs this provider's keys at `now`.
    pub fn plan_request(&mut self, policy: &RefreshPolicy, now: u64) -> RequestPlan {
        self.expire_stuck_fetch(policy, now);
        if self.has_keys() {
            if self.is_stale(policy, now) && self.try_start(now) {
                return RequestPlan::ServeAndFetch;
            }
            return RequestPlan::Serve;
        }
        if let Some(since) = self.in_flight_since {
            return RequestPlan::Wait {
                until: since.saturating_add(policy.fetch_timeout_seconds),
            };
        }
        if self.try_start(now) {
            return RequestPlan::FetchAndWait {
                until: now.saturating_add(policy.fetch_timeout_seconds),
            };
        }
        RequestPlan::Fail
    }

    /// Plans for a timer tick: true means "start a fetch now" (already marked in flight).
    /// Fetches when there are no keys or they are stale, respecting backoff.
    pub fn plan_tick(&mut self, policy: &RefreshPolicy, now: u64) -> bool {
        self.expire_stuck_fetch(policy, now);
        (!self.has_keys() || self.is_stale(policy, now)) && self.try_start(now)
    }

    /// Whether an unknown `kid` may trigger a refresh now (nothing is changed).
    pub fn kid_refresh_allowed(&self, policy: &RefreshPolicy, now: u64) -> bool {
        self.in_flight_since.is_none()
            && now >= self.retry_at
            && self
                .last_kid_refresh
                .is_none_or(|last| now >= last.saturating_add(policy.unknown_kid_interval_seconds))
    }

    /// Starts an unknown-`kid` refresh if allowed; returns the time the request may wait until.
    pub fn start_kid_refresh(&mut self, policy: &RefreshPolicy, now: u64) -> Option<u64> {
        self.expire_stuck_fetch(policy, now);
        if !self.kid_refresh_allowed(policy, now) {
            return None;
        }
        self.last_kid_refresh = Some(now);
        self.in_flight_since = Some(now);
        Some(now.saturating_add(policy.fetch_timeout_seconds))
    }

    /// The next URL to fetch for `provider`.
    pub fn fetch_target(&self, provider: &Provider) -> FetchTarget {
        match (&provider.jwks, &self.discovered_jwks_uri) {
            (JwksSource::Uri(uri), _) => FetchTarget::Keys(uri.clone()),
            (JwksSource::Discovery, Some(uri)) => FetchTarget::Keys(uri.clone()),
            (JwksSource::Discovery, None) => {
                FetchTarget::Discovery(discovery_url(&provider.issuer))
            }
        }
    }

    /// Records a discovered `jwks_uri`; the fetch stays in flight for the key document.
    pub fn on_discovered(&mut self, jwks_uri: String) {
        self.discovered_jwks_uri = Some(jwks_uri);
    }

    /// Records a key document that parsed into at least one key. Returns the generation the
    /// keys belong to (unchanged when the document is the same as before).
    pub fn on_keys_fetched(&mut self, now: u64, document_hash: String) -> u64 {
        if self.document_hash.as_deref() != Some(document_hash.as_str()) {
            self.generation = self.generation.saturating_add(1);
            self.document_hash = Some(document_hash);
        }
        self.fetched_at = Some(now);
        self.in_flight_since = None;
        self.failures = 0;
        self.retry_at = now;
        self.generation
    }

    /// Records a failed fetch (transport error, bad status, unusable document). Current keys
    /// stay; the next attempt waits for the backoff.
    pub fn on_fetch_failed(&mut self, policy: &RefreshPolicy, now: u64) {
        self.in_flight_since = None;
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(32);
        let delay = policy
            .backoff_base_seconds
            .saturating_mul(1u64 << exponent)
            .min(policy.backoff_max_seconds);
        self.retry_at = now.saturating_add(delay);
    }

    fn is_stale(&self, policy: &RefreshPolicy, now: u64) -> bool {
        self.fetched_at
            .is_none_or(|at| now >= at.saturating_add(policy.ttl_seconds))
    }

    fn try_start(&mut self, now: u64) -> bool {
        if self.in_flight_since.is_some() || now < self.retry_at {
            return false;
        }
        self.in_flight_since = Some(now);
        true
    }

    /// A fetch whose answer never came (VM restarted, callback lost) must not block forever.
    fn expire_stuck_fetch(&mut self, policy: &RefreshPolicy, now: u64) {
        if let Some(since) = self.in_flight_since {
            if now > since.saturating_add(policy.fetch_timeout_seconds) {
                self.on_fetch_failed(policy, now);
            }
        }
    }
}

/// Hex SHA-256 of a key document, for [`JwksState::on_keys_fetched`].
pub fn document_hash(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RefreshPolicy = RefreshPolicy {
        ttl_seconds: 300,
        fetch_timeout_seconds: 5,
        backoff_base_seconds: 1,
        backoff_max_seconds: 32,
        unknown_kid_interval_seconds: 30,
    };

    #[test]
    fn cold_start_fetches_once_and_others_wait_bounded() {
        let mut s = JwksState::default();
        assert_eq!(
            s.plan_request(&P, 100),
            RequestPlan::FetchAndWait { until: 105 }
        );
        assert_eq!(s.plan_request(&P, 101), RequestPlan::Wait { until: 105 });
        assert!(!s.plan_tick(&P, 102), "one fetch at a time");
        assert_eq!(s.on_keys_fetched(103, "h1".into()), 1);
        assert_eq!(s.plan_request(&P, 104), RequestPlan::Serve);
    }

    #[test]
    fn a_failed_cold_fetch_fails_requests_until_the_backoff_ends() {
        let mut s = JwksState::default();
        s.plan_request(&P, 100);
        s.on_fetch_failed(&P, 101);
        assert_eq!(s.plan_request(&P, 101), RequestPlan::Fail);
        assert_eq!(
            s.plan_request(&P, 102),
            RequestPlan::FetchAndWait { until: 107 }
        );
        s.on_fetch_failed(&P, 102);
        assert_eq!(s.retry_at, 104);
        for _ in 0..20 {
            s.on_fetch_failed(&P, 1000);
        }
        assert_eq!(s.retry_at, 1032, "backoff is capped");
    }

    #[test]
    fn a_lost_fetch_times_out() {
        let mut s = JwksState::default();
        s.plan_request(&P, 100);
        assert_eq!(s.plan_request(&P, 105), RequestPlan::Wait { until: 105 });
        // Past the timeout the fetch counts as failed; the backoff then applies.
        assert_eq!(s.plan_request(&P, 106), RequestPlan::Fail);
        assert_eq!(s.failures, 1);
        assert_eq!(
            s.plan_request(&P, 107),
            RequestPlan::FetchAndWait { until: 112 }
        );
    }

    #[test]
    fn stale_keys_keep_serving_while_refreshes_fail() {
        let mut s = JwksState::default();
        s.plan_request(&P, 0);
        s.on_keys_fetched(0, "h1".into());
        assert_eq!(s.plan_request(&P, 299), RequestPlan::Serve);
        assert!(!s.plan_tick(&P, 299));
        assert!(s.plan_tick(&P, 300));
        assert_eq!(
            s.plan_request(&P, 301),
            RequestPlan::Serve,
            "refresh already in flight"
        );
        s.on_fetch_failed(&P, 301);
        assert_eq!(
            s.plan_request(&P, 301),
            RequestPlan::Serve,
            "backoff, keys still served"
        );
        assert_eq!(s.plan_request(&P, 302), RequestPlan::ServeAndFetch);
        assert_eq!(s.generation, 1);
        // Same document again: same generation, caches stay warm.
        assert_eq!(s.on_keys_fetched(303, "h1".into()), 1);
        assert_eq!(s.plan_request(&P, 304), RequestPlan::Serve);
        s.plan_tick(&P, 603);
        assert_eq!(s.on_keys_fetched(604, "h2".into()), 2);
    }

    #[test]
    fn unknown_kid_refreshes_are_rate_limited() {
        let mut s = JwksState::default();
        s.plan_request(&P, 0);
        s.on_keys_fetched(0, "h1".into());
        assert!(s.kid_refresh_allowed(&P, 10));
        assert_eq!(s.start_kid_refresh(&P, 10), Some(15));
        assert_eq!(s.start_kid_refresh(&P, 11), None, "in flight");
        s.on_keys_fetched(12, "h1".into());
        assert!(!s.kid_refresh_allowed(&P, 39));
        assert_eq!(s.start_kid_refresh(&P, 39), None);
        assert_eq!(s.start_kid_refresh(&P, 40), Some(45));
    }

    #[test]
    fn discovery_comes_first_when_no_jwks_uri_is_configured() {
        let mut provider = Provider::new("p", "https://id.example/", JwksSource::Discovery);
        let mut s = JwksState::default();
        assert_eq!(
            s.fetch_target(&provider),
            FetchTarget::Discovery("https://id.example/.well-known/openid-configuration".into())
        );
        s.on_discovered("https://id.example/keys".into());
        assert_eq!(
            s.fetch_target(&provider),
            FetchTarget::Keys("https://id.example/keys".into())
        );
        provider.jwks = JwksSource::Uri("https://other/keys".into());
        assert_eq!(
            s.fetch_target(&provider),
            FetchTarget::Keys("https://other/keys".into())
        );
    }

    #[test]
    fn state_round_trips_through_json_for_shared_data() {
        let mut s = JwksState::default();
        s.plan_request(&P, 7);
        s.on_keys_fetched(8, document_hash(b"{}"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<JwksState>(&json).unwrap(), s);
    }
}
