//! The proxy-wasm adapter: the only code that talks to Envoy.
//!
//! Every host call goes through `proxy_wasm::hostcalls::*`, which return
//! `Result`s; the SDK's trait helpers unwrap host errors and would panic.
//! (SDK 0.2.5 caveat: most `hostcalls` still panic on a host status they do not
//! expect, e.g. `get_map` on anything but `Ok`; we only call them in phases where
//! Envoy answers `Ok`, and `failure_policy: FAIL_RELOAD` covers the rest.
//! `get_map` also panics on a header value that is not UTF-8, so headers are
//! read with `get_map_bytes`; see `state::header_map`.)

mod apply;
mod callout;
mod control;
mod control_runtime;
mod executor;
mod http;
mod jwks;
mod metrics;
mod reads;
mod root;
mod shared_data;
mod state;
mod tokens;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    // Routes the `log` macros to Envoy's log; the level filter is Envoy's own.
    proxy_wasm::set_log_level(LogLevel::Trace);
    // Replaces the SDK's hook, which logs the panic message: that may quote
    // request data. The location is enough to find the bug.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let _ = hostcalls::log(LogLevel::Critical, &format!("wasp filter panicked{at}; Envoy applies the failure policy"));
    }));
    proxy_wasm::set_root_context(|context_id| Box::new(root::WaspRoot::new(context_id)));
}}
