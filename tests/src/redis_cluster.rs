//! A real Redis Cluster: N `redis-server` masters (no replicas) on loopback ports, joined
//! with `redis-cli --cluster create`. Each node keeps an append-only file synced on every
//! write, so a node killed with SIGKILL and restarted comes back with its keys (and
//! rejoins from its `nodes-<port>.conf`). Every node is killed on drop.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::KillOnDrop;
use crate::tools::redis_server;

/// Added to a node's port for its cluster bus port (Redis' fixed offset).
const BUS_OFFSET: u16 = 10000;

/// `--cluster-node-timeout` in milliseconds: a killed node is marked failed about this soon.
pub const NODE_TIMEOUT_MS: u64 = 1000;

struct Node {
    port: u16,
    process: Option<KillOnDrop>,
}

/// A running Redis Cluster of masters.
pub struct RedisCluster {
    nodes: Vec<Node>,
    /// One directory per node (`<port>/`: nodes.conf and the append-only files) and its log.
    dir: TempDir,
}

impl RedisCluster {
    /// Starts `nodes` masters (at least 3, as `redis-cli --cluster create` demands), creates
    /// the cluster (slots spread evenly) and waits until every node says `cluster_state:ok`.
    pub fn start(nodes: usize) -> RedisCluster {
        assert!(nodes >= 3, "a Redis Cluster needs at least 3 masters");
        let dir = tempfile::Builder::new()
            .prefix("wasp-redis-cluster-")
            .tempdir()
            .expect("create a temporary directory for the Redis Cluster");
        let mut cluster = RedisCluster {
            nodes: cluster_ports(nodes)
                .into_iter()
                .map(|port| Node {
                    port,
                    process: None,
                })
                .collect(),
            dir,
        };
        for node in 0..nodes {
            cluster.spawn(node);
        }
        for node in 0..nodes {
            cluster.wait_for_port(node);
        }
        let mut create = Command::new(redis_cli());
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run redis-cli --cluster create: {e}"));
        let text = output_text(&output);
        assert!(
            output.status.success() && text.contains("[OK] All 16384 slots covered"),
            "redis-cli --cluster create failed ({}):\n{text}\n{}",
            output.status,
            cluster.logs()
        );
        cluster.wait_for_state("ok", Duration::from_secs(30));
        cluster
    }

    /// `redis://127.0.0.1:<port>` for each node, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// Kills node `node` (SIGKILL) and reaps it; its data stays on disk.
    pub fn kill(&mut self, node: usize) {
        let process = self.nodes[node].process.take();
        assert!(process.is_some(), "node {node} is not running");
        // KillOnDrop kills and reaps.
        drop(process);
    }

    /// Starts node `node` again with the same arguments and directory (it rejoins from its
    /// nodes.conf with the keys of its append-only file) and waits until every running node
    /// says `cluster_state:ok`.
    pub fn restart(&mut self, node: usize) {
        assert!(self.nodes[node].process.is_none(), "node {node} is running");
        self.spawn(node);
        self.wait_for_port(node);
        self.wait_for_state("ok", Duration::from_secs(30));
    }

