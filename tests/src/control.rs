//! The real control service: the `wasp-control` binary serving the `control.json` the
//! compiler wrote, with a temporary SQLite key database (or a real PostgreSQL), quota
//! windows in memory, a real `redis-server` or a real Redis Cluster, on a loopback port,
//! over plain HTTP or over TLS requiring client certificates from a test CA. Keys are
//! created and revoked through its admin API or its CLI, reports read from
//! `GET /admin/reports`; it can be stopped and started again on the same port (the
//! gateway's cluster points there). Killed on drop.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http::Client;
use crate::process::KillOnDrop;
use crate::tls::TestCa;
use crate::tools::control_binary;

/// `--admin-token` of every control service the tests start.
pub const ADMIN_TOKEN: &str = "wasp-test-admin";

/// A loopback port nothing listens on right now (the kernel picked it for a moment).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// How a control service is started besides its config.
#[derive(Debug, Clone, Default)]
pub struct ControlOptions {
    /// `--redis <url>`: quota windows in Redis (shared by every service on it).
    pub redis: Option<String>,
    /// `--control-token`: the bearer token gateways must send.
    pub control_token: Option<String>,
    /// Another service's key database (replicas share keys); a fresh one when `None`.
    pub db: Option<PathBuf>,
    /// `--db <postgres://...>`: keys and reports in PostgreSQL (instead of `db`).
    pub db_url: Option<String>,
    /// `--redis <urls> --redis-cluster`: quota windows in a Redis Cluster (instead of `redis`).
    pub redis_cluster: Vec<String>,
    /// `--redis-ca`: the CA of a `rediss://` server.
    pub redis_ca: Option<PathBuf>,
    /// `--key-cache-seconds`.
    pub key_cache_seconds: Option<u64>,
    /// Serve TLS with this CA's server certificate (`localhost`, 127.0.0.1) and require
    /// client certificates it signed (`--tls-client-ca`); the harness presents one.
    pub tls: Option<Arc<TestCa>>,
}

/// An API key as created: the secret, its id (for revocation) and its project number.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub key: String,
    pub id: String,
    pub project_number: i64,
}

/// Requests reported per (operation, consumer, response code), as `/admin/reports` counts them.
pub type ReportCounts = BTreeMap<(String, String, String), u64>;

/// A running (or stopped) `wasp-control serve`.
pub struct ControlService {
    process: Option<KillOnDrop>,
    pub addr: SocketAddr,
    /// The SQLite key database (unused when the options name a Postgres URL).
    pub db: PathBuf,
    config: PathBuf,
    options: ControlOptions,
    dir: TempDir,
    client: Client,
}

impl ControlService {
    /// Serves `config` on `127.0.0.1:port` and waits until `/healthz` answers.
    pub fn start(config: &Path, port: u16, options: ControlOptions) -> ControlService {
        let dir = tempfile::Builder::new()
            .prefix("wasp-control-")
            .tempdir()
            .expect("create a temporary directory");
        let db = options
            .db
            .clone()
            .unwrap_or_else(|| dir.path().join("keys.db"));
        let mut service = ControlService {
            process: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            db,
            config: config.to_path_buf(),
            options,
            dir,
            client: Client::new(),
        };
        service.start_again();
        service
    }

    /// The `--config` file it serves (and reloads when it changes).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Stops the service: from now on its port refuses connections.
    pub fn stop(&mut self) {
        // KillOnDrop kills and reaps.
        self.process = None;
    }

