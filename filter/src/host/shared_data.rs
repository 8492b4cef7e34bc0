//! Compare-and-swap writes to Envoy's shared data, for the leases one worker takes for all.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// The version a write names for a key that was read as absent. Envoy creates a missing key
/// whatever version a write names (and a version of 0 overwrites any key), so two workers
/// that both read "absent" would both win. Versions count up from 1 across all keys, so an
/// existing key has this one only after four billion writes: the write succeeds only while
/// the key is still absent.
const ABSENT: u32 = u32::MAX;

/// Writes `value` under `key` only if the key still has the version `cas` it was read with
/// (`None`: it was absent). `Err(Status::CasMismatch)`: another worker wrote first.
pub(super) fn swap(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), Status> {
    hostcalls::set_shared_data(key, Some(value), Some(cas.unwrap_or(ABSENT)))
}
