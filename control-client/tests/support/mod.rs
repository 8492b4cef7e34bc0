//! The parts the end-to-end tests run: the real `wasp-control` service (in-process, real HTTP,
//! a temporary SQLite file, memory or Redis quota windows), a real redis-server, and a
//! blocking HTTP client that plays the proxy-wasm host: it performs each [`Callout`] the flow
//! asks for and hands the result back, as the filter adapter will.
#![allow(dead_code)] // each test file uses a subset

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasp_config::control::{
    ControlConfig, OperationCosts, QuotaLimit, QuotaMetric, CONTROL_SCHEMA_VERSION,
};
use wasp_control::server::{build_state, serve, ServeOptions};
use wasp_control_client::{
    CallKind, Callout, CalloutResult, ControlClientConfig, ControlState, Delivery, DeliveryStep,
    Flow, OperationIds, ReportBatcher, RequestInput, Step,
};

pub const SERVICE: &str = "shop.example.com";
pub const PRODUCER: &str = "producer-project";
pub const READ: &str = "1.shop_example_com.Read";
pub const LIST: &str = "1.shop_example_com.List";
pub const PING: &str = "1.shop_example_com.Ping";
pub const GET: &str = "1.shop_example_com.Get";
pub const ADMIN_TOKEN: &str = "admin-secret";
pub const LIMIT: i64 = 10;
pub const CLUSTER: &str = "service-control";

/// `reads` limited to 10 per minute per project; `Read` costs 3, `List` 1.
pub fn control_config() -> ControlConfig {
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
                operation: READ.into(),
                metric_costs: [("reads".to_string(), 3)].into(),
            },
            OperationCosts {
                operation: LIST.into(),
                metric_costs: [("reads".to_string(), 1)].into(),
            },
        ],
    }
}

/// The gateway's view of the same service: `Read` and `List` require a key and cost 3 / 1;
/// `Get` requires a key and costs nothing; `Ping` needs no key and costs nothing.
pub fn client_config(base_url_port: u16, policy: &str) -> ControlClientConfig {
    let json = serde_json::json!({
        "service_name": SERVICE,
        "service_config_id": "2026-11-23r0",
        "producer_project_id": PRODUCER,
        "endpoint": {"cluster": CLUSTER, "authority": format!("127.0.0.1:{base_url_port}")},
        "network_fail_policy": policy,
        "check": {"timeout_ms": 1000, "retries": 3},
        "operations": [
            {"name": READ, "api_key_required": true, "metric_costs": {"reads": 3}},
            {"name": LIST, "api_key_required": true, "metric_costs": {"reads": 1}},
            {"name": GET, "api_key_required": true},
            {"name": PING}
        ]
    });
    ControlClientConfig::from_json(json.to_string().as_bytes()).expect("client config")
}

