//! Native cost of a cached check against full verifications. Prints numbers, asserts only
//! correctness (timings on a shared 2-core box are not assertions). Run with:
//! `cargo test --release -p wasp-jwt --test cost -- --ignored --nocapture`

mod support;

use std::time::Instant;
use support::*;
use wasp_jwt::cache::TokenCache;
use wasp_jwt::{
    Alternative, Decision, JwtRequirement, Keys, RequestParts, Rules, SecurityRequirement, Service,
    Verdict, Verifier,
};

fn per_call_us(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 + 1 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
}

#[test]
#[ignore]
fn cached_check_vs_full_verification() {
    let audiences = vec![format!("https://{SERVICE}")];
    let rules = Rules {
        audiences: &audiences,
        scopes: &[],
    };
    println!(
        "{:<10} {:>12} {:>12} {:>8}",
        "alg", "full (us)", "cached (us)", "ratio"
    );
    for signer in [
        Signer::rsa(0),
        Signer::es256(),
        Signer::ed25519(),
        Signer::hmac(),
    ] {
        let keys = match &signer {
            Signer::Hmac(secret) => keyset(b64(secret).as_bytes()),
            _ => keyset(&jwks(&[signer.jwk("k")])),
        };
        let kid = if matches!(signer, Signer::Hmac(_)) {
            None
        } else {
            Some("k")
        };
        let token = mint(&signer, kid, &good_claims());
        let ready = Keys::Ready {
            keys: &keys,
            generation: 1,
            may_refresh: false,
        };
        let full = per_call_us(200, || {
            // A verifier without cache capacity to speak of: every call verifies.
            let mut verifier = Verifier::new(TokenCache::new(1, 0));
            assert!(matches!(
                verifier.check(&provider(), rules, &token, ready, NOW),
                Verdict::Verified(_)
            ));
        });
        let mut verifier = Verifier::default();
        let cached = per_call_us(100_000, || {
            assert!(matches!(
                verifier.check(&provider(), rules, &token, ready, NOW),
                Verdict::Verified(_)
            ));
        });
        println!(
            "{:<10} {:>12.1} {:>12.2} {:>7.0}x",
            signer.alg(),
            full,
            cached,
            full / cached
        );
    }
}

#[test]
#[ignore]
fn whole_requirement_evaluation_when_cached() {
    let signer = Signer::rsa(0);
    let keys = keyset(&jwks(&[signer.jwk("k")]));
    let token = mint(&signer, Some("k"), &good_claims());
    let headers = vec![
        ("host".to_string(), "api.example.com".to_string()),
        ("user-agent".to_string(), "curl/8".to_string()),
        ("authorization".to_string(), format!("Bearer {token}")),
    ];
    let providers = vec![provider()];
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![JwtRequirement {
                provider: "idp".into(),
                ..Default::default()
            }],
            api_keys: vec![],
        }],
    };
    let mut verifier = Verifier::default();
    let us = per_call_us(100_000, || {
        let d = wasp_jwt::evaluate(
            &requirement,
            Service {
                name: SERVICE,
                providers: &providers,
                default_audience: true,
            },
            RequestParts {
                headers: &headers,
                query: "",
            },
            &|_| Keys::Ready {
                keys: &keys,
                generation: 1,
                may_refresh: false,
            },
            &mut verifier,
            NOW,
        );
        assert!(matches!(d, Decision::Allowed { .. }));
    });
    println!(
        "evaluate() with a cached RS256 token ({} bytes): {us:.2} us",
        token.len()
    );
    let doc = jwks(&[signer.jwk("a"), signer.jwk("b")]);
    let parse = per_call_us(200, || {
        assert_eq!(keyset(&doc).len(), 12);
    });
    println!("parse a 2-key RSA JWKS: {parse:.1} us");
}
