//! Fixed one-minute quota windows: an atomic "check every charge, then add them all".
//!
//! A denied allocation consumes nothing, and a request charging several limits is all or
//! nothing (Google's NORMAL semantics). ESPv2 asks for BEST_EFFORT, whose documented
//! partial allocation would let a denied request eat the rest of the window; consuming
//! nothing on denial is what users expect ("429 exactly after the limit") and keeps a
//! cheaper request able to use what is left. `commit = false` (CHECK_ONLY) only looks.
//!
//! An allocation that names itself (the gateway's operation id) is charged at most once: a
//! retry of a granted allocation (the client resending after a lost answer, a Redis
//! client retrying after a failover) is granted again without a second charge.
//!
//! Two backends behind one trait: [`MemoryWindows`] for a single instance, and
//! `RedisWindows` in `redis_windows.rs` (a Lua script, atomic inside Redis or one Redis
//! Cluster slot) so several control-service replicas — and so several gateway replicas —
//! share one limit.

use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds in one quota window.
pub const WINDOW_SECONDS: i64 = 60;

/// Redis counters outlive their window a little so a late request in the same minute on a
/// slow clock still sees the count; afterwards Redis drops them by itself.
pub const KEY_TTL_MS: i64 = 2 * WINDOW_SECONDS * 1000;

/// How long a granted allocation is remembered for its retries. Retries come within a
/// second or two (the gateway retries at once, the Redis client within its backoff); one
/// record per request, so at 20,000 grants a second this keeps about 300,000 of them.
pub const GRANTED_TTL_MS: i64 = 15_000;

const GRANTED_TTL: Duration = Duration::from_millis(GRANTED_TTL_MS as u64);

/// Granted allocations the memory windows remember at most: past it, the expired ones go,
/// and if that is not enough, all (a retry then charges again; nothing is lost).
pub const MAX_REMEMBERED_GRANTS: usize = 1_000_000;

/// One amount to take from one counter in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// Identifies the limit and consumer (see [`counter_name`]); the window is separate.
    pub counter: String,
    /// Window index: unix seconds / [`WINDOW_SECONDS`].
    pub window: i64,
    pub cost: i64,
    /// Maximum total of the counter within one window.
    pub limit: i64,
}

/// Result of an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every charge fitted (and was added when committing).
    Granted,
    /// `charges[index]` did not fit: `used` was already taken in its window. Nothing was added.
    Exhausted { index: usize, used: i64 },
}

/// The backend failed; the caller answers 503 so the filter applies its fail-open policy.
#[derive(Debug)]
pub struct WindowsError(pub String);

impl fmt::Display for WindowsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota store unavailable: {}", self.0)
    }
}

impl std::error::Error for WindowsError {}

/// One AllocateQuota's charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub charges: Vec<Charge>,
    /// `false` (CHECK_ONLY): only look.
    pub commit: bool,
    /// Names this allocation across retries ([`allocation_key`]); `None`: every call charges.
    pub key: Option<String>,
}

/// Where quota windows live.
#[async_trait]
pub trait QuotaWindows: Send + Sync {
    /// Atomically: if every charge fits its limit, add them all (when committing), unless
    /// an allocation with the same key was already granted (then: granted, nothing added).
    async fn allocate(&self, allocation: &Allocation) -> Result<Outcome, WindowsError>;
}

/// The window index of a unix time.
pub fn window_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(WINDOW_SECONDS)
}

/// Counter name of one limit for one consumer. The consumer is wrapped in `{}` so all
/// counters of one request share a Redis Cluster hash slot (the script touches them together).
pub fn counter_name(service: &str, limit: &str, consumer: &str) -> String {
    format!("wasp:quota:{{{consumer}}}:{service}:{limit}")
}

/// The record of one granted allocation (`operation_id` is the gateway's, unique per request).
/// In the consumer's hash slot, like its counters, so one script sees both.
pub fn allocation_key(service: &str, consumer: &str, operation_id: &str) -> String {
    format!("wasp:quota:{{{consumer}}}:{service}:granted:{operation_id}")
}

