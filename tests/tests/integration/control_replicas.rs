//! wasp-control on many machines, through real Envoy: two replicas of the real binary on one
//! real PostgreSQL (keys and reports) and one real Redis Cluster of three `redis-server`
//! nodes (quota windows), each behind its own gateway, the gateways calling them over TLS
//! with client certificates from a test CA. A key created on one replica works on the other;
//! a revoked key stops on both within the key-cache bound; a limit of N admits exactly N
//! across both under concurrent load; a Redis node killed mid-load answers by the fail
//! policy and loses or doubles no charge; a Postgres restart keeps every key and report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasp_tests::control::wait_for_fresh_quota_window;
use wasp_tests::expect::local_reply;
use wasp_tests::postgres::Postgres;
use wasp_tests::redis_cluster::RedisCluster;
use wasp_tests::tls::TestCa;
use wasp_tests::{CompileInput, ControlOptions, ControlledGateway, Gateway, HyperEcho, Redis};

use crate::keys_support::*;

/// Units per minute per consumer project on `/items` (cost 1 each).
const LIMIT: usize = 20;

/// `/items` needs a key and charges 1 of LIMIT; `/keyed` needs a key and charges nothing.
/// Every request is checked (no gateway Check cache), so a revocation shows at once.
fn metered(fail_policy: &str) -> CompileInput {
    metered_with_limit(fail_policy, LIMIT)
}

/// [`metered`] with another limit.
fn metered_with_limit(fail_policy: &str, limit: usize) -> CompileInput {
    let top = format!("{}{KEY_REQUIRED}", management_with_limit(limit));
    let paths = [
        operation(
            "/items",
            "get",
            "listItems",
            &["x-google-quota: {metricCosts: {read-requests: 1}}"],
        ),
        operation("/keyed", "get", "keyedItems", &[]),
    ]
    .concat();
    CompileInput::new(&shop(&top, &paths)).args([
        "--producer-project-id",
        PRODUCER,
        "--service-control-check-cache-seconds",
        "0",
        "--service-control-fail-policy",
        fail_policy,
    ])
}

/// A gateway in front of `backend` (hyper: answers concurrent requests without a thread each)
/// with a control service started with `options`.
fn gateway(input: CompileInput, options: ControlOptions, backend: &HyperEcho) -> ControlledGateway {
    ControlledGateway::start_behind(input, options, 1, &backend.url(), None)
}

/// Sends `GET path?key=` for every `(gateway, key)` in `requests` from `threads` threads at
/// once; the statuses in order of `requests`.
fn concurrently(requests: &[(&Gateway, &str)], path: &str, threads: usize) -> Vec<u16> {
    let next = Mutex::new(0usize);
    let statuses = Mutex::new(vec![0u16; requests.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = {
                    let mut next = next.lock().unwrap();
                    *next += 1;
                    *next - 1
                };
                let Some((gateway, key)) = requests.get(index) else {
                    return;
                };
                let reply = get_with_key(gateway, path, key);
                if ![200, 429].contains(&reply.status) {
                    eprintln!("unexpected reply: {reply:?}");
                }
                statuses.lock().unwrap()[index] = reply.status;
            });
        }
    });
    statuses.into_inner().unwrap()
}

fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    counts
}

/// Polls until `reply` for `key` on `gateway` is `status`; how long it took.
fn until_status(
    gateway: &Gateway,
    path: &str,
    key: &str,
    status: u16,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let reply = get_with_key(gateway, path, key);
        if reply.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} still answers {} after {within:?}, expected {status}: {reply:?}",
            reply.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests reported for `operation`, summed over the per-minute rows in Postgres.
fn reported_requests(pg: &Postgres, operation: &str) -> i64 {
    pg.query(&format!(
        "SELECT coalesce(sum(requests), 0) FROM report_minutes WHERE operation = '{operation}'"
    ))
    .parse()
    .unwrap_or_else(|e| panic!("report_minutes sum is not a number: {e}"))
}

