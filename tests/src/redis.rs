//! A real `redis-server` on a free loopback port (no persistence), killed on drop.
//! `wasp-control --redis` keeps its quota windows there, so control services that
//! share one `Redis` share one limit. It can be stopped and started again on its port
//! (an outage and a recovery). [`Redis::start_tls`] serves TLS only, with one ACL user.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::KillOnDrop;
use crate::tools::redis_server;

pub struct Redis {
    /// `redis://127.0.0.1:<port>/0`, for `wasp-control serve --redis`
    /// (`rediss://<user>:<password>@localhost:<port>/0` from [`Redis::start_tls`]).
    pub url: String,
    port: u16,
    /// What follows `redis-server` (the same at every start).
    args: Vec<String>,
    process: Option<KillOnDrop>,
}

impl Redis {
    pub fn start() -> Redis {
        let port = crate::control::free_port();
        let args = vec!["--port".to_string(), port.to_string()];
        Redis::start_with(format!("redis://127.0.0.1:{port}/0"), port, args)
    }

    /// A server that speaks TLS only (`--port 0 --tls-port <port>`, no client certificates
    /// asked) and knows one user: the `default` user is off, `user` (with `password`) may run
    /// every command on every key and channel. `ca_dir` must hold what
    /// [`crate::tls::TestCa`] writes there: `ca.pem` (`write_ca`), `server.crt` and
    /// `server.key` (`write_server_files`); the certificate is for `localhost`, so the URL is
    /// `rediss://<user>:<password>@localhost:<port>/0` (user and password percent-encoded).
    pub fn start_tls(ca_dir: &Path, user: &str, password: &str) -> Redis {
        let file = |name: &str| {
            let path = ca_dir.join(name);
            assert!(
                path.is_file(),
                "{} is missing: Redis::start_tls needs ca.pem (TestCa::write_ca), server.crt \
                 and server.key (TestCa::write_server_files) in {}",
                path.display(),
                ca_dir.display()
            );
            path.display().to_string()
        };
        let port = crate::control::free_port();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &file("server.crt"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            "no",
            "--user",
            "default",
            "off",
            "--user",
            user,
            "on",
            &format!(">{password}"),
            "~*",
            "&*",
            "+@all",
        ]
        .map(str::to_string)
        .to_vec();
        let url = format!(
            "rediss://{}:{}@localhost:{port}/0",
            percent_encode(user),
            percent_encode(password)
        );
        Redis::start_with(url, port, args)
    }

    fn start_with(url: String, port: u16, args: Vec<String>) -> Redis {
        let mut redis = Redis {
            url,
            port,
            args,
            process: None,
        };
        redis.start_again();
        redis
    }

    /// The port it listens on (TLS only for [`Redis::start_tls`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its windows are lost: it keeps nothing on disk).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts an empty server on the same port (with the same TLS files and user).
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "redis-server is running");
        let child = Command::new(redis_server())
            .args(&self.args)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start redis-server: {e}"));
        self.process = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(process) = self.process.as_mut() {
                if let Ok(Some(status)) = process.0.try_wait() {
                    panic!("redis-server {:?} exited with {status}", self.args);
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on 127.0.0.1:{} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `text` for a URL's user-info part: unreserved characters as they are, the rest as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
