//! Shared test parts: a real control service on a free loopback port (in-process, or the
//! real binary), a real redis-server, and a protobuf-over-HTTP client.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasp_config::control::{
    ControlConfig, OperationCosts, QuotaLimit, QuotaMetric, CONTROL_SCHEMA_VERSION,
};
use wasp_control::database::DatabaseAddress;
use wasp_control::redis_windows::RedisOptions;
use wasp_control::server::{build_state, serve, ServeOptions};
use wasp_servicecontrol::quota_operation::QuotaMode;
use wasp_servicecontrol::*;

pub const SERVICE: &str = "shop.example.com";
pub const PRODUCER: &str = "producer-project";
pub const READ_OP: &str = "1.shop_example_com.Read";
pub const FREE_OP: &str = "1.shop_example_com.Free";
pub const ADMIN_TOKEN: &str = "admin-secret";
pub const LIMIT: i64 = 10;

/// A service with one metric, `reads`, limited to 10 per minute per project. `Read`
/// costs 3, `Free` declares a cost of 0 (which counts 1, as ESPv2).
pub fn shop_config() -> ControlConfig {
    ControlConfig {
        version: CONTROL_SCHEMA_VERSION,
        service_name: SERVICE.into(),
        producer_project_id: PRODUCER.into(),
        metrics: vec![QuotaMetric {
            name: "reads".into(),
            display_name: Some("Read requests".into()),
        }],
        limits: vec![QuotaLimit {
            name: "read-limit".into(),
            metric: "reads".into(),
            per_minute: LIMIT,
            display_name: None,
        }],
        operations: vec![
            OperationCosts {
                operation: READ_OP.into(),
                metric_costs: [("reads".to_string(), 3)].into(),
            },
            OperationCosts {
                operation: FREE_OP.into(),
                metric_costs: [("reads".to_string(), 0)].into(),
            },
        ],
    }
}

pub fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("shop.control.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&shop_config()).unwrap()).unwrap();
    path
}

/// A control service running in this process on a free port, stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    pub async fn start(options: ServeOptions) -> Server {
        let state = build_state(&options).await.expect("control service state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let reload_interval = options.reload_interval_secs;
        tokio::spawn(async move {
            serve(listener, state, reload_interval, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        Server {
            addr,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn options(db: &Path, config: &Path) -> ServeOptions {
    ServeOptions {
        db: DatabaseAddress::Sqlite(db.to_path_buf()),
        configs: vec![config.to_path_buf()],
        redis: None,
        admin_token: Some(ADMIN_TOKEN.into()),
        control_token: None,
        reload_interval_secs: 0,
        report_retention_days: 30,
        key_cache_seconds: 0,
    }
}

/// POSTs a protobuf message to `/v1/services/<service>:<verb>` and decodes the answer;
/// panics (with the body) on a non-200.
pub async fn call<Req: Message, Resp: Message + Default>(
    base: &str,
    method: Method,
    service: &str,
    request: &Req,
) -> Resp {
    let response = post_raw(
        base,
        &method.path(service),
        request.encode_to_vec(),
        CONTENT_TYPE,
    )
    .await;
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type.unwrap(), CONTENT_TYPE);
    Resp::decode(body.as_ref()).expect("protobuf response")
}

pub async fn post_raw(
    base: &str,
    path: &str,
    body: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn check_request(consumer_id: &str) -> CheckRequest {
    CheckRequest {
        service_name: SERVICE.into(),
        operation: Some(Operation {
            operation_id: "op-1".into(),
            operation_name: READ_OP.into(),
            consumer_id: consumer_id.into(),
            ..Default::default()
        }),
        service_config_id: "cfg-1".into(),
    }
}

pub async fn check(base: &str, key: &str) -> CheckResponse {
    call(
        base,
        Method::Check,
        SERVICE,
        &check_request(&format!("api_key:{key}")),
    )
    .await
}

/// A new operation id per call, as gateways send: Service Control grants a repeated id
/// once (a retry), so requests that must each be charged need their own.
pub fn new_operation_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("q-{}-{n}", std::process::id())
}

pub fn quota_request(
    consumer_id: &str,
    method_name: &str,
    metric_costs: &[(&str, i64)],
) -> AllocateQuotaRequest {
    AllocateQuotaRequest {
        service_name: SERVICE.into(),
        allocate_operation: Some(QuotaOperation {
            operation_id: new_operation_id(),
            method_name: method_name.into(),
            consumer_id: consumer_id.into(),
            quota_metrics: metric_costs
                .iter()
                .map(|(metric, cost)| MetricValueSet::int64(*metric, *cost))
                .collect(),
            quota_mode: QuotaMode::BestEffort as i32,
            ..Default::default()
        }),
        service_config_id: "cfg-1".into(),
    }
}

/// Allocates `cost` of `reads` for an API key, as ESPv2 does (quota_metrics set).
pub async fn allocate(base: &str, key: &str, cost: i64) -> AllocateQuotaResponse {
    call(
        base,
        Method::AllocateQuota,
        SERVICE,
        &quota_request(&format!("api_key:{key}"), READ_OP, &[("reads", cost)]),
    )
    .await
}

pub fn granted(response: &AllocateQuotaResponse) -> bool {
    response.allocate_errors.is_empty()
}

pub fn exhausted(response: &AllocateQuotaResponse) -> bool {
    response.allocate_errors.len() == 1
        && response.allocate_errors[0].code() == quota_error::Code::ResourceExhausted
}

/// Quota windows are wall-clock minutes: a sequence that must stay in one window waits
/// out the last 15 seconds of a minute first (at most 15 s).
pub async fn wait_for_fresh_window() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let into_minute = now % 60;
    if into_minute >= 45 {
        tokio::time::sleep(Duration::from_secs(60 - into_minute + 1)).await;
    }
}

pub async fn create_key_via_admin(
    base: &str,
    project: &str,
    number: Option<i64>,
) -> (String, String) {
    let mut body = serde_json::json!({ "project_id": project });
    if let Some(number) = number {
        body["project_number"] = number.into();
    }
    let response = reqwest::Client::new()
        .post(format!("{base}/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    (
        created["key"].as_str().unwrap().to_string(),
        created["id"].as_str().unwrap().to_string(),
    )
}

/// `--redis` options for one server.
pub fn redis_at(url: &str) -> Option<RedisOptions> {
    Some(RedisOptions {
        urls: vec![url.to_string()],
        ..RedisOptions::default()
    })
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real redis-server on a free loopback port with no persistence, killed on drop.
pub struct Redis {
    pub url: String,
    child: Child,
}

impl Redis {
    pub fn start() -> Redis {
        let binary = ["redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server"]
            .into_iter()
            .find(|candidate| Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()))
            .unwrap_or_else(|| {
                panic!("redis-server is not installed; run scripts/ensure-redis.sh (installs it from Debian's redis-server package)")
            });
        let port = free_port();
        let child = Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        wait_for_port(port, "redis-server", Duration::from_secs(10));
        Redis {
            url: format!("redis://127.0.0.1:{port}/0"),
            child,
        }
    }
}

impl Redis {
    /// Kills the server now (to test a Redis outage).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real `wasp-control` binary.
pub fn wasp_control() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasp-control"))
}

/// `wasp-control serve` as a child process on a free port, killed on drop.
pub struct BinaryServer {
    pub base: String,
    child: Child,
}

impl BinaryServer {
    pub fn start(db: &Path, config: &Path) -> BinaryServer {
        let mut child = wasp_control()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                ADMIN_TOKEN,
                "--db",
            ])
            .arg(db)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wasp-control serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        BinaryServer { base, child }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
