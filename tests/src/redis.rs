//! A real `redis-server` on a free loopback port (no persistence), killed on drop.
//! `wasp-control --redis` keeps its quota windows there, so control services that
//! share one `Redis` share one limit. It can be stopped and started again on its port
//! (an outage and a recovery).

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::KillOnDrop;
use crate::tools::redis_server;

pub struct Redis {
    /// `redis://127.0.0.1:<port>/0`, for `wasp-control serve --redis`.
    pub url: String,
    port: u16,
    process: Option<KillOnDrop>,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis {
            port: crate::control::free_port(),
            url: String::new(),
            process: None,
        };
        redis.url = format!("redis://127.0.0.1:{}/0", redis.port);
        redis.start_again();
        redis
    }

    /// Kills the server (its windows are lost: it keeps nothing on disk).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts an empty server on the same port.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "redis-server is running");
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start redis-server: {e}"));
        self.process = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on 127.0.0.1:{} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
