//! Verified-token cache and a short negative cache for bad signatures. An RS256 check in V8
//! costs about 250 us; a cached one costs a SHA-256 of the token and a map lookup.
//!
//! Entries are keyed by SHA-256 over (provider id, token), so a lookup never compares or
//! stores whole tokens and a hash collision would need a SHA-256 collision. Each entry is
//! tagged with the JWKS generation it was verified under: new keys invalidate it (a removed,
//! compromised key stops working at the next refresh, not at the token's expiry).

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::verify::VerifiedToken;

/// ESPv2's `--jwt_cache_size` default.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Longest a verified token is trusted without re-verifying (ESP: "five minutes or until the JWT expires").
pub const DEFAULT_TTL_SECONDS: u64 = 300;
/// How long a bad signature is remembered: long enough to absorb a retry storm, short enough
/// that nothing legitimate waits on it (a key rotation also clears it via the generation).
pub const NEGATIVE_TTL_SECONDS: u64 = 10;
/// Negative entries kept; they are small, but an attacker controls how many are created.
pub const NEGATIVE_CAPACITY: usize = 256;

/// Cache key: SHA-256 of the provider id and the token.
pub type TokenKey = [u8; 32];

/// Hashes (provider id, token) into a cache key.
pub fn token_key(provider_id: &str, token: &str) -> TokenKey {
    let mut hasher = Sha256::new();
    hasher.update((provider_id.len() as u64).to_be_bytes());
    hasher.update(provider_id.as_bytes());
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

struct Slot<V> {
    value: V,
    generation: u64,
    expires_at: u64,
    inserted: u64,
}

/// A bounded map with expiry and generation tags, evicting expired entries first and then
/// the oldest insertion.
struct Bounded<V> {
    capacity: usize,
    slots: HashMap<TokenKey, Slot<V>>,
    order: VecDeque<(TokenKey, u64)>,
    next_insert: u64,
}

impl<V: Clone> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            slots: HashMap::new(),
            order: VecDeque::new(),
            next_insert: 0,
        }
    }

    fn get(&mut self, key: &TokenKey, generation: u64, now: u64) -> Option<V> {
        let slot = self.slots.get(key)?;
        if slot.generation == generation && now < slot.expires_at {
            return Some(slot.value.clone());
        }
        self.slots.remove(key);
        None
    }

    fn insert(&mut self, key: TokenKey, value: V, generation: u64, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        if !self.slots.contains_key(&key) && self.slots.len() >= self.capacity {
            self.make_room(now);
        }
        let inserted = self.next_insert;
        self.next_insert = self.next_insert.wrapping_add(1);
        self.order.push_back((key, inserted));
        self.slots.insert(
            key,
            Slot {
                value,
                generation,
                expires_at,
                inserted,
            },
        );
        // The order queue holds stale positions of re-inserted keys; keep it bounded too.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let slots = &self.slots;
            self.order
                .retain(|(k, stamp)| slots.get(k).is_some_and(|s| s.inserted == *stamp));
        }
    }

    fn make_room(&mut self, now: u64) {
        self.slots.retain(|_, slot| slot.expires_at > now);
        while self.slots.len() >= self.capacity {
            let Some((key, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.slots.get(&key).is_some_and(|s| s.inserted == stamp) {
                self.slots.remove(&key);
            }
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// The two caches a verifier keeps (one per worker VM; nothing here is shared).
pub struct TokenCache {
    ttl: u64,
    verified: Bounded<Arc<VerifiedToken>>,
    bad_signatures: Bounded<()>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY, DEFAULT_TTL_SECONDS)
    }
}

impl TokenCache {
    pub fn new(capacity: usize, ttl_seconds: u64) -> TokenCache {
        TokenCache {
            ttl: ttl_seconds,
            verified: Bounded::new(capacity),
            bad_signatures: Bounded::new(NEGATIVE_CAPACITY),
        }
    }

    /// A token verified under `generation` that has not expired.
    pub fn get_verified(
        &mut self,
        key: &TokenKey,
        generation: u64,
        now: u64,
    ) -> Option<Arc<VerifiedToken>> {
        self.verified.get(key, generation, now)
    }

    /// Remembers a verified token until `min(exp, now + ttl)`.
    pub fn put_verified(
        &mut self,
        key: TokenKey,
        token: Arc<VerifiedToken>,
        generation: u64,
        now: u64,
    ) {
        let ttl_end = now.saturating_add(self.ttl);
        let expires_at = token.exp.map_or(ttl_end, |exp| exp.min(ttl_end));
        self.verified
            .insert(key, token, generation, expires_at, now);
    }

    /// Whether this token's signature already failed under `generation` recently.
    pub fn is_known_bad(&mut self, key: &TokenKey, generation: u64, now: u64) -> bool {
        self.bad_signatures.get(key, generation, now).is_some()
    }

    /// Remembers a bad signature for [`NEGATIVE_TTL_SECONDS`].
    pub fn put_bad(&mut self, key: TokenKey, generation: u64, now: u64) {
        let expires_at = now.saturating_add(NEGATIVE_TTL_SECONDS);
        self.bad_signatures
            .insert(key, (), generation, expires_at, now);
    }

    /// Entries currently held (verified, bad).
    pub fn len(&self) -> (usize, usize) {
        (self.verified.len(), self.bad_signatures.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn verified(exp: Option<u64>) -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            provider: "p".into(),
            claims: Map::new(),
            payload_json: b"{}".to_vec(),
            exp,
        })
    }

    #[test]
    fn entries_expire_at_the_earlier_of_exp_and_ttl() {
        let mut cache = TokenCache::new(10, 300);
        let short = token_key("p", "short");
        let long = token_key("p", "long");
        let no_exp = token_key("p", "none");
        cache.put_verified(short, verified(Some(150)), 1, 100);
        cache.put_verified(long, verified(Some(10_000)), 1, 100);
        cache.put_verified(no_exp, verified(None), 1, 100);
        assert!(cache.get_verified(&short, 1, 149).is_some());
        assert!(cache.get_verified(&short, 1, 150).is_none());
        assert!(cache.get_verified(&long, 1, 399).is_some());
        assert!(cache.get_verified(&long, 1, 400).is_none());
        assert!(cache.get_verified(&no_exp, 1, 400).is_none());
    }

    #[test]
    fn a_new_key_generation_invalidates_entries() {
        let mut cache = TokenCache::new(10, 300);
        let key = token_key("p", "t");
        cache.put_verified(key, verified(None), 1, 0);
        assert!(cache.get_verified(&key, 2, 1).is_none());
        // The stale entry is gone, even for its old generation.
        assert!(cache.get_verified(&key, 1, 1).is_none());
        cache.put_bad(key, 1, 0);
        assert!(cache.is_known_bad(&key, 1, 9));
        assert!(!cache.is_known_bad(&key, 1, 10));
        cache.put_bad(key, 1, 20);
        assert!(!cache.is_known_bad(&key, 2, 21));
    }

    #[test]
    fn keys_depend_on_provider_and_token() {
        assert_ne!(token_key("a", "t"), token_key("b", "t"));
        assert_ne!(token_key("a", "bt"), token_key("ab", "t"));
        assert_eq!(token_key("a", "t"), token_key("a", "t"));
    }

    #[test]
    fn capacity_is_bounded_evicting_expired_then_oldest() {
        let mut cache = TokenCache::new(3, 300);
        for i in 0..3u64 {
            cache.put_verified(
                token_key("p", &i.to_string()),
                verified(Some(1000 + i)),
                1,
                0,
            );
        }
        // Re-inserting a key does not grow the cache.
        cache.put_verified(token_key("p", "1"), verified(Some(2000)), 1, 0);
        assert_eq!(cache.len().0, 3);
        cache.put_verified(token_key("p", "new"), verified(None), 1, 0);
        assert_eq!(cache.len().0, 3);
        assert!(
            cache.get_verified(&token_key("p", "0"), 1, 1).is_none(),
            "oldest evicted"
        );
        assert!(cache.get_verified(&token_key("p", "1"), 1, 1).is_some());
        for i in 0..10_000u64 {
            cache.put_bad(token_key("p", &i.to_string()), 1, i / 100);
        }
        assert!(cache.len().1 <= NEGATIVE_CAPACITY);
    }
}
