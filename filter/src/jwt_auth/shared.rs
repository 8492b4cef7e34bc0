//! What worker VMs share about a provider's keys through Envoy shared data. Keys carry the
//! provider's scope ([`crate::gateway::share_scope`] of its issuer and key source), not the
//! config hash: shared data outlives a config (it is per `vm_id`), so a rollout to a config
//! that keeps a provider finds its keys already fetched, while a provider whose issuer or
//! key source changed starts clean.
//!
//! - `wasp/jwks-state/<scope>`: the `wasp-jwt` fetch state as JSON. Written with
//!   compare-and-swap, it is also the fetch lease: the worker whose CAS write marks the
//!   fetch in flight does it, the others wait for the result.
//! - `wasp/jwks/<scope>`: `<generation>\n<raw key document>`, written before the
//!   state that announces the generation. Every VM parses a generation once.

use wasp_jwt::refresh::JwksState;

pub fn state_key(scope: &str) -> String {
    format!("wasp/jwks-state/{scope}")
}

pub fn document_key(scope: &str) -> String {
    format!("wasp/jwks/{scope}")
}

pub fn encode_state(state: &JwksState) -> Vec<u8> {
    // A struct of numbers and strings always serializes.
    serde_json::to_vec(state).unwrap_or_default()
}

/// `None` (read as "no state yet") for anything this filter did not write.
pub fn decode_state(bytes: &[u8]) -> Option<JwksState> {
    serde_json::from_slice(bytes).ok()
}

pub fn encode_document(generation: u64, document: &[u8]) -> Vec<u8> {
    let mut value = format!("{generation}\n").into_bytes();
    value.extend_from_slice(document);
    value
}

/// The generation and the raw document.
pub fn decode_document(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let generation = std::str::from_utf8(bytes.get(..newline)?)
        .ok()?
        .parse()
        .ok()?;
    Some((generation, bytes.get(newline + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_states_round_trip() {
        let value = encode_document(7, b"{\"keys\":[]}\n");
        assert_eq!(decode_document(&value), Some((7, &b"{\"keys\":[]}\n"[..])));
        assert_eq!(decode_document(b"x\n{}"), None);
        assert_eq!(decode_document(b"12"), None);
        let mut state = JwksState::default();
        state.on_keys_fetched(5, "abc".into());
        assert_eq!(decode_state(&encode_state(&state)), Some(state));
        assert_eq!(decode_state(b"garbage"), None);
        assert_eq!(document_key("0123abcd"), "wasp/jwks/0123abcd");
        assert_ne!(document_key("a"), state_key("a"));
    }
}