    /// Waits until every running node's `CLUSTER INFO` shows `cluster_state:<state>` (`ok`,
    /// or `fail` once a killed master is marked failed, about [`NODE_TIMEOUT_MS`] after the
    /// kill). Panics after `timeout` with what each node said.
    pub fn wait_for_state(&self, state: &str, timeout: Duration) {
        let wanted = format!("cluster_state:{state}");
        let deadline = Instant::now() + timeout;
        loop {
            let infos: Vec<(u16, String)> = self
                .running()
                .map(|port| (port, self.cli_on(port, &["CLUSTER", "INFO"])))
                .collect();
            if infos
                .iter()
                .all(|(_, info)| info.lines().any(|line| line.trim() == wanted))
            {
                return;
            }
            if Instant::now() >= deadline {
                let states: Vec<String> = infos
                    .iter()
                    .map(|(port, info)| {
                        let state = info
                            .lines()
                            .find(|line| line.starts_with("cluster_state:"))
                            .unwrap_or(info.trim());
                        format!("127.0.0.1:{port}: {state}")
                    })
                    .collect();
                panic!(
                    "the Redis Cluster did not reach {wanted} within {} ms:\n{}\n{}",
                    timeout.as_millis(),
                    states.join("\n"),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis-cli -c` (following MOVED redirections) on the first running node with these
    /// arguments; what it printed, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self
            .running()
            .next()
            .expect("no Redis Cluster node is running");
        let output = Command::new(redis_cli())
            .args(["-c", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run redis-cli: {e}"));
        assert!(
            output.status.success(),
            "redis-cli -c {args:?} failed ({}):\n{}",
            output.status,
            output_text(&output)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The integer at `key` (`GET`, wherever its slot lives); `None` when it is missing.
    /// Panics when the node answers something else (an error, a non-integer).
    pub fn get(&self, key: &str) -> Option<i64> {
        let value = self.cli(&["GET", key]);
        if value.is_empty() {
            return None;
        }
        Some(
            value
                .parse()
                .unwrap_or_else(|_| panic!("GET {key} answered {value:?}, not an integer")),
        )
    }

    /// The keys matching `pattern` on every running node (`redis-cli --scan`), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys = BTreeSet::new();
        for port in self.running() {
            let output = Command::new(redis_cli())
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(["--scan", "--pattern", pattern])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run redis-cli --scan: {e}"));
            assert!(
                output.status.success(),
                "redis-cli -p {port} --scan failed ({}):\n{}",
                output.status,
                output_text(&output)
            );
            keys.extend(
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .filter(|line| !line.is_empty())
                    .map(str::to_string),
            );
        }
        keys.into_iter().collect()
    }

    /// Every node's log (for failure messages).
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            let log = std::fs::read_to_string(self.log_path(node.port)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            text.push_str(&format!(
                "--- redis-server 127.0.0.1:{} (tail) ---\n{}\n",
                node.port,
                tail.join("\n")
            ));
        }
        text
    }

    /// Moves the hash slot of `key` to the next node as `redis-cli --cluster reshard` does:
    /// IMPORTING on the target, MIGRATING on the source, its keys MIGRATEd in batches, then
    /// SETSLOT NODE everywhere. While it runs, clients get ASK (and TRYAGAIN for a command
    /// whose keys are split); once it is done, MOVED. Returns (from, to) node indexes.
    pub fn move_slot_of(&self, key: &str) -> (usize, usize) {
        let any = self.running().next().expect("a running node");
        let slot: u16 = self
            .cli_on(any, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT {key}: {e}"));
        let table = self.cli_on(any, &["CLUSTER", "NODES"]);
        let owner = table
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port: u16 = fields
                    .get(1)?
                    .split('@')
                    .next()?
                    .rsplit(':')
                    .next()?
                    .parse()
                    .ok()?;
                fields
                    .iter()
                    .skip(8)
                    .any(|range| covers(range, slot))
                    .then_some(port)
            })
            .unwrap_or_else(|| panic!("no node owns slot {slot}:\n{table}"));
        let from = self
            .nodes
            .iter()
            .position(|node| node.port == owner)
            .expect("the owner is one of the nodes");
        let to = (from + 1) % self.nodes.len();
        let (source, target) = (owner, self.nodes[to].port);
        let id = |port: u16| self.cli_on(port, &["CLUSTER", "MYID"]).trim().to_string();
        let (source_id, target_id) = (id(source), id(target));
        let slot_text = slot.to_string();
        let expect_ok = |port: u16, args: &[&str]| {
            let answer = self.cli_on(port, args);
            assert_eq!(answer.trim(), "OK", "{args:?} on {port}: {answer}");
        };
        expect_ok(
            target,
            &["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &source_id],
        );
        expect_ok(
            source,
            &["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &target_id],
        );
        let target_port = target.to_string();
        loop {
            let listed = self.cli_on(source, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "50"]);
            let keys: Vec<&str> = listed
                .lines()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect();
            if keys.is_empty() {
                break;
            }
            let mut args = vec![
                "MIGRATE",
                "127.0.0.1",
                &target_port,
                "",
                "0",
                "5000",
                "KEYS",
            ];
            args.extend(keys.iter().copied());
            let answer = self.cli_on(source, &args);
            assert!(
                matches!(answer.trim(), "OK" | "NOKEY"),
                "MIGRATE of slot {slot}: {answer}"
            );
        }
        for port in self.running().collect::<Vec<_>>() {
            expect_ok(
                port,
                &["CLUSTER", "SETSLOT", &slot_text, "NODE", &target_id],
            );
        }
        (from, to)
    }

    /// The ports of the nodes that run.
    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|node| node.process.is_some())
            .map(|node| node.port)
    }

    /// `redis-cli` (no redirections) on one node: stdout and stderr, errors included.
    fn cli_on(&self, port: u16, args: &[&str]) -> String {
        Command::new(redis_cli())
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map(|output| output_text(&output))
            .unwrap_or_else(|e| format!("run redis-cli: {e}"))
    }

    fn log_path(&self, port: u16) -> PathBuf {
        self.dir.path().join(format!("{port}.log"))
    }

    fn spawn(&mut self, node: usize) {
        let port = self.nodes[node].port;
        let data = self.dir.path().join(port.to_string());
        std::fs::create_dir_all(&data).expect("create a Redis Cluster node's directory");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(port))
            .expect("create a redis-server log file");
        let log_err = log.try_clone().expect("clone the log handle");
        let child = Command::new(redis_server())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .arg("--dir")
            .arg(&data)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", ""])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("start redis-server: {e}"));
        self.nodes[node].process = Some(KillOnDrop(child));
    }

    fn wait_for_port(&mut self, node: usize) {
        let port = self.nodes[node].port;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let process = self.nodes[node].process.as_mut().expect("started");
            if let Ok(Some(status)) = process.0.try_wait() {
                panic!(
                    "redis-server 127.0.0.1:{port} exited during start-up with {status}:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on 127.0.0.1:{port} within 10 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether a `CLUSTER NODES` slot field (`5461-10922`, `42`, or a `[..]` migration note)
/// holds `slot`.
fn covers(range: &str, slot: u16) -> bool {
    let bound = |text: &str| text.parse::<u16>().ok();
    match range.split_once('-') {
        Some((low, high)) => {
            matches!((bound(low), bound(high)), (Some(low), Some(high)) if (low..=high).contains(&slot))
        }
        None => bound(range) == Some(slot),
    }
}

/// `count` distinct loopback ports each free together with its cluster bus port
/// (`port + 10000`), none of them another's bus port.
fn cluster_ports(count: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    for _ in 0..1000 {
        if ports.len() == count {
            break;
        }
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|addr| addr.port()) else {
            continue;
        };
        let Some(bus) = port.checked_add(BUS_OFFSET) else {
            continue;
        };
        let taken = ports
            .iter()
            .any(|&p| [p, p + BUS_OFFSET].contains(&port) || [p, p + BUS_OFFSET].contains(&bus));
        if !taken && TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(
        ports.len(),
        count,
        "found no {count} free loopback ports with free bus ports"
    );
    ports
}

/// `redis-cli`, next to `redis-server` (Debian's redis-tools, a dependency of redis-server).
pub fn redis_cli() -> PathBuf {
    let server = redis_server();
    let cli = server.with_file_name("redis-cli");
    if cli.is_file() {
        return cli;
    }
    let usr_bin = PathBuf::from("/usr/bin/redis-cli");
    if usr_bin.is_file() {
        return usr_bin;
    }
    panic!(
        "redis-cli is not next to {}; run scripts/ensure-redis.sh (make test does)",
        server.display()
    )
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
