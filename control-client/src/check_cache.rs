//! Reuses Check results per (operation, key, request context), as Google's client library does
//! (its signature covers the labels, so IP / referer / app restrictions are never answered for
//! another client): a result —
//! allow or deny — is answered from the cache for `fresh_secs` (60 s); after that the next
//! request asks again, and while the control service fails, the old result keeps serving
//! until `keep_on_failure_secs` (1 h). Transport failures and `*_UNAVAILABLE` answers are never
//! stored. Bounded: when full, expired entries go first, then the oldest; keys longer than
//! [`MAX_CACHED_KEY_LEN`] are checked every time instead of stored (a flood of huge bogus keys
//! must not hold megabytes of memory).

use crate::check::{Consumer, Denial};
use crate::config::CheckCacheSettings;
use std::collections::HashMap;

/// Real API keys are about 40 bytes; longer ones are never cached.
pub const MAX_CACHED_KEY_LEN: usize = 256;
/// Request contexts (caller IP, referer, app ids) longer than this are never cached.
const MAX_CACHED_CONTEXT_LEN: usize = 2048;

/// A cached decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedCheck {
    Allowed(Option<Consumer>),
    Denied(Denial),
}

/// A cache answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Use it; no call.
    Fresh(CachedCheck),
    /// Call again; use this if the call fails on the network.
    Stale(CachedCheck),
    Miss,
}

#[derive(Debug, Clone)]
struct Entry {
    decision: CachedCheck,
    stored_at: u64,
}

/// One VM's Check cache. Keys are kept in memory only (never in shared data).
#[derive(Debug, Clone)]
pub struct CheckCache {
    settings: CheckCacheSettings,
    /// By [`entry_id`]: one string to build per lookup, not three.
    entries: HashMap<String, Entry>,
}

/// The entry of (operation, key, context): the first two parts' lengths up front, so no
/// key (which may hold any byte after URL decoding) can pass for another split.
fn entry_id(operation: &str, key: &str, context: &str) -> String {
    let mut id = format!("{}:{}:", operation.len(), key.len());
    id.reserve(
        operation
            .len()
            .saturating_add(key.len())
            .saturating_add(context.len()),
    );
    id.push_str(operation);
    id.push_str(key);
    id.push_str(context);
    id
}

impl CheckCache {
    pub fn new(settings: CheckCacheSettings) -> CheckCache {
        CheckCache {
            settings,
            entries: HashMap::new(),
        }
    }

    /// `context` is [`crate::labels::RequestFacts::cache_context`].
    pub fn lookup(&self, operation: &str, key: &str, context: &str, now_secs: u64) -> Lookup {
        let id = entry_id(operation, key, context);
        let Some(entry) = self.entries.get(&id) else {
            return Lookup::Miss;
        };
        let age = now_secs.saturating_sub(entry.stored_at);
        if age < self.settings.fresh_secs {
            Lookup::Fresh(entry.decision.clone())
        } else if age < self.settings.keep_on_failure_secs {
            Lookup::Stale(entry.decision.clone())
        } else {
            Lookup::Miss
        }
    }

    pub fn store(
        &mut self,
        operation: &str,
        key: &str,
        context: &str,
        decision: CachedCheck,
        now_secs: u64,
    ) {
        if self.settings.max_entries == 0
            || key.len() > MAX_CACHED_KEY_LEN
            || context.len() > MAX_CACHED_CONTEXT_LEN
        {
            return;
        }
        let id = entry_id(operation, key, context);
        if !self.entries.contains_key(&id) && self.entries.len() >= self.settings.max_entries {
            self.make_room(now_secs);
        }
        self.entries.insert(
            id,
            Entry {
                decision,
                stored_at: now_secs,
            },
        );
    }

