//! Reading a key or discovery fetch's response: status and size first (the body is only
//! read when the announced size is under the cap), then the document.

use wasp_jwt::jwks::MAX_DOCUMENT_BYTES;
use wasp_jwt::refresh::document_hash;
use wasp_jwt::{parse_discovery_document, parse_key_document, KeySet};

/// The request headers of a fetch (Envoy needs `:method`, `:path`, `:authority`).
pub fn headers<'a>(authority: &'a str, path: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        (":method", "GET"),
        (":path", path),
        (":authority", authority),
        ("accept", "application/json"),
    ]
}

/// Whether to read the body: a 200 (a missing `:status` is a failed call) of at most the
/// document cap, as the response announced it.
pub fn check_head(status: Option<u32>, body_size: usize) -> Result<(), String> {
    match status {
        Some(200) => {}
        Some(status) => return Err(format!("status {status}")),
        None => return Err("no response (timeout, reset or unknown cluster)".into()),
    }
    if body_size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "body of {body_size} bytes is over the {MAX_DOCUMENT_BYTES}-byte cap"
        ));
    }
    Ok(())
}

/// A fetched key document: its keys and its hash (which decides the generation).
pub fn keys(body: &[u8]) -> Result<(KeySet, String), String> {
    let keys = parse_key_document(body).map_err(|e| e.to_string())?;
    Ok((keys, document_hash(body)))
}

/// A fetched OIDC discovery document: its `jwks_uri`.
pub fn discovered_jwks_uri(body: &[u8]) -> Result<String, String> {
    parse_discovery_document(body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_under_the_cap_is_read() {
        assert!(check_head(Some(200), 10).is_ok());
        assert!(check_head(Some(200), MAX_DOCUMENT_BYTES).is_ok());
        assert!(check_head(Some(200), MAX_DOCUMENT_BYTES + 1)
            .unwrap_err()
            .contains("cap"));
        assert_eq!(check_head(Some(503), 0).unwrap_err(), "status 503");
        assert!(check_head(None, 0).is_err());
    }

    #[test]
    fn documents_parse_or_say_why_not() {
        assert!(keys(b"{\"keys\":[]}").is_err(), "no usable key");
        assert!(keys(b"<html>").is_err());
        assert_eq!(
            discovered_jwks_uri(br#"{"issuer":"https://a","jwks_uri":"https://a/keys"}"#).unwrap(),
            "https://a/keys"
        );
        assert!(discovered_jwks_uri(b"{}").is_err());
    }
}