/// The first charge that does not fit, given what each counter already used.
fn first_exhausted(charges: &[Charge], used: impl Fn(&Charge) -> i64) -> Option<(usize, i64)> {
    charges.iter().enumerate().find_map(|(index, charge)| {
        let used = used(charge);
        (used.saturating_add(charge.cost) > charge.limit).then_some((index, used))
    })
}

/// Windows in this process only: right for one control-service instance.
#[derive(Default)]
pub struct MemoryWindows {
    counters: Mutex<MemoryCounters>,
}

#[derive(Default)]
struct MemoryCounters {
    used: HashMap<(String, i64), i64>,
    /// Granted allocation keys and when they were granted (kept [`GRANTED_TTL_MS`]).
    granted: HashMap<String, Instant>,
    /// Newest window seen; older windows are dropped when it advances.
    newest: i64,
}

impl MemoryWindows {
    pub fn new() -> MemoryWindows {
        MemoryWindows::default()
    }

    /// Counters currently kept (for tests of the pruning).
    pub fn len(&self) -> usize {
        self.lock().used.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryCounters> {
        // Updates below cannot panic halfway, so a poisoned map is still consistent.
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl QuotaWindows for MemoryWindows {
    async fn allocate(&self, allocation: &Allocation) -> Result<Outcome, WindowsError> {
        let charges = &allocation.charges;
        let mut counters = self.lock();
        if let Some(newest) = charges.iter().map(|c| c.window).max() {
            if newest > counters.newest {
                counters.newest = newest;
                // Keep the previous window too: a request stamped just before the minute
                // turned may still arrive.
                counters.used.retain(|(_, window), _| *window >= newest - 1);
            }
        }
        let now = Instant::now();
        let fresh = |at: &Instant| now.duration_since(*at) < GRANTED_TTL;
        let repeated = allocation
            .key
            .as_ref()
            .is_some_and(|key| counters.granted.get(key).is_some_and(fresh));
        if repeated {
            return Ok(Outcome::Granted);
        }
        let used_of = |c: &Charge| {
            counters
                .used
                .get(&(c.counter.clone(), c.window))
                .copied()
                .unwrap_or(0)
        };
        if let Some((index, used)) = first_exhausted(charges, used_of) {
            return Ok(Outcome::Exhausted { index, used });
        }
        if allocation.commit {
            for charge in charges {
                let slot = counters
                    .used
                    .entry((charge.counter.clone(), charge.window))
                    .or_insert(0);
                *slot = slot.saturating_add(charge.cost);
            }
            if let Some(key) = &allocation.key {
                if counters.granted.len() >= MAX_REMEMBERED_GRANTS {
                    counters.granted.retain(|_, at| fresh(at));
                    if counters.granted.len() >= MAX_REMEMBERED_GRANTS {
                        counters.granted.clear();
                    }
                }
                counters.granted.insert(key.clone(), now);
            }
        }
        Ok(Outcome::Granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocation(charges: Vec<Charge>, commit: bool) -> Allocation {
        Allocation {
            charges,
            commit,
            key: None,
        }
    }

    fn charge(counter: &str, window: i64, cost: i64, limit: i64) -> Charge {
        Charge {
            counter: counter.into(),
            window,
            cost,
            limit,
        }
    }

    #[tokio::test]
    async fn grants_until_the_limit_and_denial_consumes_nothing() {
        let windows = MemoryWindows::new();
        for _ in 0..3 {
            assert_eq!(
                windows
                    .allocate(&allocation(vec![charge("a", 1, 3, 10)], true))
                    .await
                    .unwrap(),
                Outcome::Granted
            );
        }
        assert_eq!(
            windows
                .allocate(&allocation(vec![charge("a", 1, 3, 10)], true))
                .await
                .unwrap(),
            Outcome::Exhausted { index: 0, used: 9 }
        );
        // The denied 3 was not taken: 1 still fits exactly.
        assert_eq!(
            windows
                .allocate(&allocation(vec![charge("a", 1, 1, 10)], true))
                .await
                .unwrap(),
            Outcome::Granted
        );
        assert_eq!(
            windows
                .allocate(&allocation(vec![charge("a", 1, 1, 10)], true))
                .await
                .unwrap(),
            Outcome::Exhausted { index: 0, used: 10 }
        );
    }

    #[tokio::test]
    async fn several_charges_are_all_or_nothing() {
        let windows = MemoryWindows::new();
        let both = [charge("a", 1, 2, 10), charge("b", 1, 2, 3)];
        assert_eq!(
            windows
                .allocate(&allocation(both.to_vec(), true))
                .await
                .unwrap(),
            Outcome::Granted
        );
        assert_eq!(
            windows
                .allocate(&allocation(both.to_vec(), true))
                .await
                .unwrap(),
            Outcome::Exhausted { index: 1, used: 2 }
        );
        // "a" was not charged by the denied request: 8 more still fit.
        assert_eq!(
            windows
                .allocate(&allocation(vec![charge("a", 1, 8, 10)], true))
                .await
                .unwrap(),
            Outcome::Granted
        );
    }

    #[tokio::test]
    async fn check_only_does_not_consume() {
        let windows = MemoryWindows::new();
        for _ in 0..5 {
            assert_eq!(
                windows
                    .allocate(&allocation(vec![charge("a", 1, 10, 10)], false))
                    .await
                    .unwrap(),
                Outcome::Granted
            );
        }
        assert!(windows.is_empty());
    }

    #[tokio::test]
    async fn a_new_window_starts_from_zero_and_old_ones_are_dropped() {
        let windows = MemoryWindows::new();
        windows
            .allocate(&allocation(vec![charge("a", 1, 10, 10)], true))
            .await
            .unwrap();
        assert!(matches!(
            windows
                .allocate(&allocation(vec![charge("a", 1, 1, 10)], true))
                .await
                .unwrap(),
            Outcome::Exhausted { .. }
        ));
        assert_eq!(
            windows
                .allocate(&allocation(vec![charge("a", 2, 10, 10)], true))
                .await
                .unwrap(),
            Outcome::Granted
        );
        windows
            .allocate(&allocation(vec![charge("b", 3, 1, 10)], true))
            .await
            .unwrap();
        assert_eq!(
            windows.len(),
            2,
            "window 1 is dropped once window 3 is seen"
        );
    }

    #[test]
    fn windows_are_whole_minutes() {
        assert_eq!(window_of(0), 0);
        assert_eq!(window_of(59), 0);
        assert_eq!(window_of(60), 1);
        assert_eq!(window_of(-1), -1);
        assert_eq!(
            counter_name("s", "l", "project:p"),
            "wasp:quota:{project:p}:s:l"
        );
    }

    #[tokio::test]
    async fn a_granted_allocation_retried_is_not_charged_twice() {
        let windows = MemoryWindows::new();
        let keyed = |id: &str| Allocation {
            charges: vec![charge("a", 1, 4, 10)],
            commit: true,
            key: Some(allocation_key("s", "project:p", id)),
        };
        for _ in 0..3 {
            assert_eq!(
                windows.allocate(&keyed("op-1")).await.unwrap(),
                Outcome::Granted
            );
        }
        // Only op-1's 4 was taken: op-2 and op-3 fit (4 + 4 + 4 > 10 denies op-3).
        assert_eq!(
            windows.allocate(&keyed("op-2")).await.unwrap(),
            Outcome::Granted
        );
        assert_eq!(
            windows.allocate(&keyed("op-3")).await.unwrap(),
            Outcome::Exhausted { index: 0, used: 8 }
        );
        assert_eq!(
            allocation_key("s", "project:p", "op-1"),
            "wasp:quota:{project:p}:s:granted:op-1"
        );
    }
}
