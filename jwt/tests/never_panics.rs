//! Property tests: hostile tokens, key documents and requests never panic, and the verifier
//! never accepts a token it was not given a valid signature for.

mod support;

use proptest::prelude::*;
use serde_json::json;
use support::*;
use wasp_jwt::{
    locations, parse_discovery_document, parse_key_document, token, Keys, Rules, Verdict, Verifier,
};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9_=+/.-]{0,40}".prop_map(|s| json!(s)),
        prop_oneof![
            Just("RSA"),
            Just("EC"),
            Just("OKP"),
            Just("oct"),
            Just("P-256"),
            Just("sig"),
            Just("RS256")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("kty".to_string()),
                        Just("keys".to_string()),
                        Just("n".to_string()),
                        Just("e".to_string()),
                        Just("x".to_string()),
                        Just("y".to_string()),
                        Just("crv".to_string()),
                        Just("alg".to_string()),
                        Just("kid".to_string()),
                        "[a-z]{1,5}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn token_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = token::parse(&text);
    }

    #[test]
    fn dotted_base64_tokens_never_panic(parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,80}", 0..6)) {
        let _ = token::parse(&parts.join("."));
    }

    #[test]
    fn structured_headers_and_payloads_never_panic(header in json_value(), payload in json_value(), sig in prop::collection::vec(any::<u8>(), 0..80)) {
        let t = format!("{}.{}.{}", b64(header.to_string()), b64(payload.to_string()), b64(sig));
        let _ = token::parse(&t);
    }

    #[test]
    fn key_document_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_key_document(&bytes);
        let _ = parse_discovery_document(&bytes);
    }

    #[test]
    fn structured_key_documents_never_panic(doc in json_value(), keys in prop::collection::vec(json_value(), 0..5)) {
        let _ = parse_key_document(doc.to_string().as_bytes());
        let _ = parse_key_document(json!({ "keys": keys }).to_string().as_bytes());
    }

    #[test]
    fn token_extraction_never_panics(
        headers in prop::collection::vec(("[a-zA-Z-]{0,12}", "\\PC{0,40}"), 0..5),
        query in "\\PC{0,80}",
        prefix in proptest::option::of("\\PC{0,8}"),
    ) {
        let mut locs = wasp_jwt::TokenLocation::defaults();
        locs.push(wasp_jwt::TokenLocation::Header { name: "x-tok".into(), value_prefix: prefix });
        let _ = locations::extract(&locs, &headers, &query);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Flipping any byte of a valid token never yields an accepted token other than the original.
    #[test]
    fn mutated_tokens_are_never_accepted(position in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let signer = Signer::es256();
        let keys = keyset(&jwks(&[signer.jwk("k")]));
        let token = mint(&signer, Some("k"), &good_claims());
        let mut bytes = token.clone().into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let audiences = vec![format!("https://{SERVICE}")];
        let verdict = Verifier::default().check(
            &provider(),
            Rules { audiences: &audiences, scopes: &[] },
            &mutated,
            Keys::Ready { keys: &keys, generation: 1, may_refresh: false },
            NOW,
        );
        // A base64url tail character can carry unused bits only in non-canonical forms, which
        // the strict decoder refuses, so every mutation must be rejected.
        prop_assert!(matches!(verdict, Verdict::Rejected(_)), "accepted mutated token at {i}: {mutated}");
    }
}
