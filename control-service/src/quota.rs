//! Fixed one-minute quota windows: an atomic "check every charge, then add them all".
//!
//! A denied allocation consumes nothing, and a request charging several limits is all or
//! nothing (Google's NORMAL semantics). ESPv2 asks for BEST_EFFORT, whose documented
//! partial allocation would let a denied request eat the rest of the window; consuming
//! nothing on denial is what users expect ("429 exactly after the limit") and keeps a
//! cheaper request able to use what is left. `commit = false` (CHECK_ONLY) only looks.
//!
//! Two backends behind one trait: [`MemoryWindows`] for a single instance, and
//! [`RedisWindows`] (a Lua script, atomic inside Redis) so several control-service
//! replicas — and so several gateway replicas — share one limit.

use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// Seconds in one quota window.
pub const WINDOW_SECONDS: i64 = 60;

/// Redis keys outlive their window a little so a late request in the same minute on a
/// slow clock still sees the count; afterwards Redis drops them by itself.
const REDIS_KEY_TTL_MS: i64 = 2 * WINDOW_SECONDS * 1000;

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

/// Where quota windows live.
#[async_trait]
pub trait QuotaWindows: Send + Sync {
    /// Atomically: if every charge fits its limit, add them all (when `commit`).
    async fn allocate(&self, charges: &[Charge], commit: bool) -> Result<Outcome, WindowsError>;
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
    async fn allocate(&self, charges: &[Charge], commit: bool) -> Result<Outcome, WindowsError> {
        let mut counters = self.lock();
        if let Some(newest) = charges.iter().map(|c| c.window).max() {
            if newest > counters.newest {
                counters.newest = newest;
                // Keep the previous window too: a request stamped just before the minute
                // turned may still arrive.
                counters.used.retain(|(_, window), _| *window >= newest - 1);
            }
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
        if commit {
            for charge in charges {
                let slot = counters
                    .used
                    .entry((charge.counter.clone(), charge.window))
                    .or_insert(0);
                *slot = slot.saturating_add(charge.cost);
            }
        }
        Ok(Outcome::Granted)
    }
}

/// KEYS: one counter per charge. ARGV[1]: TTL in ms, ARGV[2]: "1" to commit, then
/// (cost, limit) per charge. Returns {0, 0} when granted, {i, used} when charge i
/// (1-based) does not fit. Runs atomically inside Redis, so replicas never both take
/// the last unit.
const ALLOCATE_SCRIPT: &str = r"
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[1 + 2 * i]) > tonumber(ARGV[2 + 2 * i]) then
    return {i, used}
  end
end
if ARGV[2] == '1' then
  for i = 1, #KEYS do
    redis.call('INCRBY', KEYS[i], ARGV[1 + 2 * i])
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
end
return {0, 0}
";

/// The longest one quota call waits for Redis. The connection manager's reconnect attempts
/// on a dead server take seconds (about 2.5 s measured with a refused port); the gateway's
/// AllocateQuota times out after 1 s by default (ESPv2's), and would then see a timeout
/// instead of this service's 503. Redis answers the script in well under a millisecond
/// when it is up.
pub const REDIS_CALL_DEADLINE: Duration = Duration::from_millis(500);

/// Windows in Redis, shared by every instance pointed at the same server.
pub struct RedisWindows {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
}

impl RedisWindows {
    /// Connects (and so fails fast on a wrong URL or a server that is down).
    pub async fn connect(url: &str) -> Result<RedisWindows, WindowsError> {
        let client = redis::Client::open(url)
            .map_err(|e| WindowsError(format!("bad Redis URL {url:?}: {e}")))?;
        // Bounded retries and timeouts: without them the manager retries for minutes
        // on a dead server, and a gateway's quota call (1 s in ESPv2) would time out
        // instead of getting a quick 503 it can fail open on.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_max_delay(500)
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(800));
        let connect = client.get_connection_manager_with_config(config);
        let connection = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| WindowsError(format!("cannot connect to Redis at {url}: timed out")))?
            .map_err(|e| WindowsError(format!("cannot connect to Redis at {url}: {e}")))?;
        Ok(RedisWindows {
            connection,
            script: redis::Script::new(ALLOCATE_SCRIPT),
        })
    }
}

#[async_trait]
impl QuotaWindows for RedisWindows {
    async fn allocate(&self, charges: &[Charge], commit: bool) -> Result<Outcome, WindowsError> {
        if charges.is_empty() {
            return Ok(Outcome::Granted);
        }
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(REDIS_KEY_TTL_MS)
            .arg(if commit { "1" } else { "0" });
        for charge in charges {
            invocation.key(format!("{}:{}", charge.counter, charge.window));
            invocation.arg(charge.cost).arg(charge.limit);
        }
        let mut connection = self.connection.clone();
        let call = invocation.invoke_async(&mut connection);
        let (index, used): (i64, i64) = tokio::time::timeout(REDIS_CALL_DEADLINE, call)
            .await
            .map_err(|_| {
                WindowsError(format!(
                    "no answer from Redis within {} ms",
                    REDIS_CALL_DEADLINE.as_millis()
                ))
            })?
            .map_err(|e| WindowsError(e.to_string()))?;
        if index == 0 {
            return Ok(Outcome::Granted);
        }
        let index = usize::try_from(index - 1)
            .map_err(|_| WindowsError(format!("script returned index {index}")))?;
        Ok(Outcome::Exhausted { index, used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    .allocate(&[charge("a", 1, 3, 10)], true)
                    .await
                    .unwrap(),
                Outcome::Granted
            );
        }
        assert_eq!(
            windows
                .allocate(&[charge("a", 1, 3, 10)], true)
                .await
                .unwrap(),
            Outcome::Exhausted { index: 0, used: 9 }
        );
        // The denied 3 was not taken: 1 still fits exactly.
        assert_eq!(
            windows
                .allocate(&[charge("a", 1, 1, 10)], true)
                .await
                .unwrap(),
            Outcome::Granted
        );
        assert_eq!(
            windows
                .allocate(&[charge("a", 1, 1, 10)], true)
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
            windows.allocate(&both, true).await.unwrap(),
            Outcome::Granted
        );
        assert_eq!(
            windows.allocate(&both, true).await.unwrap(),
            Outcome::Exhausted { index: 1, used: 2 }
        );
        // "a" was not charged by the denied request: 8 more still fit.
        assert_eq!(
            windows
                .allocate(&[charge("a", 1, 8, 10)], true)
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
                    .allocate(&[charge("a", 1, 10, 10)], false)
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
            .allocate(&[charge("a", 1, 10, 10)], true)
            .await
            .unwrap();
        assert!(matches!(
            windows
                .allocate(&[charge("a", 1, 1, 10)], true)
                .await
                .unwrap(),
            Outcome::Exhausted { .. }
        ));
        assert_eq!(
            windows
                .allocate(&[charge("a", 2, 10, 10)], true)
                .await
                .unwrap(),
            Outcome::Granted
        );
        windows
            .allocate(&[charge("b", 3, 1, 10)], true)
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
}
