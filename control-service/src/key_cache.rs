//! A short in-process cache of key lookups, so a hot key costs no database query per call.
//! Its lifetime is the staleness bound (`--key-cache-seconds`): a key revoked on any
//! replica stops working here within it. Unknown keys are cached too (a client retrying a
//! bad key costs one query per bound). Entries are kept by the key's hash, never the key.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::KeyInfo;

/// Entries kept at most; past it the cache starts over (a key-spraying client cannot grow it).
pub const MAX_ENTRIES: usize = 100_000;

pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<KeyInfo>)>>,
}

impl KeyCache {
    /// `ttl` zero: no caching, every lookup asks the database.
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached lookup of the key whose hash is `hash`, or `load`'s answer (cached when it
    /// succeeded). A failed load is not cached: the next call asks again.
    pub async fn get_or_load<E, F>(
        &self,
        hash: &str,
        now: Instant,
        load: impl FnOnce() -> F,
    ) -> Result<Option<KeyInfo>, E>
    where
        F: Future<Output = Result<Option<KeyInfo>, E>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, info)) = entries.get(hash) {
                if now.duration_since(*at) < self.ttl {
                    return Ok(info.clone());
                }
            }
        }
        // Not holding the lock across the query: two callers may both load, which is fine.
        let info = load().await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash.to_string(), (now, info.clone()));
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::ready;

    fn info(revoked: bool) -> Option<KeyInfo> {
        Some(KeyInfo {
            id: "k1".into(),
            project_id: "acme".into(),
            project_number: 1,
            created_at: 0,
            revoked_at: revoked.then_some(5),
        })
    }

    #[tokio::test]
    async fn answers_are_reused_within_the_bound_and_asked_again_after_it() {
        let cache = KeyCache::new(Duration::from_secs(2));
        let queries = Cell::new(0);
        let load = |revoked: bool| {
            queries.set(queries.get() + 1);
            ready(Ok::<_, ()>(info(revoked)))
        };
        let start = Instant::now();
        assert_eq!(
            cache.get_or_load("h", start, || load(false)).await,
            Ok(info(false))
        );
        // Revoked in the database meanwhile: still valid here within the bound...
        let soon = start + Duration::from_millis(1_900);
        assert_eq!(
            cache.get_or_load("h", soon, || load(true)).await,
            Ok(info(false))
        );
        assert_eq!(queries.get(), 1);
        // ...and revoked once the bound has passed.
        let later = start + Duration::from_secs(2);
        assert_eq!(
            cache.get_or_load("h", later, || load(true)).await,
            Ok(info(true))
        );
        assert_eq!(queries.get(), 2);
    }

    #[tokio::test]
    async fn without_a_bound_every_lookup_asks_and_failures_are_never_kept() {
        let off = KeyCache::new(Duration::ZERO);
        let queries = Cell::new(0);
        let now = Instant::now();
        for _ in 0..3 {
            let _ = off
                .get_or_load("h", now, || {
                    queries.set(queries.get() + 1);
                    ready(Ok::<_, ()>(None))
                })
                .await;
        }
        assert_eq!(queries.get(), 3);
        let on = KeyCache::new(Duration::from_secs(60));
        assert_eq!(
            on.get_or_load("h", now, || ready(Err::<Option<KeyInfo>, _>("down")))
                .await,
            Err("down")
        );
        assert_eq!(
            on.get_or_load("h", now, || ready(Ok::<_, &str>(None)))
                .await,
            Ok(None),
            "asked again"
        );
    }
}
