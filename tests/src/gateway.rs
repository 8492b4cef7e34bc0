//! The whole stack one test needs: an echo backend, the spec compiled by the
//! real `wasp` against it, and a real Envoy loading the real filter module.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::echo::EchoBackend;
use crate::envoy::{Envoy, StartFailure};
use crate::http::{Client, Reply};
use crate::spec::{compile_with, CompileInput, Compiled};
use crate::tools::Tools;

/// A running gateway. Fields drop in order: Envoy first, then the files, then the backend.
pub struct Gateway {
    pub envoy: Envoy,
    pub compiled: Compiled,
    pub echo: Option<EchoBackend>,
    client: Client,
}

impl Gateway {
    /// Starts an echo backend, compiles `spec` against it and starts Envoy.
    pub fn start(spec: &str) -> Gateway {
        let echo = EchoBackend::start();
        let url = echo.url();
        Gateway::start_with_backend(spec, &url, Some(echo))
    }

    /// Compiles `spec` against `backend_url` (which may be down) and starts Envoy.
    pub fn start_with_backend(spec: &str, backend_url: &str, echo: Option<EchoBackend>) -> Gateway {
        Gateway::start_compiled(&CompileInput::new(spec), backend_url, echo)
    }

    /// Compiles `input` (several files, extra options) against `backend_url` and starts Envoy.
    pub fn start_compiled(
        input: &CompileInput,
        backend_url: &str,
        echo: Option<EchoBackend>,
    ) -> Gateway {
        Gateway::start_compiled_workers(input, backend_url, echo, 1)
    }

    /// [`Gateway::start_compiled`] with `workers` Envoy worker threads.
    pub fn start_compiled_workers(
        input: &CompileInput,
        backend_url: &str,
        echo: Option<EchoBackend>,
        workers: u32,
    ) -> Gateway {
        let tools = Tools::from_env();
        let compiled = compile_with(&tools, input, backend_url);
        let envoy = match Envoy::start_workers(
            &tools.envoy,
            &compiled.envoy_yaml,
            compiled.path(),
            workers,
        ) {
            Ok(envoy) => envoy,
            Err(StartFailure { reason, log, .. }) => {
                panic!("{reason}\n{}", crate::envoy::tail(&log, 60))
            }
        };
        Gateway {
            envoy,
            compiled,
            echo,
            client: Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.envoy.url())
    }

    /// `method path` through Envoy with extra request headers.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.client
            .send(method, &self.url(path), headers)
            .unwrap_or_else(|e| panic!("request through Envoy failed: {e}"))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[])
    }

    /// The body of an admin endpoint (`/stats?filter=...`).
    pub fn get_admin(&self, path_and_query: &str) -> String {
        let url = format!("http://{}{path_and_query}", self.envoy.admin);
        self.client
            .send("GET", &url, &[])
            .unwrap_or_else(|e| panic!("admin request failed: {e}"))
            .body
    }

    /// The filter's VM was never reloaded and Envoy logged no crash.
    pub fn assert_filter_alive(&self) {
        assert_eq!(
            self.envoy.vm_reloads(),
            Some(0),
            "the filter's VM was reloaded (or its counter is missing)"
        );
        let log = self.envoy.log();
        for sign_of_a_crash in ["panicked", "Uncaught RuntimeError", "wasm_fail_stream"] {
            assert!(
                !log.contains(sign_of_a_crash),
                "Envoy logged {sign_of_a_crash:?}"
            );
        }
    }

    /// Both of a two-worker Envoy's workers accepted connections (the requests that need
    /// it use a new connection each, so the kernel spreads them).
    pub fn assert_both_workers_served(&self) {
        let stats = self.get_admin("/stats?filter=worker_.\\.downstream_cx_total");
        let busy_workers = stats
            .lines()
            .filter(|line| line.starts_with("listener.") && !line.ends_with(": 0"))
            .count();
        assert_eq!(busy_workers, 2, "both workers served requests:\n{stats}");
    }

    /// Sends `method path` and returns the reply with the operation name the
    /// access log recorded for it (`-` when no operation matched). The request
    /// carries a unique `wasp-probe` user agent to find its log line.
    pub fn send_logged(&self, method: &str, path: &str) -> (Reply, String) {
        let (reply, line) = self.send_logged_line(method, path);
        (reply, logged_operation(&line).to_string())
    }

    /// Sends `method path` and returns the reply with its whole access-log line.
    pub fn send_logged_line(&self, method: &str, path: &str) -> (Reply, String) {
        self.send_logged_line_with(method, path, &[])
    }

    /// [`Gateway::send_logged_line`] with extra request headers.
    pub fn send_logged_line_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (Reply, String) {
        static NEXT_PROBE: AtomicU64 = AtomicU64::new(0);
        // The access log leaves the query out (it may carry keys and tokens), so the probe
        // that finds this request's line travels as its user agent.
        let marker = format!("wasp-probe={}", NEXT_PROBE.fetch_add(1, Ordering::Relaxed));
        let mut all = vec![("user-agent", marker.as_str())];
        all.extend_from_slice(headers);
        let reply = self.send(method, path, &all);
        let line = self
            .envoy
            .access_log_line(&format!("user_agent=\"{marker}\""), Duration::from_secs(5))
            .unwrap_or_else(|| {
                panic!(
                    "no access-log line for {method} {path}:\n{}",
                    self.envoy.access_log()
                )
            });
        (reply, line)
    }
}

/// The `operation=<name>` field of a generated access-log line.
pub fn logged_operation(line: &str) -> &str {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("operation="))
        .unwrap_or_else(|| panic!("access-log line has no operation= field: {line}"))
}
