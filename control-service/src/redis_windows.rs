//! Quota windows in Redis, shared by every wasp-control replica pointed at it: one server
//! (`redis://`, `rediss://` for TLS) or a Redis Cluster (`--redis-cluster`, the URLs are
//! seed nodes). A password or ACL user goes in the URL (`rediss://user:secret@host:6380`).
//!
//! One Lua script checks every charge and adds them all, atomically. In a cluster the
//! script's keys must share a hash slot: counters and the allocation record are named with
//! the consumer in `{}` ([`crate::quota::counter_name`]), so one request's keys always do.
//! The client follows MOVED and ASK redirections and retries after a failover; the
//! allocation record makes such a retry of a script that already ran grant without a
//! second charge.

use async_trait::async_trait;
use redis::aio::ConnectionLike;
use redis::{Client, TlsCertificates};
use std::path::PathBuf;

use crate::redact::without_password;
use std::time::Duration;

use crate::quota::{Allocation, Outcome, QuotaWindows, WindowsError, GRANTED_TTL_MS, KEY_TTL_MS};

/// KEYS: one counter per charge, then (optionally) the allocation's record. ARGV[1]: the
/// counters' TTL in ms, ARGV[2]: "1" to commit, ARGV[3]: the number of counters, ARGV[4]:
/// the record's TTL in ms, then (cost, limit) per counter. Returns {0, 0} when granted (or already granted under the record), {i, used}
/// when counter i (1-based) does not fit. Runs atomically inside Redis, so replicas never
/// both take the last unit.
const ALLOCATE_SCRIPT: &str = r"
local counters = tonumber(ARGV[3])
local record = KEYS[counters + 1]
if record and redis.call('EXISTS', record) == 1 then
  return {0, 0}
end
for i = 1, counters do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[3 + 2 * i]) > tonumber(ARGV[4 + 2 * i]) then
    return {i, used}
  end
end
if ARGV[2] == '1' then
  for i = 1, counters do
    redis.call('INCRBY', KEYS[i], ARGV[3 + 2 * i])
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
  if record then
    redis.call('SET', record, '1', 'PX', ARGV[4])
  end
end
return {0, 0}
";

/// The longest one quota call waits for Redis. Reconnect attempts on a dead server take
/// seconds (about 2.5 s measured with a refused port); the gateway's AllocateQuota times
/// out after 1 s by default (ESPv2's), and would then see a timeout instead of this
/// service's 503. Redis answers the script in well under a millisecond when it is up.
pub const REDIS_CALL_DEADLINE: Duration = Duration::from_millis(500);

/// `--redis` and its companions.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// One server's URL, or a cluster's seed nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
    /// PEM CA bundle that signed the servers' certificates (`rediss://`); system roots without it.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for servers that require one (`tls-auth-clients yes`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl RedisOptions {
    /// The addresses without passwords, for logs and errors.
    pub fn describe(&self) -> String {
        let urls: Vec<String> = self.urls.iter().map(|url| without_password(url)).collect();
        let kind = if self.cluster {
            "Redis Cluster"
        } else {
            "Redis"
        };
        format!("{kind} at {}", urls.join(", "))
    }

    fn certificates(&self) -> Result<Option<TlsCertificates>, WindowsError> {
        let read = |path: &PathBuf| {
            std::fs::read(path)
                .map_err(|e| WindowsError(format!("cannot read {}: {e}", path.display())))
        };
        if self.ca_file.is_none() && self.client_cert.is_none() {
            return Ok(None);
        }
        Ok(Some(TlsCertificates {
            root_cert: self.ca_file.as_ref().map(read).transpose()?,
            client_tls: match &self.client_cert {
                Some((cert, key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert)?,
                    client_key: read(key)?,
                }),
                None => None,
            },
        }))
    }
}

