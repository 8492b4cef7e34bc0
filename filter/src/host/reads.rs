//! What the host layer reads from Envoy the same way everywhere: a header map as text, a
//! property as text, the wall clock. No wasp state, so every host module can use it.

use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};

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

/// An Envoy property as text (`["source", "address"]`); empty when Envoy has none.
pub(super) fn string_property(path: &[&str]) -> String {
    hostcalls::get_property(path.to_vec())
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Envoy's wall clock in ms since the Unix epoch (token `exp` is wall time).
pub(super) fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
