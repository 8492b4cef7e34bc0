//! Starts a real Envoy on a bootstrap, waits until it serves, and kills it when
//! dropped (printing its log tail when the test failed).
//!
//! Ports are chosen by the kernel (the bootstrap says `:0`); the admin address
//! comes from `--admin-address-path` and the listener port from the admin
//! `/listeners` endpoint, so parallel tests never collide.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http::Client;

/// V8 compiles the module at start; on a busy 2-core box that can take seconds.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Envoy. Dropping it kills the process.
pub struct Envoy {
    child: Child,
    pub admin: SocketAddr,
    pub listener: SocketAddr,
    logs: Logs,
}

/// Why Envoy did not come up, with everything it logged.
#[derive(Debug)]
pub struct StartFailure {
    pub reason: String,
    pub exit: Option<ExitStatus>,
    pub log: String,
}

/// Envoy's stdout (where the generated access log writes) and stderr (its own log).
#[derive(Debug, Clone)]
struct Logs {
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Logs {
    fn in_dir(dir: &Path) -> Logs {
        Logs {
            stdout: dir.join("envoy.stdout.log"),
            stderr: dir.join("envoy.stderr.log"),
        }
    }

    fn read(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("--- envoy stderr ---\n{err}--- envoy stdout ---\n{out}")
    }
}

/// `envoy --mode validate -c <config>`: returns (passed, combined output).
pub fn validate(envoy_bin: &Path, config: &Path) -> (bool, String) {
    let output = Command::new(envoy_bin)
        .args(["--mode", "validate", "-c"])
        .arg(config)
        .output()
        .expect("run envoy --mode validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

impl Envoy {
    /// Starts Envoy on `config`, writing its logs and admin address into `workdir`,
    /// and waits until the admin says it is ready and a listener is bound.
    pub fn start(envoy_bin: &Path, config: &Path, workdir: &Path) -> Result<Envoy, StartFailure> {
        Envoy::start_within(envoy_bin, config, workdir, START_TIMEOUT)
    }

    /// [`Envoy::start`] with `workers` worker threads (each with its own wasm
    /// VM), for behaviour that must hold across workers (shared caches).
    pub fn start_workers(
        envoy_bin: &Path,
        config: &Path,
        workdir: &Path,
        workers: u32,
    ) -> Result<Envoy, StartFailure> {
        Envoy::spawn(envoy_bin, config, workdir, START_TIMEOUT, workers)
    }

    /// [`Envoy::start`] with a custom time limit for becoming ready.
    pub fn start_within(
        envoy_bin: &Path,
        config: &Path,
        workdir: &Path,
        timeout: Duration,
    ) -> Result<Envoy, StartFailure> {
        Envoy::spawn(envoy_bin, config, workdir, timeout, 1)
    }

    fn spawn(
        envoy_bin: &Path,
        config: &Path,
        workdir: &Path,
        timeout: Duration,
        workers: u32,
    ) -> Result<Envoy, StartFailure> {
        let logs = Logs::in_dir(workdir);
        let admin_path = workdir.join("admin.address");
        let create =
            |p: &Path| File::create(p).expect("create an Envoy log file in the test directory");
        let child = Command::new(envoy_bin)
            .arg("-c")
            .arg(config)
            .args(["--concurrency", &workers.to_string()])
            .args(["--disable-hot-restart", "--log-level", "info"])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .stdin(Stdio::null())
            .stdout(create(&logs.stdout))
            .stderr(create(&logs.stderr))
            .spawn()
            .expect("spawn envoy");
        // From here on the guard owns the process, so an early return still kills it.
        let mut envoy = Envoy {
            child,
            admin: unspecified(),
            listener: unspecified(),
            logs,
        };
        envoy.wait_until_serving(&admin_path, timeout)?;
        Ok(envoy)
    }

    fn wait_until_serving(
        &mut self,
        admin_path: &Path,
        timeout: Duration,
    ) -> Result<(), StartFailure> {
        let client = Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(
                    format!("envoy exited during start-up with {status}"),
                    Some(status),
                ));
            }
            if Instant::now() > deadline {
                return Err(self.failure(
                    format!("envoy did not become ready within {timeout:?}"),
                    None,
                ));
            }
            if let Some(admin) = read_admin_address(admin_path) {
                self.admin = admin;
                if let Some(listener) = ready_listener(&client, admin) {
                    self.listener = listener;
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn failure(&self, reason: String, exit: Option<ExitStatus>) -> StartFailure {
        StartFailure {
            reason,
            exit,
            log: self.logs.read(),
        }
    }

    /// Everything Envoy has logged so far (its own log and the access log).
    pub fn log(&self) -> String {
        self.logs.read()
    }

    /// Asks Envoy to flush its access logs (the admin `/reopen_logs` endpoint),
    /// then returns its stdout, where the generated access log writes.
    pub fn access_log(&self) -> String {
        let _ = Client::new().send("POST", &format!("http://{}/reopen_logs", self.admin), &[]);
        std::fs::read_to_string(&self.logs.stdout).unwrap_or_default()
    }

    /// Waits (up to `timeout`) for an access-log line containing `needle`
    /// (Envoy's stdout) and returns it.
    pub fn access_log_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.access_log();
            if let Some(line) = log.lines().find(|line| line.contains(needle)) {
                return Some(line.to_string());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Base URL of the (first) listener, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.listener)
    }
}

impl Envoy {
    /// How often Envoy reloaded the wasp filter's VM (a panic or trap), if it loads the
    /// filter and still answers.
    pub fn vm_reloads(&self) -> Option<u64> {
        let url = format!("http://{}/stats?filter=wasm.wasp.vm_reload", self.admin);
        let stats = Client::new().send("GET", &url, &[]).ok()?.body;
        stats
            .lines()
            .find_map(|line| line.strip_prefix("wasm.wasp.vm_reload: "))
            .and_then(|value| value.trim().parse().ok())
    }
}

impl Drop for Envoy {
    /// Every Envoy the suite starts ends with its filter VM never reloaded: a test that
    /// made the filter crash fails here even if its own assertions passed.
    fn drop(&mut self) {
        let reloads = if std::thread::panicking() {
            None
        } else {
            self.vm_reloads()
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", tail(&self.logs.read(), 60));
        } else if let Some(count @ 1..) = reloads {
            panic!(
                "the filter's VM was reloaded {count} time(s) during this test:\n{}",
                tail(&self.logs.read(), 60)
            );
        }
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

fn read_admin_address(path: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The first listener's address once the admin reports the server ready.
fn ready_listener(client: &Client, admin: SocketAddr) -> Option<SocketAddr> {
    let ready = client
        .send("GET", &format!("http://{admin}/ready"), &[])
        .ok()?;
    if ready.status != 200 {
        return None;
    }
    let listeners = client
        .send("GET", &format!("http://{admin}/listeners?format=json"), &[])
        .ok()?;
    listener_address(&listeners.body)
}

/// Parses `{"listener_statuses":[{"local_address":{"socket_address":{...}}}]}`.
pub fn listener_address(admin_json: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(admin_json).ok()?;
    let socket = value
        .get("listener_statuses")?
        .get(0)?
        .get("local_address")?
        .get("socket_address")?;
    let ip = socket.get("address")?.as_str()?;
    let port = socket.get("port_value")?.as_u64()?;
    let port = u16::try_from(port).ok().filter(|p| *p != 0)?;
    format!("{ip}:{port}").parse().ok()
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_admin_listener_json() {
        let json = r#"{"listener_statuses":[{"name":"wasp","local_address":{"socket_address":{"address":"127.0.0.1","port_value":41234}}}]}"#;
        assert_eq!(
            listener_address(json),
            Some("127.0.0.1:41234".parse().unwrap())
        );
        assert_eq!(listener_address(r#"{"listener_statuses":[]}"#), None);
        let unbound = r#"{"listener_statuses":[{"local_address":{"socket_address":{"address":"127.0.0.1","port_value":0}}}]}"#;
        assert_eq!(listener_address(unbound), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