/// A single server's connection manager or a cluster connection: both clone cheaply and
/// reconnect by themselves.
#[derive(Clone)]
enum Connection {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// Windows in Redis, shared by every instance pointed at the same server or cluster.
pub struct RedisWindows {
    connection: Connection,
    script: redis::Script,
}

impl RedisWindows {
    /// Connects (and so fails fast on a wrong URL, a bad certificate or a server that is down).
    pub async fn connect(options: &RedisOptions) -> Result<RedisWindows, WindowsError> {
        let described = options.describe();
        let failed =
            |e: redis::RedisError| WindowsError(format!("cannot connect to {described}: {e}"));
        let certificates = options.certificates()?;
        let connect = async {
            if options.cluster {
                let mut builder = redis::cluster::ClusterClient::builder(options.urls.clone())
                    .retries(3)
                    .min_retry_wait(20)
                    .max_retry_wait(200)
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_millis(800));
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                let client = builder.build().map_err(failed)?;
                let connection = client.get_async_connection().await.map_err(failed)?;
                Ok(Connection::Cluster(connection))
            } else {
                let [url] = options.urls.as_slice() else {
                    return Err(WindowsError(format!(
                        "{described}: several URLs name a cluster's nodes; pass --redis-cluster, or one --redis URL"
                    )));
                };
                let client = match certificates {
                    Some(certificates) => Client::build_with_tls(url.as_str(), certificates),
                    None => Client::open(url.as_str()),
                }
                .map_err(|e| {
                    WindowsError(format!("bad Redis URL {}: {e}", without_password(url)))
                })?;
                // Bounded retries and timeouts: without them the manager retries for minutes
                // on a dead server, and a gateway's quota call (1 s in ESPv2) would time out
                // instead of getting a quick 503 it can fail open on.
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_number_of_retries(2)
                    .set_max_delay(500)
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_millis(800));
                let manager = client
                    .get_connection_manager_with_config(config)
                    .await
                    .map_err(failed)?;
                Ok(Connection::Single(manager))
            }
        };
        let connection = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| WindowsError(format!("cannot connect to {described}: timed out")))??;
        Ok(RedisWindows {
            connection,
            script: redis::Script::new(ALLOCATE_SCRIPT),
        })
    }
}

async fn run(
    invocation: &redis::ScriptInvocation<'_>,
    connection: &mut (impl ConnectionLike + Send),
) -> redis::RedisResult<(i64, i64)> {
    invocation.invoke_async(connection).await
}

#[async_trait]
impl QuotaWindows for RedisWindows {
    async fn allocate(&self, allocation: &Allocation) -> Result<Outcome, WindowsError> {
        let charges = &allocation.charges;
        if charges.is_empty() {
            return Ok(Outcome::Granted);
        }
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(KEY_TTL_MS)
            .arg(if allocation.commit { "1" } else { "0" })
            .arg(charges.len())
            .arg(GRANTED_TTL_MS);
        for charge in charges {
            invocation.key(format!("{}:{}", charge.counter, charge.window));
            invocation.arg(charge.cost).arg(charge.limit);
        }
        if let Some(key) = &allocation.key {
            invocation.key(key);
        }
        let call = async {
            match self.connection.clone() {
                Connection::Single(mut manager) => run(&invocation, &mut manager).await,
                Connection::Cluster(mut cluster) => run(&invocation, &mut cluster).await,
            }
        };
        let (index, used) = tokio::time::timeout(REDIS_CALL_DEADLINE, call)
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

    #[test]
    fn descriptions_never_show_a_password() {
        let options = RedisOptions {
            urls: vec![
                "rediss://wasp:s3cret@10.0.0.1:6380/0".into(),
                "redis://:pw@10.0.0.2:6379".into(),
                "redis://10.0.0.3:6379".into(),
            ],
            cluster: true,
            ..RedisOptions::default()
        };
        assert_eq!(
            options.describe(),
            "Redis Cluster at rediss://wasp:***@10.0.0.1:6380/0, redis://:***@10.0.0.2:6379, redis://10.0.0.3:6379"
        );
    }
}
