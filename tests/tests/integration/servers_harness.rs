//! The real servers the control service's replicas share, on this machine: a PostgreSQL
//! server of its own per test (stopped cleanly, started again with its data), a Redis
//! Cluster of three masters (a killed master fails the cluster; restarted, it comes back
//! with its keys), and a TLS-only Redis with one ACL user. No Envoy, no wasp binaries.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use wasp_tests::redis_cluster::redis_cli;
use wasp_tests::{Postgres, Redis, RedisCluster, TestCa};

#[test]
fn postgres_answers_stops_and_starts_again_with_its_data() {
    let began = Instant::now();
    let mut postgres = Postgres::start();
    assert_eq!(
        postgres.url,
        format!("postgres://wasp@127.0.0.1:{}/wasp", postgres.port())
    );
    assert_eq!(postgres.query("select 1"), "1");
    assert_eq!(postgres.query("select current_database()"), "wasp");
    postgres.query("create table kept (id int primary key, name text not null)");
    postgres.query("insert into kept values (7, 'seven')");

    postgres.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", postgres.port())).is_err(),
        "PostgreSQL still accepts connections after stop"
    );

    postgres.start_again();
    assert_eq!(postgres.query("select id, name from kept"), "7|seven");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "took {:?}",
        began.elapsed()
    );

    let port = postgres.port();
    drop(postgres);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "PostgreSQL still accepts connections after drop"
    );
}

#[test]
fn a_killed_redis_cluster_master_fails_the_cluster_and_comes_back_with_its_keys() {
    let began = Instant::now();
    let mut cluster = RedisCluster::start(3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert!(urls.iter().all(|url| url.starts_with("redis://127.0.0.1:")));

    // Keys in many slots, so each master holds some (node 1 among them).
    for i in 0..20 {
        assert_eq!(
            cluster.cli(&["SET", &format!("harness:{i}"), &i.to_string()]),
            "OK"
        );
    }
    assert_eq!(cluster.get("harness:7"), Some(7));
    assert_eq!(cluster.get("harness:missing"), None);
    assert_eq!(cluster.keys("harness:*").len(), 20);

    cluster.kill(1);
    cluster.wait_for_state("fail", Duration::from_secs(10));

    cluster.restart(1);
    for i in 0..20 {
        assert_eq!(cluster.get(&format!("harness:{i}")), Some(i));
    }
    assert_eq!(cluster.keys("harness:*").len(), 20);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "took {:?}",
        began.elapsed()
    );
}

#[test]
fn a_tls_redis_serves_its_acl_user_only() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write_ca(dir.path());
    ca.write_server_files(dir.path());
    let mut redis = Redis::start_tls(dir.path(), "wasp", "s3cret/pw");
    assert_eq!(
        redis.url,
        format!("rediss://wasp:s3cret%2Fpw@localhost:{}/0", redis.port())
    );

    let cli = |redis: &Redis, auth: &[&str]| {
        let output = Command::new(redis_cli())
            .args(["--tls", "--cacert"])
            .arg(dir.path().join("ca.pem"))
            .args(["-h", "localhost", "-p", &redis.port().to_string()])
            .args(auth)
            .arg("PING")
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let user = ["--user", "wasp", "--pass", "s3cret/pw", "--no-auth-warning"];
    assert_eq!(cli(&redis, &user).trim(), "PONG");
    let anonymous = cli(&redis, &[]);
    assert!(anonymous.contains("NOAUTH"), "{anonymous}");

    redis.stop();
    assert!(TcpStream::connect(("127.0.0.1", redis.port())).is_err());
    redis.start_again();
    assert_eq!(cli(&redis, &user).trim(), "PONG");
}