/// A control service running on its own runtime thread, stopped on drop.
pub struct ControlService {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlService {
    /// Serves the keys in `dir/keys.db` (two instances on one directory share the keys).
    pub fn start(dir: &Path, redis: Option<&str>) -> ControlService {
        let config_path = dir.join("shop.control.json");
        std::fs::write(&config_path, serde_json::to_vec(&control_config()).unwrap()).unwrap();
        let options = ServeOptions {
            db: wasp_control::database::DatabaseAddress::Sqlite(dir.join("keys.db")),
            configs: vec![config_path],
            redis: redis.map(|url| wasp_control::redis_windows::RedisOptions {
                urls: vec![url.to_string()],
                ..Default::default()
            }),
            admin_token: Some(ADMIN_TOKEN.into()),
            control_token: None,
            reload_interval_secs: 0,
            report_retention_days: 30,
            key_cache_seconds: 0,
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let state = build_state(&options).await.expect("control service state");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, state, 0, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("control service started");
        ControlService {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a key through the admin API; returns (key, id).
    pub fn create_key(&self, project: &str, number: i64) -> (String, String) {
        let body = serde_json::json!({"project_id": project, "project_number": number}).to_string();
        let (status, text) = admin(&self.url("/admin/keys"), "POST", Some(&body));
        assert_eq!(status, 201, "{text}");
        let created: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            created["key"].as_str().unwrap().to_string(),
            created["id"].as_str().unwrap().to_string(),
        )
    }

    pub fn revoke_key(&self, id: &str) {
        let (status, text) = admin(&self.url(&format!("/admin/keys/{id}")), "DELETE", None);
        assert!((200..300).contains(&status), "{status} {text}");
    }

    /// `GET /admin/reports` as JSON.
    pub fn reports(&self) -> serde_json::Value {
        let (status, text) = admin(&self.url("/admin/reports"), "GET", None);
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Stops the service (its port then refuses connections).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ControlService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn admin(url: &str, method: &str, body: Option<&str>) -> (u16, String) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json");
    let mut response = agent(Duration::from_secs(10))
        .run(
            request
                .body(body.unwrap_or("").as_bytes().to_vec())
                .unwrap(),
        )
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The proxy-wasm host stand-in: Envoy clusters are base URLs; calls are real HTTP POSTs
/// with the callout's headers, body and timeout.
pub struct Host {
    clusters: HashMap<String, String>,
    /// Every call made, in order.
    pub calls: Vec<(CallKind, u32)>,
    ids: OperationIds,
}

impl Host {
    pub fn new(control_addr: SocketAddr) -> Host {
        Host {
            clusters: [(CLUSTER.to_string(), format!("http://{control_addr}"))].into(),
            calls: Vec::new(),
            // Each gateway VM seeds its ids at random (the filter uses WASI's random
            // source); Service Control treats a repeated id as a retry of one operation.
            ids: OperationIds::new(rand_seed()),
        }
    }

    pub fn perform(&mut self, callout: &Callout) -> CalloutResult {
        self.calls.push((callout.kind, callout.attempt));
        let Some(base) = self.clusters.get(&callout.cluster) else {
            return CalloutResult::Failed(format!("unknown cluster {}", callout.cluster));
        };
        let mut request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{base}{}", callout.path()));
        for (name, value) in &callout.headers {
            if !name.starts_with(':') {
                request = request.header(name, value);
            }
        }
        let request = request.body(callout.body.clone()).unwrap();
        match agent(Duration::from_millis(callout.timeout_ms)).run(request) {
            Ok(mut response) => CalloutResult::Response {
                status: Some(response.status().as_u16()),
                body: response.body_mut().read_to_vec().unwrap_or_default(),
            },
            Err(e) => CalloutResult::Failed(e.to_string()),
        }
    }

    /// Drives one request to its final step.
    pub fn run(
        &mut self,
        config: &ControlClientConfig,
        state: &mut ControlState,
        operation: &str,
        path: &str,
        headers: &[(&str, &str)],
        now_ms: u64,
    ) -> (Flow, Step) {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let input = RequestInput {
            operation,
            operation_id: self.ids.next_id(),
            headers: &headers,
            path,
            caller_ip: "127.0.0.1",
            key_required: false,
        };
        let (mut flow, mut step) = Flow::start(config, state, input, now_ms);
        while let Step::Callout(callout) = &step {
            let result = self.perform(callout);
            step = flow
                .resume(config, state, result, now_ms)
                .expect("the flow waits for its callout");
        }
        (flow, step)
    }

    /// Sends one report batch with its retries; true when delivered.
    pub fn deliver(&mut self, config: &ControlClientConfig, batcher: &mut ReportBatcher) -> bool {
        let Some(request) = batcher.take() else {
            return true;
        };
        let mut delivery = Delivery::new(config, &request);
        let mut callout = delivery.callout().clone();
        loop {
            let result = self.perform(&callout);
            match delivery.on_result(config, result) {
                DeliveryStep::Delivered => return true,
                DeliveryStep::Dropped(_) => return false,
                DeliveryStep::Retry(next) => callout = next,
            }
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Quota windows are wall-clock minutes: a sequence that must stay in one window waits out
/// the last 15 seconds of a minute first.
pub fn wait_for_fresh_window() {
    let into_minute = (now_ms() / 1000) % 60;
    if into_minute >= 45 {
        std::thread::sleep(Duration::from_secs(60 - into_minute + 1));
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real redis-server on a free loopback port, killed on drop.
pub struct Redis {
    pub url: String,
    child: Child,
}

impl Redis {
    pub fn start() -> Redis {
        let port = closed_port();
        let child = Command::new("redis-server")
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
            .expect("redis-server is not installed; run scripts/ensure-redis.sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            url: format!("redis://127.0.0.1:{port}/0"),
            child,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
