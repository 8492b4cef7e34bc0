//! Verified-token cache and a short negative cache for bad signatures. An RS256 check in V8
//! costs about 250 us (RustCrypto: more than 1 ms); a cached one costs a hash-map lookup.
//!
//! Verified entries are keyed by the (provider id, token) pair itself and compared whole,
//! so only the exact token hits. Hashing and comparing the token with the map's SipHash
//! costs a fraction of a SHA-256 over it: a cached check of a 600-byte RS256 token in V8
//! went from about 2.3 us (SHA-256 key) to 0.6 us. Only verified tokens are stored, at most
//! `capacity` of them, each already kept as its payload in [`VerifiedToken`], so the token
//! itself at most doubles that memory. Negative entries are attacker-made, so they stay
//! keyed by SHA-256 over (provider id, token): 32 bytes each, whatever the token's size,
//! computed only on the path that is about to verify a signature anyway.
//!
//! Each entry is tagged with the JWKS generation it was verified under: new keys invalidate
//! it (a removed, compromised key stops working at the next refresh, not at the token's
//! expiry).

use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::verified::VerifiedToken;

/// ESPv2's `--jwt_cache_size` default.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Longest a verified token is trusted without re-verifying (ESP: "five minutes or until the JWT expires").
pub const DEFAULT_TTL_SECONDS: u64 = 300;
/// How long a bad signature is remembered: long enough to absorb a retry storm, short enough
/// that nothing legitimate waits on it (a key rotation also clears it via the generation).
pub const NEGATIVE_TTL_SECONDS: u64 = 10;
/// Negative entries kept; they are small, but an attacker controls how many are created.
pub const NEGATIVE_CAPACITY: usize = 256;

/// Negative-cache key: SHA-256 of the provider id and the token.
pub type TokenKey = [u8; 32];

/// Hashes (provider id, token) into a negative-cache key.
pub fn token_key(provider_id: &str, token: &str) -> TokenKey {
    let mut hasher = Sha256::new();
    hasher.update((provider_id.len() as u64).to_be_bytes());
    hasher.update(provider_id.as_bytes());
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

/// A verified-cache key as stored: the provider id and the whole token. `Arc`s, because
/// the eviction order holds a second copy of every key.
#[derive(Clone)]
struct VerifiedKey {
    provider: Arc<str>,
    token: Arc<str>,
}

/// Either form of a verified-cache key: stored ([`VerifiedKey`]) or looked up (`(&str, &str)`),
/// so a lookup neither allocates nor copies the token.
trait PairKey {
    fn pair(&self) -> (&str, &str);
}

impl PairKey for VerifiedKey {
    fn pair(&self) -> (&str, &str) {
        (&self.provider, &self.token)
    }
}

impl PairKey for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn PairKey + 'a> for VerifiedKey {
    fn borrow(&self) -> &(dyn PairKey + 'a) {
        self
    }
}

// Both forms hash and compare through `pair()`, as `Borrow` requires.
impl Hash for dyn PairKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pair().hash(state);
    }
}

impl PartialEq for dyn PairKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn PairKey + '_ {}

impl Hash for VerifiedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn PairKey).hash(state);
    }
}

