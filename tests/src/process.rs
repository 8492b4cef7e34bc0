//! A child process that is killed when its guard is dropped (so a failing test
//! never leaves it running).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the `hello_backend` binary on a free loopback port and returns it
/// with the address it bound (read from its first stderr line).
pub fn start_hello_backend(binary: &str) -> (KillOnDrop, SocketAddr) {
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"));
    let stderr = child.stderr.take().expect("stderr is piped");
    let guard = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("read hello_backend's first line");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("hello_backend did not print its address: {line:?}"));
    (guard, addr)
}
