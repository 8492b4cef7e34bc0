//! A real PostgreSQL server per test, from Debian's binaries (`initdb`, `postgres`,
//! `pg_ctl`; `scripts/ensure-postgres.sh` installs them): a fresh cluster in a temporary
//! directory whose superuser `wasp` is trusted on loopback, with a database `wasp`, on a
//! free loopback port. It can be stopped cleanly and started again on the same data and
//! port (an outage and a recovery); dropping it shuts it down at once and deletes its data.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the server and its
//! tools run as the `postgres` user (`runuser -u postgres --`, the user Debian's package
//! creates) in a directory under `/tmp` owned by that user.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::tools::postgres_bin_dir;

/// How long start-up (and a clean shutdown) may take.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped) PostgreSQL server of its own.
pub struct Postgres {
    /// `postgres://wasp@127.0.0.1:<port>/wasp` (no password: loopback is trusted).
    pub url: String,
    port: u16,
    bin: PathBuf,
    /// Runs the server and its tools as `postgres` (the tests run as root).
    as_postgres_user: bool,
    /// `postgres` itself (or the `runuser` that waits for it).
    process: Option<Child>,
    /// The cluster (`data/`), the server's Unix socket and `postgres.log`.
    dir: TempDir,
}

impl Postgres {
    /// A new cluster (`initdb`) served on a free loopback port, with the database `wasp`
    /// created; returns once it accepts connections.
    pub fn start() -> Postgres {
        let bin = postgres_bin_dir();
        let as_postgres_user = running_as_root();
        let builder = {
            let mut builder = tempfile::Builder::new();
            builder.prefix("wasp-postgres-");
            builder
        };
        // The `postgres` user must reach the directory: /tmp is open to everyone, TMPDIR may not be.
        let dir = if as_postgres_user {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("create a temporary directory for PostgreSQL");
        let port = crate::control::free_port();
        let mut postgres = Postgres {
            url: format!("postgres://wasp@127.0.0.1:{port}/wasp"),
            port,
            bin,
            as_postgres_user,
            process: None,
            dir,
        };
        if as_postgres_user {
            let output = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(postgres.dir.path())
                .output()
                .unwrap_or_else(|e| panic!("run chown: {e}"));
            assert!(
                output.status.success(),
                "chown -R postgres:postgres {} failed (does the `postgres` user exist? \
                 run scripts/ensure-postgres.sh): {}",
                postgres.dir.path().display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let output = postgres
            .server_tool("initdb")
            .arg("-D")
            .arg(postgres.data_dir())
            .args(["-U", "wasp", "--auth=trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .output()
            .unwrap_or_else(|e| panic!("run initdb: {e}"));
        assert!(
            output.status.success(),
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        postgres.start_again();
        let output = postgres
            .client_tool("createdb")
            .args(postgres.connection_args())
            .arg("wasp")
            .output()
            .unwrap_or_else(|e| panic!("run createdb: {e}"));
        postgres.assert_success("createdb wasp", &output);
        postgres
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A clean, fast shutdown (`pg_ctl -m fast -w stop`): open sessions are ended, the
    /// data is kept, and from now on the port refuses connections.
    pub fn stop(&mut self) {
        assert!(self.process.is_some(), "PostgreSQL is not running");
        let output = self
            .server_tool("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "20", "stop"])
            .output()
            .unwrap_or_else(|e| panic!("run pg_ctl stop: {e}"));
        self.assert_success("pg_ctl -m fast stop", &output);
        let mut child = self.process.take().expect("running");
        if !wait_for_exit(&mut child, READY_TIMEOUT) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "PostgreSQL's process did not exit after pg_ctl stop:\n{}",
                self.log_tail()
            );
        }
    }

    /// Starts the server again on the same data and port; returns once it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "PostgreSQL is running");
        let log = File::create(self.log_path()).expect("create postgres.log");
        let log_err = log.try_clone().expect("clone the postgres.log handle");
        let socket_dir = self.dir.path().display().to_string();
        let child = self
            .server_tool("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("unix_socket_directories={socket_dir}")])
            .args(["-c", "fsync=off", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("start postgres: {e}"));
        self.process = Some(child);
        self.wait_until_ready();
    }

    /// Runs `sql` with `psql -At` as `wasp` on the database `wasp` and returns what it
    /// printed, trimmed (rows one a line, columns separated by `|`). Panics when it fails.
    pub fn query(&self, sql: &str) -> String {
        let output = self
            .client_tool("psql")
            .args(self.connection_args())
            .args([
                "-d",
                "wasp",
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .unwrap_or_else(|e| panic!("run psql: {e}"));
        self.assert_success(&format!("psql -c {sql:?}"), &output);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The end of the server's log (`postgres.log`, rewritten at each start).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        format!("--- postgres.log (tail) ---\n{}", tail.join("\n"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn connection_args(&self) -> [String; 6] {
        [
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            "wasp".into(),
        ]
    }

    /// `initdb`, `postgres` or `pg_ctl` from the bin dir, as `postgres` when we are root.
    fn server_tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres_user {
            let mut command = Command::new(runuser());
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The `postgres` user may not be allowed into the test's working directory.
        command.current_dir(self.dir.path());
        command
    }

    /// A client (`psql`, `pg_isready`, `createdb`): it connects over TCP, as anyone.
    fn client_tool(&self, name: &str) -> Command {
        let here = self.bin.join(name);
        let program = if here.is_file() {
            here
        } else {
            Path::new("/usr/bin").join(name)
        };
        let mut command = Command::new(program);
        command.stdin(Stdio::null());
        command
    }

    fn assert_success(&self, what: &str, output: &Output) {
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let process = self.process.as_mut().expect("started");
            if let Ok(Some(status)) = process.try_wait() {
                self.process = None;
                panic!(
                    "postgres exited during start-up with {status}:\n{}",
                    self.log_tail()
                );
            }
            let ready = self
                .client_tool("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "wasp", "-t", "1", "-q"])
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not accept connections on 127.0.0.1:{} within {} s:\n{}",
                self.port,
                READY_TIMEOUT.as_secs(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The postmaster's pid, from `postmaster.pid`'s first line.
    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Postgres {
    /// An immediate shutdown (no checkpoint), then the data directory goes with `dir`.
    fn drop(&mut self) {
        let Some(mut child) = self.process.take() else {
            return;
        };
        let _ = self
            .server_tool("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "10", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !wait_for_exit(&mut child, Duration::from_secs(10)) {
            // `child` may be `runuser`, which cannot pass SIGKILL on: kill the postmaster itself.
            if let Some(pid) = self.postmaster_pid() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits up to `timeout` for `child` to exit (and reaps it); false if it is still running.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Whether this process's effective user id is 0 (`/proc/self/status`, else `id -u`).
fn running_as_root() -> bool {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            // Real, effective, saved, filesystem.
            line.split_whitespace().nth(2).map(|uid| uid == "0")
        });
    from_proc.unwrap_or_else(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
    })
}

/// `runuser` (util-linux), where Debian puts it or on PATH.
fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}