fn wait_for_reported(pg: &Postgres, operation: &str, expected: i64, within: Duration) {
    let started = Instant::now();
    loop {
        let reported = reported_requests(pg, operation);
        if reported == expected {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{reported} requests of {operation} in report_minutes after {within:?}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_replicas_on_postgres_and_a_redis_cluster_share_keys_revocations_one_limit_and_reports() {
    let pg = Postgres::start();
    let cluster = RedisCluster::start(3);
    let ca = Arc::new(TestCa::new());
    let replica = ControlOptions {
        db_url: Some(pg.url.clone()),
        redis_cluster: cluster.urls(),
        key_cache_seconds: Some(1),
        tls: Some(Arc::clone(&ca)),
        ..ControlOptions::default()
    };
    let backend = HyperEcho::plain();
    let mut east = gateway(metered("closed"), replica.clone(), &backend);
    let west = gateway(metered("closed"), replica, &backend);
    assert!(east.control.base_url().starts_with("https://"));

    // A key created on one replica (its admin API, over TLS) works through the other.
    let acme = east.control.create_key("acme", 11);
    assert_consumer(&get_with_key(&west, "/keyed", &acme.key), 11);
    assert_consumer(&get_with_key(&east, "/keyed", &acme.key), 11);

    // Revoked on the other replica: both gateways refuse it within the 1 s key-cache bound.
    let globex = west.control.create_key("globex", 12);
    assert_consumer(&get_with_key(&east, "/keyed", &globex.key), 12);
    west.control.revoke_key(&globex.id);
    for gateway in [&east.gateway, &west.gateway] {
        let took = until_status(gateway, "/keyed", &globex.key, 400, Duration::from_secs(4));
        assert!(took < Duration::from_secs(3), "revocation took {took:?}");
        local_reply(
            &get_with_key(gateway, "/keyed", &globex.key),
            400,
            INVALID_KEY,
        );
    }

    // A limit of 20 admits exactly 20 of 48 concurrent requests spread over both gateways
    // (two consumer projects, so two hash slots of the cluster are charged).
    let initech = east.control.create_key("initech", 13);
    wait_for_fresh_quota_window(Duration::from_secs(20));
    let mut requests = Vec::new();
    for i in 0..48 {
        let gateway = if i % 2 == 0 {
            &east.gateway
        } else {
            &west.gateway
        };
        requests.push((gateway, acme.key.as_str()));
        requests.push((gateway, initech.key.as_str()));
    }
    let statuses = concurrently(&requests, "/items", 12);
    for key in [&acme.key, &initech.key] {
        let mine: Vec<u16> = requests
            .iter()
            .zip(&statuses)
            .filter(|((_, k), _)| *k == key.as_str())
            .map(|(_, status)| *status)
            .collect();
        let counts = tally(&mine);
        assert_eq!(
            counts,
            BTreeMap::from([(200, LIMIT), (429, 48 - LIMIT)]),
            "{key}: {counts:?}"
        );
    }

    // Every request was reported, by both gateways to their replicas, into one table.
    let items = op("listItems");
    wait_for_reported(&pg, &items, 96, Duration::from_secs(15));
    // Reports survive a replica's restart: it reads them back from Postgres.
    east.control.stop();
    east.control.start_again();
    let (status, body) = east.control.admin("GET", "/admin/reports/minutes", None);
    assert_eq!(status, 200, "{body}");
    let rows: serde_json::Value = serde_json::from_str(&body).unwrap();
    let served: i64 = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["operation"] == items.as_str())
        .map(|row| row["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(served, 96, "{body}");
}

/// Two gateways, each with its replica on `pg` and `cluster`, failing closed, with a limit
/// no run reaches: every 200 is one grant, every grant one unit.
fn unlimited_pair(
    pg: &Postgres,
    cluster: &RedisCluster,
    backend: &HyperEcho,
) -> (ControlledGateway, ControlledGateway) {
    let replica = ControlOptions {
        db_url: Some(pg.url.clone()),
        redis_cluster: cluster.urls(),
        ..ControlOptions::default()
    };
    let input = metered_with_limit("closed", 1_000_000);
    (
        gateway(input.clone(), replica.clone(), backend),
        gateway(input, replica, backend),
    )
}

/// The units the cluster counted: every window counter (not the remembered allocations).
fn charged_units(cluster: &RedisCluster) -> i64 {
    cluster
        .keys("wasp:quota:*")
        .iter()
        .filter(|key| !key.contains(":granted:"))
        .map(|key| cluster.get(key).unwrap_or(0))
        .sum()
}

/// Threads sending requests while a Redis node is killed or a slot moves.
const WORKERS: usize = 4;

/// Each load thread's pause between requests.
const PACE: Duration = Duration::from_millis(4);

/// The times and statuses of the replies to a load.
type Seen = Mutex<Vec<(Instant, u16)>>;

/// Starts [`WORKERS`] threads in `scope` sending `GET /items` through both gateways in turn,
/// with each of `keys` in turn, until the returned guard drops; every reply's time and status
/// goes to `seen`.
fn load<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    running: &'env AtomicBool,
    seen: &'env Seen,
    gateways: [&'env Gateway; 2],
    keys: &'env [String],
) -> StopOnDrop<'env> {
    for worker in 0..WORKERS {
        scope.spawn(move || {
            let mut n = worker;
            while running.load(Ordering::Relaxed) {
                let reply = get_with_key(gateways[n % 2], "/items", &keys[n % keys.len()]);
                seen.lock().unwrap().push((Instant::now(), reply.status));
                n += 1;
                // Paced: enough load to catch requests in flight, without starving the
                // tests that run beside this one on a 2-core machine.
                std::thread::sleep(PACE);
            }
        });
    }
    StopOnDrop(running)
}

/// Stops the load however a scope's body ends (an assertion failing in it included).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[test]
fn a_redis_cluster_node_killed_mid_load_answers_by_the_fail_policy_and_no_charge_is_lost_or_doubled(
) {
    let pg = Postgres::start();
    let mut cluster = RedisCluster::start(3);
    let backend = HyperEcho::plain();
    let (east, west) = unlimited_pair(&pg, &cluster, &backend);
    let keys: Vec<String> = (0..6)
        .map(|i| east.control.create_key(&format!("tenant-{i}"), 100 + i).key)
        .collect();
    // The whole run stays inside one minute's windows (about 15 s).
    wait_for_fresh_quota_window(Duration::from_secs(30));

    let running = AtomicBool::new(true);
    let seen = Mutex::new(Vec::<(Instant, u16)>::new());
    let killed_at = Mutex::new(None::<Instant>);
    std::thread::scope(|scope| {
        let _stop = load(
            scope,
            &running,
            &seen,
            [&east.gateway, &west.gateway],
            &keys,
        );
        std::thread::sleep(Duration::from_millis(1500));
        cluster.kill(1);
        *killed_at.lock().unwrap() = Some(Instant::now());
        // The gateways fail closed while the node is gone...
        let outage = Instant::now();
        while !seen.lock().unwrap().iter().any(|(_, s)| *s == 503) {
            assert!(
                outage.elapsed() < Duration::from_secs(10),
                "no 503 while a Redis node was down: {:?}",
                {
                    let seen = seen.lock().unwrap();
                    seen.iter()
                        .map(|(at, s)| (at.duration_since(outage).as_millis() as i64, *s))
                        .collect::<Vec<_>>()
                }
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        cluster.restart(1);
        // ...and grant again once it is back.
        let restarted = Instant::now();
        loop {
            let recovered = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(at, s)| *at > restarted && *s == 200)
                .count();
            if recovered >= 20 {
                break;
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(20),
                "no grants 20 s after the node came back"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        running.store(false, Ordering::Relaxed);
    });

    let seen = seen.into_inner().unwrap();
    let killed_at = killed_at.into_inner().unwrap().unwrap();
    let counts = tally(&seen.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    assert!(
        counts.keys().all(|status| [200, 503].contains(status)),
        "only grants and the fail-closed 503: {counts:?}"
    );
    assert!(
        seen.iter().any(|(at, s)| *at < killed_at && *s == 200),
        "{counts:?}"
    );
    let granted = counts.get(&200).copied().unwrap_or(0);
    let charged = charged_units(&cluster);
    eprintln!("node killed mid-load: {counts:?}, {charged} units charged in Redis");
    // No grant lost: every 200 is a unit in Redis (the restarted node reloaded its
    // append-only file). None charged twice: a gateway retrying a failed allocation sends
    // the same operation id, which Redis remembers. The only units beyond the grants are
    // requests that were in flight on the killed node, counted by Redis as it died while
    // their answer was lost: at most one per worker.
    assert!(
        granted as i64 <= charged && charged <= granted as i64 + WORKERS as i64,
        "{charged} units charged in Redis for {granted} requests granted ({counts:?})"
    );
}

#[test]
fn a_postgres_restart_answers_by_the_fail_policy_and_keeps_every_key_and_report() {
    let mut pg = Postgres::start();
    let replica = ControlOptions {
        db_url: Some(pg.url.clone()),
        ..ControlOptions::default()
    };
    let gw = ControlledGateway::start_with(metered("closed"), replica);
    let acme = gw.control.create_key("acme", 21);
    for _ in 0..3 {
        assert_consumer(&get_with_key(&gw, "/keyed", &acme.key), 21);
    }
    let keyed = op("keyedItems");
    wait_for_reported(&pg, &keyed, 3, Duration::from_secs(10));
    // A key created before the outage but never used yet.
    let fresh = gw.control.create_key("globex", 22);

    // Down: a key the gateway never checked cannot be checked, and the gateway fails closed
    // (ESPv2's 503), quickly; a key it checked before keeps its last answer meanwhile.
    pg.stop();
    let started = Instant::now();
    let reply = get_with_key(&gw, "/keyed", &fresh.key);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_consumer(&get_with_key(&gw, "/keyed", &acme.key), 21);

    // Back: the new key works without restarting anything, and what was stored before is
    // all there.
    pg.start_again();
    until_status(&gw, "/keyed", &fresh.key, 200, Duration::from_secs(15));
    assert_consumer(&get_with_key(&gw, "/keyed", &fresh.key), 22);
    let (status, keys) = gw.control.admin("GET", "/admin/keys", None);
    assert_eq!(status, 200, "{keys}");
    assert!(
        keys.contains(&acme.id) && keys.contains(&fresh.id),
        "{keys}"
    );
    assert!(reported_requests(&pg, &keyed) >= 3);
    // New reports land again.
    let before = reported_requests(&pg, &keyed);
    assert_consumer(&get_with_key(&gw, "/keyed", &acme.key), 21);
    let started = Instant::now();
    while reported_requests(&pg, &keyed) <= before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no report after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn quota_windows_in_a_tls_redis_with_an_acl_user() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_ca(dir.path());
    ca.write_server_files(dir.path());
    let redis = Redis::start_tls(dir.path(), "wasp-control", "s3cret/pw");
    assert!(
        redis.url.starts_with("rediss://wasp-control:"),
        "{}",
        redis.url
    );
    let on_tls_redis = ControlOptions {
        redis: Some(redis.url.clone()),
        redis_ca: Some(ca_file.clone()),
        ..ControlOptions::default()
    };
    let gw = ControlledGateway::start_with(metered("closed"), on_tls_redis);
    let acme = gw.control.create_key("acme", 31);
    wait_for_fresh_quota_window(Duration::from_secs(15));
    let statuses: Vec<u16> = (0..LIMIT + 2)
        .map(|_| get_with_key(&gw, "/items", &acme.key).status)
        .collect();
    assert_eq!(
        tally(&statuses),
        BTreeMap::from([(200, LIMIT), (429, 2)]),
        "{statuses:?}"
    );

    // A wrong password fails `serve` at start, naming the server but not the password.
    let wrong = redis.url.replace("s3cret%2Fpw", "not-it");
    let output = std::process::Command::new(wasp_tests::tools::control_binary())
        .args(["serve", "--db"])
        .arg(dir.path().join("keys.db"))
        .arg("--config")
        .arg(gw.control.config_path())
        .args(["--listen", "127.0.0.1:0", "--redis", &wrong, "--redis-ca"])
        .arg(&ca_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("localhost:{}", redis.port())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-it"),
        "the password is never shown: {stderr}"
    );
}

#[test]
fn a_slot_moved_between_nodes_mid_load_is_followed_and_every_grant_charged_once() {
    let pg = Postgres::start();
    let cluster = RedisCluster::start(3);
    let backend = HyperEcho::plain();
    let (east, west) = unlimited_pair(&pg, &cluster, &backend);
    let key = east.control.create_key("moving", 41).key;
    wait_for_fresh_quota_window(Duration::from_secs(30));

    let running = AtomicBool::new(true);
    let seen = Mutex::new(Vec::new());
    let keys = [key];
    let moved = std::thread::scope(|scope| {
        let _stop = load(
            scope,
            &running,
            &seen,
            [&east.gateway, &west.gateway],
            &keys,
        );
        std::thread::sleep(Duration::from_millis(1000));
        // Every counter and allocation record of this consumer is in the slot of its tag.
        let moved = cluster.move_slot_of("{project:moving}");
        std::thread::sleep(Duration::from_millis(1000));
        moved
    });
    let seen: Vec<u16> = seen.into_inner().unwrap().iter().map(|(_, s)| *s).collect();
    let counts = tally(&seen);
    let granted = counts.get(&200).copied().unwrap_or(0);
    let charged = charged_units(&cluster);
    eprintln!(
        "slot moved from node {} to node {} mid-load: {counts:?}, {charged} units charged",
        moved.0, moved.1
    );
    assert!(granted > 0, "{counts:?}");
    assert!(
        counts.keys().all(|status| [200, 503].contains(status)),
        "only grants and, while keys were split, the fail-closed 503: {counts:?}"
    );
    assert_eq!(
        charged, granted as i64,
        "units charged vs requests granted ({counts:?})"
    );
}
