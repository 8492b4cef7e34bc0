//! Two control-service instances sharing quota windows through a real redis-server: the
//! limit holds across them. The same scenario with in-memory windows shows the contrast
//! (each instance would grant the full limit), so the shared result is not an accident.

mod common;

use common::*;
use wasp_control::server::build_state;
use wasp_servicecontrol::{AllocateQuotaResponse, Message, Method, CONTENT_TYPE};

/// Two control services on one key database and one Redis, a key of project `acme`, and a
/// fresh quota window. The Redis and the directory live as long as the replicas.
struct Replicas {
    a: Server,
    b: Server,
    key: String,
    _redis: Redis,
    _dir: tempfile::TempDir,
}

async fn two_replicas() -> Replicas {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut opts = options(&dir.path().join("keys.db"), &config);
    opts.redis = redis_at(&redis.url);
    let (a, b) = (Server::start(opts.clone()).await, Server::start(opts).await);
    let (key, _) = create_key_via_admin(&a.url(""), "acme", None).await;
    wait_for_fresh_window().await;
    Replicas {
        a,
        b,
        key,
        _redis: redis,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_limit_through_redis() {
    let replicas = two_replicas().await;
    let (a, b, key) = (replicas.a.url(""), replicas.b.url(""), &replicas.key);

    // Limit 10, cost 3, alternating replicas: 3 (A) + 3 (B) + 3 (A) = 9; B's 12 is refused.
    assert!(granted(&allocate(&a, key, 3).await));
    assert!(granted(&allocate(&b, key, 3).await));
    assert!(granted(&allocate(&a, key, 3).await));
    assert!(exhausted(&allocate(&b, key, 3).await));
    assert!(exhausted(&allocate(&a, key, 3).await));
    // Nothing consumed by the refusals: exactly one unit is left, on either replica.
    assert!(granted(&allocate(&b, key, 1).await));
    assert!(exhausted(&allocate(&a, key, 1).await));
}

/// A gateway that lost an answer resends the same allocation, perhaps to another replica:
/// Redis remembers the operation id, so it is granted again without a second charge.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_allocation_is_charged_once_on_any_replica() {
    let replicas = two_replicas().await;
    let (a, b, key) = (replicas.a.url(""), replicas.b.url(""), &replicas.key);
    let once = quota_request(&format!("api_key:{key}"), READ_OP, &[("reads", 6)]);
    for base in [&a, &b, &a] {
        let response: AllocateQuotaResponse =
            call(base, Method::AllocateQuota, SERVICE, &once).await;
        assert!(granted(&response), "the same operation is granted again");
    }
    assert!(granted(&allocate(&b, key, 4).await), "6 + 4 fit in 10");
    assert!(exhausted(&allocate(&a, key, 1).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_allocations_never_exceed_the_limit() {
    let replicas = two_replicas().await;
    let (a, b, key) = (&replicas.a, &replicas.b, &replicas.key);

    // 40 concurrent cost-1 allocations against a limit of 10 across two replicas.
    let mut tasks = Vec::new();
    for n in 0..40 {
        let base = if n % 2 == 0 { a.url("") } else { b.url("") };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            granted(&allocate(&base, &key, 1).await)
        }));
    }
    let mut grants = 0;
    for task in tasks {
        grants += usize::from(task.await.unwrap());
    }
    assert_eq!(grants, LIMIT as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_windows_are_per_instance() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let opts = options(&dir.path().join("keys.db"), &config);
    let a = Server::start(opts.clone()).await;
    let b = Server::start(opts).await;
    let (a, b) = (a.url(""), b.url(""));
    let (key, _) = create_key_via_admin(&a, "acme", None).await;
    wait_for_fresh_window().await;
    assert!(granted(&allocate(&a, &key, 9).await));
    assert!(
        granted(&allocate(&b, &key, 9).await),
        "without Redis each instance counts alone"
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_at_start_with_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut opts = options(&dir.path().join("keys.db"), &config);
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    opts.redis = redis_at(&url);
    let error = build_state(&opts)
        .await
        .err()
        .expect("must fail")
        .to_string();
    assert!(error.contains(&url), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_answers_503_quickly_so_gateways_can_fail_open() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut opts = options(&dir.path().join("keys.db"), &config);
    opts.redis = redis_at(&redis.url);
    let server = Server::start(opts).await;
    let base = server.url("");
    let (key, _) = create_key_via_admin(&base, "acme", None).await;
    assert!(granted(&allocate(&base, &key, 1).await));

    redis.kill();
    // The first call finds the connection broken at once; later ones meet the connection
    // manager's reconnect attempts, which took 2.5 s before each call had a deadline.
    for _ in 0..3 {
        let request = quota_request(&format!("api_key:{key}"), READ_OP, &[("reads", 1)]);
        let started = std::time::Instant::now();
        let response = post_raw(
            &base,
            &Method::AllocateQuota.path(SERVICE),
            request.encode_to_vec(),
            CONTENT_TYPE,
        )
        .await;
        assert_eq!(response.status(), 503);
        // Before the gateway's AllocateQuota timeout (1 s by default, ESPv2's), or the
        // gateway sees its own timeout instead of this answer.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["status"], "UNAVAILABLE");
    }
}