    /// Starts the service again on the same port, database and Redis (memory windows start empty).
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the control service is running");
        let log = |name: &str| {
            File::create(self.dir.path().join(name)).expect("create a control-service log file")
        };
        let mut command = Command::new(control_binary());
        command
            .arg("serve")
            .arg("--db")
            .arg(self.database())
            .arg("--config")
            .arg(&self.config)
            .args(["--listen", &self.addr.to_string()])
            .args(["--admin-token", ADMIN_TOKEN]);
        if let Some(redis) = &self.options.redis {
            command.args(["--redis", redis]);
        }
        if let Some(token) = &self.options.control_token {
            command.args(["--control-token", token]);
        }
        if !self.options.redis_cluster.is_empty() {
            command
                .args(["--redis", &self.options.redis_cluster.join(",")])
                .arg("--redis-cluster");
        }
        if let Some(ca) = &self.options.redis_ca {
            command.arg("--redis-ca").arg(ca);
        }
        if let Some(seconds) = self.options.key_cache_seconds {
            command.args(["--key-cache-seconds", &seconds.to_string()]);
        }
        if let Some(ca) = &self.options.tls {
            let (cert, key) = ca.write_server_files(self.dir.path());
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key)
                .arg("--tls-client-ca")
                .arg(ca.write_ca(self.dir.path()));
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", control_binary().display()));
        self.process = Some(KillOnDrop(child));
        self.wait_until_healthy();
    }

    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = self.url("/healthz");
        loop {
            let process = self.process.as_mut().expect("started");
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!(
                    "wasp-control exited during start-up with {status}:\n{}",
                    self.log()
                );
            }
            let healthy = match &self.options.tls {
                Some(_) => self
                    .tls_request("GET", "/healthz", None)
                    .is_ok_and(|(status, _)| status == 200),
                None => matches!(self.client.send("GET", &url, &[]), Ok(r) if r.status == 200),
            };
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "wasp-control did not answer {url} within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What the service printed.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- wasp-control stdout ---\n{}--- wasp-control stderr ---\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// `http[s]://127.0.0.1:<port>`, for `wasp compile --service-control-url`.
    pub fn base_url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// What `--db` is given: the Postgres URL, or the SQLite file.
    pub fn database(&self) -> String {
        match &self.options.db_url {
            Some(url) => url.clone(),
            None => self.db.display().to_string(),
        }
    }

    /// One HTTP/1.1 request over TLS with a client certificate the CA signed: (status, body).
    fn tls_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let ca = self
            .options
            .tls
            .as_ref()
            .ok_or("the control service is not on TLS")?;
        let body = body.unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {ADMIN_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let (_, response) = ca.exchange(
            self.addr,
            &["http/1.1"],
            Some(ca.client_identity("harness")),
            request.as_bytes(),
        )?;
        let (head, text) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("not an HTTP answer: {response:?}"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        Ok((status, text.to_string()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// An admin API call with the admin token: (status, body).
    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        if self.options.tls.is_some() {
            return self
                .tls_request(method, path, body)
                .unwrap_or_else(|e| panic!("admin {method} {path} over TLS: {e}"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(body.unwrap_or_default().as_bytes().to_vec())
            .expect("build an admin request");
        let mut response = agent
            .run(request)
            .unwrap_or_else(|e| panic!("admin {method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// Creates a key for `project` (number `number`) with `POST /admin/keys`.
    pub fn create_key(&self, project: &str, number: i64) -> ApiKey {
        let body = serde_json::json!({"project_id": project, "project_number": number});
        let (status, text) = self.admin("POST", "/admin/keys", Some(&body.to_string()));
        assert_eq!(status, 201, "POST /admin/keys: {text}");
        parse_key(&text)
    }

    /// Revokes a key with `DELETE /admin/keys/{id}`.
    pub fn revoke_key(&self, id: &str) {
        let (status, text) = self.admin("DELETE", &format!("/admin/keys/{id}"), None);
        assert_eq!(status, 200, "DELETE /admin/keys/{id}: {text}");
    }

    /// Creates a key with the CLI on the database file (`keys create --json`), as an operator would.
    pub fn create_key_cli(&self, project: &str) -> ApiKey {
        let output = self.cli(&["keys", "create", "--project", project, "--json"]);
        parse_key(&output)
    }

    /// Revokes a key with the CLI (`keys revoke <id>`); the running service sees it on its next lookup.
    pub fn revoke_key_cli(&self, id: &str) {
        self.cli(&["keys", "revoke", id]);
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(control_binary())
            .args(args)
            .arg("--db")
            .arg(self.database())
            .output()
            .expect("run wasp-control");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "wasp-control {args:?} failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `GET /admin/reports` as JSON.
    pub fn reports(&self) -> serde_json::Value {
        let (status, text) = self.admin("GET", "/admin/reports", None);
        assert_eq!(status, 200, "GET /admin/reports: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("reports are not JSON ({e}): {text}"))
    }

    /// The reported request counts.
    pub fn report_counts(&self) -> ReportCounts {
        let reports = self.reports();
        let mut counts = ReportCounts::new();
        for count in reports["counts"].as_array().into_iter().flatten() {
            let text = |field: &str| count[field].as_str().unwrap_or_default().to_string();
            let key = (text("operation"), text("consumer"), text("response_code"));
            *counts.entry(key).or_insert(0) += count["requests"].as_u64().unwrap_or(0);
        }
        counts
    }

    /// Waits until the reported counts are exactly `expected` (gateways send reports in
    /// batches about every second); panics with the last counts after `timeout`.
    pub fn wait_for_report_counts(&self, expected: &ReportCounts, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let counts = self.report_counts();
            if counts == *expected {
                return;
            }
            if Instant::now() > deadline {
                panic!("reported counts after {timeout:?}:\n{counts:#?}\nexpected:\n{expected:#?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ControlService {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("{}", crate::envoy::tail(&self.log(), 40));
        }
    }
}

fn parse_key(json: &str) -> ApiKey {
    let value: serde_json::Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("a created key is not JSON ({e}): {json}"));
    let text = |field: &str| {
        value[field]
            .as_str()
            .unwrap_or_else(|| panic!("a created key has no {field}: {json}"))
            .to_string()
    };
    ApiKey {
        key: text("key"),
        id: text("id"),
        project_number: value["project_number"]
            .as_i64()
            .unwrap_or_else(|| panic!("a created key has no project_number: {json}")),
    }
}

/// Builds the expected [`ReportCounts`] from `(operation, consumer, code, requests)`.
pub fn counts(rows: &[(&str, &str, &str, u64)]) -> ReportCounts {
    rows.iter()
        .map(|(operation, consumer, code, n)| {
            (
                (
                    operation.to_string(),
                    consumer.to_string(),
                    code.to_string(),
                ),
                *n,
            )
        })
        .collect()
}

/// Quota windows are wall-clock minutes: a sequence that must stay in one window first
/// waits out the last `margin` of the current minute.
pub fn wait_for_fresh_quota_window(margin: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let into_minute = Duration::from_millis((now.as_millis() % 60_000) as u64);
    let left = Duration::from_secs(60).saturating_sub(into_minute);
    if left < margin {
        std::thread::sleep(left + Duration::from_millis(200));
    }
}
