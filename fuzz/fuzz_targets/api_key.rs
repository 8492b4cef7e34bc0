//! Credential extraction from a request head (see `wasp_fuzz::request_head`): API keys
//! (ESPv2's default locations, or the custom ones given as `@query NAME` / `@header NAME`
//! lines) and JWTs (the default locations plus `@jwt-header NAME [PREFIX]` / `@jwt-query
//! NAME` lines).
//!
//! Checks: never a panic; a found key is non-empty; once the key's removal is applied (new
//! `:path`, headers dropped by name) the request carries no key at all, so a backend never
//! sees it; found tokens are non-empty, distinct and point at a real location.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_control_client::api_key::{effective_locations, extract, KeyRemoval};
use wasp_control_client::KeyLocation;
use wasp_fuzz::request_head;
use wasp_jwt::{locations, TokenLocation};

fuzz_target!(|data: &[u8]| {
    let head = request_head(data);
    let mut custom = Vec::new();
    let mut token_locations = TokenLocation::defaults();
    for directive in &head.directives {
        let (kind, rest) = directive.split_once(' ').unwrap_or((directive, ""));
        match kind {
            "query" => custom.push(KeyLocation::Query(rest.to_string())),
            "header" => custom.push(KeyLocation::Header(rest.to_string())),
            "jwt-query" => token_locations.push(TokenLocation::Query {
                name: rest.to_string(),
            }),
            "jwt-header" => {
                let (name, prefix) = match rest.split_once(' ') {
                    Some((name, prefix)) => (name, Some(prefix.to_string())),
                    None => (rest, None),
                };
                token_locations.push(TokenLocation::Header {
                    name: name.to_string(),
                    value_prefix: prefix,
                });
            }
            _ => {}
        }
    }
    let query = head.path.split_once('?').map_or("", |(_, query)| query);

    let tokens = locations::extract(&token_locations, &head.headers, query);
    for (i, found) in tokens.iter().enumerate() {
        assert!(!found.token.is_empty());
        assert!(found.location < token_locations.len());
        assert!(!tokens[..i].iter().any(|t| t.token == found.token));
    }

    let locations = effective_locations(&custom);
    let Ok(Some(found)) = extract(&locations, &head.headers, query) else {
        return;
    };
    assert!(!found.key.is_empty());
    assert!(!found.query_names.is_empty() || !found.header_names.is_empty());
    let removal = KeyRemoval::for_key(&found, &head.path);
    let path = removal
        .new_path
        .clone()
        .unwrap_or_else(|| head.path.clone());
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .filter(|(name, _)| {
            !removal
                .remove_headers
                .iter()
                .any(|removed| removed.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    let query = path.split_once('?').map_or("", |(_, query)| query);
    assert_eq!(
        extract(&locations, &headers, query),
        Ok(None),
        "the key {:?} is still in the request after its removal: {path:?} {headers:?}",
        found.key
    );
});