    fn make_room(&mut self, now_secs: u64) {
        let keep = self.settings.keep_on_failure_secs;
        self.entries
            .retain(|_, entry| now_secs.saturating_sub(entry.stored_at) < keep);
        if self.entries.len() >= self.settings.max_entries {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.stored_at)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.entries.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::KeyState;
    use crate::reply::Reply;

    fn cache(max: usize) -> CheckCache {
        CheckCache::new(CheckCacheSettings {
            fresh_secs: 60,
            keep_on_failure_secs: 3600,
            max_entries: max,
        })
    }

    fn allowed() -> CachedCheck {
        CachedCheck::Allowed(Some(Consumer {
            kind: "PROJECT",
            number: 7,
        }))
    }

    #[test]
    fn fresh_for_60s_then_stale_until_an_hour_then_gone() {
        let mut cache = cache(10);
        cache.store("op", "k", "", allowed(), 1000);
        assert_eq!(cache.lookup("op", "k", "", 1059), Lookup::Fresh(allowed()));
        assert_eq!(cache.lookup("op", "k", "", 1060), Lookup::Stale(allowed()));
        assert_eq!(cache.lookup("op", "k", "", 4599), Lookup::Stale(allowed()));
        assert_eq!(cache.lookup("op", "k", "", 4600), Lookup::Miss);
    }

    #[test]
    fn keyed_by_operation_and_key() {
        let mut cache = cache(10);
        cache.store("op", "k", "", allowed(), 0);
        assert_eq!(cache.lookup("op", "other", "", 1), Lookup::Miss);
        assert_eq!(cache.lookup("op2", "k", "", 1), Lookup::Miss);
    }

    #[test]
    fn parts_never_run_into_each_other() {
        let mut cache = cache(10);
        cache.store("op", "key", "10.0.0.1", allowed(), 0);
        assert_eq!(cache.lookup("opk", "ey", "10.0.0.1", 1), Lookup::Miss);
        assert_eq!(cache.lookup("op", "key1", "0.0.0.1", 1), Lookup::Miss);
        assert_eq!(cache.lookup("op", "ke", "y10.0.0.1", 1), Lookup::Miss);
        assert_eq!(
            cache.lookup("op", "key", "10.0.0.1", 1),
            Lookup::Fresh(allowed())
        );
    }

    #[test]
    fn denials_are_cached_too() {
        let mut cache = cache(10);
        let denied = CachedCheck::Denied(Denial {
            reply: Reply::new(
                400,
                "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
            ),
            key_state: KeyState::Invalid,
        });
        cache.store("op", "bad", "", denied.clone(), 0);
        assert_eq!(cache.lookup("op", "bad", "", 30), Lookup::Fresh(denied));
    }

    #[test]
    fn keyed_by_request_context_too() {
        let mut cache = cache(10);
        cache.store("op", "k", "ip=1.2.3.4", allowed(), 0);
        assert_eq!(cache.lookup("op", "k", "ip=5.6.7.8", 1), Lookup::Miss);
        assert_eq!(
            cache.lookup("op", "k", "ip=1.2.3.4", 1),
            Lookup::Fresh(allowed())
        );
    }

    #[test]
    fn huge_keys_are_not_cached() {
        let mut cache = cache(10);
        let huge = "k".repeat(MAX_CACHED_KEY_LEN + 1);
        cache.store("op", &huge, "", allowed(), 0);
        assert_eq!(cache.lookup("op", &huge, "", 1), Lookup::Miss);
        assert!(cache.is_empty());
    }

    #[test]
    fn bounded_evicting_the_oldest() {
        let mut cache = cache(2);
        cache.store("op", "a", "", allowed(), 1);
        cache.store("op", "b", "", allowed(), 2);
        cache.store("op", "c", "", allowed(), 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lookup("op", "a", "", 4), Lookup::Miss);
        assert!(matches!(cache.lookup("op", "c", "", 4), Lookup::Fresh(_)));
        // Refreshing an existing entry does not evict anything.
        cache.store("op", "b", "", allowed(), 5);
        assert!(matches!(cache.lookup("op", "c", "", 5), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup("op", "b", "", 5), Lookup::Fresh(_)));
    }
}
