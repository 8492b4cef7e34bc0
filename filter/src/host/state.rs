//! What the root context shares with the HTTP contexts of its worker VM.
//!
//! One VM is one thread, so `RefCell` is enough; every borrow is dropped
//! before the next host call (a host call may re-enter the SDK dispatcher).

use std::cell::RefCell;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};

use crate::gateway::Gateway;
use crate::id_tokens::IdTokens;
use crate::waiters::WaitList;

pub(super) struct State {
    pub gateway: Gateway,
    pub tokens: RefCell<IdTokens>,
    pub waiters: RefCell<WaitList>,
}

impl State {
    pub fn new(gateway: Gateway) -> State {
        let (timeout_ms, refresh_before_s) = gateway
            .id_token_source
            .as_ref()
            .map_or((0, 0), |s| (s.timeout_ms, s.refresh_before_expiry_s));
        let tokens = IdTokens::new(gateway.audiences(), timeout_ms, refresh_before_s);
        State {
            gateway,
            tokens: RefCell::new(tokens),
            waiters: RefCell::new(WaitList::default()),
        }
    }

    /// How long a request may wait for its token.
    pub fn token_wait_ms(&self) -> u64 {
        self.gateway
            .id_token_source
            .as_ref()
            .map_or(0, |s| s.timeout_ms)
    }
}

/// All headers of a map as text. Values are bytes on the wire and Envoy
/// forwards non-UTF-8 ones; the SDK's `get_map` panics on those, so the bytes
/// are read and invalid sequences become U+FFFD (names are always tokens).
pub(super) fn header_map(map: MapType) -> Result<Vec<(String, String)>, Status> {
    let headers = hostcalls::get_map_bytes(map)?;
    Ok(headers
        .into_iter()
        .map(|(name, value)| {
            let value = String::from_utf8(value)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (name, value)
        })
        .collect())
}

/// Envoy's wall clock in ms since the Unix epoch (token `exp` is wall time).
pub(super) fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