impl PartialEq for VerifiedKey {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for VerifiedKey {}

struct Slot<V> {
    value: V,
    generation: u64,
    expires_at: u64,
    inserted: u64,
}

/// A bounded map with expiry and generation tags, evicting expired entries first and then
/// the oldest insertion.
struct Bounded<K, V> {
    capacity: usize,
    slots: HashMap<K, Slot<V>>,
    order: VecDeque<(K, u64)>,
    next_insert: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            capacity: capacity.max(1),
            slots: HashMap::new(),
            order: VecDeque::new(),
            next_insert: 0,
        }
    }

    fn get<Q>(&mut self, key: &Q, generation: u64, now: u64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slots.get(key)?;
        if slot.generation == generation && now < slot.expires_at {
            return Some(slot.value.clone());
        }
        self.slots.remove(key);
        None
    }

    fn insert(&mut self, key: K, value: V, generation: u64, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        if !self.slots.contains_key(&key) && self.slots.len() >= self.capacity {
            self.make_room(now);
        }
        let inserted = self.next_insert;
        self.next_insert = self.next_insert.wrapping_add(1);
        self.order.push_back((key.clone(), inserted));
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
    verified: Bounded<VerifiedKey, Arc<VerifiedToken>>,
    bad_signatures: Bounded<TokenKey, ()>,
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

    /// `token`, verified for `provider` under `generation`, if it has not expired.
    pub fn get_verified(
        &mut self,
        provider: &str,
        token: &str,
        generation: u64,
        now: u64,
    ) -> Option<Arc<VerifiedToken>> {
        self.verified
            .get(&(provider, token) as &dyn PairKey, generation, now)
    }

    /// Remembers `token`, verified for `provider`, until `min(exp, now + ttl)`.
    pub fn put_verified(
        &mut self,
        provider: &str,
        token: &str,
        verified: Arc<VerifiedToken>,
        generation: u64,
        now: u64,
    ) {
        let ttl_end = now.saturating_add(self.ttl);
        let expires_at = verified.exp.map_or(ttl_end, |exp| exp.min(ttl_end));
        let key = VerifiedKey {
            provider: Arc::from(provider),
            token: Arc::from(token),
        };
        self.verified
            .insert(key, verified, generation, expires_at, now);
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
        cache.put_verified("p", "short", verified(Some(150)), 1, 100);
        cache.put_verified("p", "long", verified(Some(10_000)), 1, 100);
        cache.put_verified("p", "none", verified(None), 1, 100);
        assert!(cache.get_verified("p", "short", 1, 149).is_some());
        assert!(cache.get_verified("p", "short", 1, 150).is_none());
        assert!(cache.get_verified("p", "long", 1, 399).is_some());
        assert!(cache.get_verified("p", "long", 1, 400).is_none());
        assert!(cache.get_verified("p", "none", 1, 400).is_none());
    }

    #[test]
    fn a_new_key_generation_invalidates_entries() {
        let mut cache = TokenCache::new(10, 300);
        cache.put_verified("p", "t", verified(None), 1, 0);
        assert!(cache.get_verified("p", "t", 2, 1).is_none());
        // The stale entry is gone, even for its old generation.
        assert!(cache.get_verified("p", "t", 1, 1).is_none());
        let key = token_key("p", "t");
        cache.put_bad(key, 1, 0);
        assert!(cache.is_known_bad(&key, 1, 9));
        assert!(!cache.is_known_bad(&key, 1, 10));
        cache.put_bad(key, 1, 20);
        assert!(!cache.is_known_bad(&key, 2, 21));
    }

    #[test]
    fn only_the_exact_token_for_the_same_provider_hits() {
        let mut cache = TokenCache::new(10, 300);
        cache.put_verified("a", "h.p.sig", verified(None), 1, 0);
        assert!(cache.get_verified("a", "h.p.sig", 1, 1).is_some());
        assert!(
            cache.get_verified("b", "h.p.sig", 1, 1).is_none(),
            "other provider"
        );
        assert!(
            cache.get_verified("a", "h.p.sih", 1, 1).is_none(),
            "other signature"
        );
        assert!(
            cache.get_verified("a", "h.p.si", 1, 1).is_none(),
            "a prefix"
        );
        assert!(
            cache.get_verified("a", "h.p.sig ", 1, 1).is_none(),
            "longer"
        );
        // The pair is the key, not its concatenation.
        assert!(cache.get_verified("ah", ".p.sig", 1, 1).is_none());
        cache.put_verified("b", "h.p.sig", verified(None), 1, 0);
        assert!(
            cache.get_verified("a", "h.p.sig", 1, 1).is_some(),
            "both kept"
        );
        assert!(cache.get_verified("b", "h.p.sig", 1, 1).is_some());
        assert_eq!(cache.len().0, 2);
    }

    #[test]
    fn negative_keys_depend_on_provider_and_token() {
        assert_ne!(token_key("a", "t"), token_key("b", "t"));
        assert_ne!(token_key("a", "bt"), token_key("ab", "t"));
        assert_eq!(token_key("a", "t"), token_key("a", "t"));
    }

    #[test]
    fn capacity_is_bounded_evicting_expired_then_oldest() {
        let mut cache = TokenCache::new(3, 300);
        for i in 0..3u64 {
            cache.put_verified("p", &i.to_string(), verified(Some(1000 + i)), 1, 0);
        }
        // Re-inserting a key does not grow the cache.
        cache.put_verified("p", "1", verified(Some(2000)), 1, 0);
        assert_eq!(cache.len().0, 3);
        cache.put_verified("p", "new", verified(None), 1, 0);
        assert_eq!(cache.len().0, 3);
        assert!(
            cache.get_verified("p", "0", 1, 1).is_none(),
            "oldest evicted"
        );
        assert!(cache.get_verified("p", "1", 1, 1).is_some());
        for i in 0..10_000u64 {
            cache.put_bad(token_key("p", &i.to_string()), 1, i / 100);
        }
        assert!(cache.len().1 <= NEGATIVE_CAPACITY);
    }

    #[test]
    fn cycling_through_more_tokens_than_the_capacity_never_hits() {
        // What `make bench`'s uncached JWT variant relies on.
        let mut cache = TokenCache::new(10, 300);
        for round in 0..3 {
            for i in 0..11u64 {
                let token = i.to_string();
                assert!(
                    cache.get_verified("p", &token, 1, 1).is_none(),
                    "round {round}, token {i}"
                );
                cache.put_verified("p", &token, verified(None), 1, 0);
            }
        }
    }
}
