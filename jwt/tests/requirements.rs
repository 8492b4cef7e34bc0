//! Security requirements over several providers, and the verifier's cache and key states,
//! the way the filter drives them.

mod support;

use serde_json::json;
use support::*;
use wasp_jwt::refresh::{document_hash, JwksState, RefreshPolicy, RequestPlan};
use wasp_jwt::{
    Alternative, Decision, JwksSource, JwtError, JwtRequirement, KeySet, Keys, Provider,
    RequestParts, SecurityRequirement, Service, Verifier, Wait,
};

const GOOGLE: &str = "https://accounts.google.example";

struct World {
    providers: Vec<Provider>,
    firebase_keys: KeySet,
    google_keys: KeySet,
    firebase: Signer,
    google: Signer,
}

fn world() -> World {
    let firebase = Signer::rsa(0);
    let google = Signer::es256();
    let mut google_provider =
        Provider::new("google", GOOGLE, JwksSource::Uri("https://g/keys".into()));
    google_provider.locations = vec![wasp_jwt::TokenLocation::Header {
        name: "x-google-token".into(),
        value_prefix: None,
    }];
    World {
        providers: vec![provider(), google_provider],
        firebase_keys: keyset(&jwks(&[firebase.jwk("f")])),
        google_keys: keyset(&jwks(&[google.jwk("g")])),
        firebase,
        google,
    }
}

fn jwt(provider: &str) -> JwtRequirement {
    JwtRequirement {
        provider: provider.into(),
        ..Default::default()
    }
}

fn run(
    w: &World,
    requirement: &SecurityRequirement,
    headers: &[(&str, &str)],
    query: &str,
    verifier: &mut Verifier,
) -> Decision {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    wasp_jwt::evaluate(
        requirement,
        Service {
            name: SERVICE,
            providers: &w.providers,
            default_audience: true,
        },
        RequestParts {
            headers: &headers,
            query,
        },
        &|p: &Provider| Keys::Ready {
            keys: if p.id == "google" {
                &w.google_keys
            } else {
                &w.firebase_keys
            },
            generation: 1,
            may_refresh: false,
        },
        verifier,
        NOW,
    )
}

fn google_claims() -> serde_json::Value {
    let mut c = good_claims();
    c["iss"] = json!(GOOGLE);
    c
}

#[test]
fn or_across_alternatives_picks_the_one_whose_token_verifies() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![
            Alternative {
                jwt: vec![jwt("idp")],
                api_keys: vec![],
            },
            Alternative {
                jwt: vec![jwt("google")],
                api_keys: vec![],
            },
        ],
    };
    let g = mint(&w.google, Some("g"), &google_claims());
    let d = run(
        &w,
        &requirement,
        &[("x-google-token", &g)],
        "",
        &mut Verifier::default(),
    );
    assert!(
        matches!(
            d,
            Decision::Allowed {
                alternative: 1,
                api_key_pending: false,
                ..
            }
        ),
        "{d:?}"
    );
    let f = mint(&w.firebase, Some("f"), &good_claims());
    let d = run(
        &w,
        &requirement,
        &[("authorization", &format!("Bearer {f}"))],
        "",
        &mut Verifier::default(),
    );
    assert!(
        matches!(d, Decision::Allowed { alternative: 0, .. }),
        "{d:?}"
    );
    assert_eq!(
        run(&w, &requirement, &[], "", &mut Verifier::default()),
        Decision::Denied(JwtError::Missing)
    );
}

#[test]
fn allow_missing_lets_a_request_without_a_token_in_but_checks_one_that_is_sent() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: true,
        alternatives: vec![Alternative {
            jwt: vec![jwt("idp")],
            api_keys: vec![],
        }],
    };
    assert_eq!(
        run(&w, &requirement, &[], "", &mut Verifier::default()),
        Decision::NotSecured
    );
    let good = mint(&w.firebase, Some("f"), &good_claims());
    let d = run(
        &w,
        &requirement,
        &[("authorization", &format!("Bearer {good}"))],
        "",
        &mut Verifier::default(),
    );
    assert!(matches!(d, Decision::Allowed { .. }), "{d:?}");
    let d = run(
        &w,
        &requirement,
        &[("authorization", "Bearer not-a-jwt")],
        "",
        &mut Verifier::default(),
    );
    assert!(matches!(d, Decision::Denied(JwtError::BadFormat)), "{d:?}");
}

#[test]
fn a_token_for_another_provider_reports_the_real_failure() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![
            Alternative {
                jwt: vec![jwt("idp")],
                api_keys: vec![],
            },
            Alternative {
                jwt: vec![jwt("google")],
                api_keys: vec![],
            },
        ],
    };
    // A Google token in the Authorization header: idp says "issuer not configured", google finds nothing.
    let g = mint(&w.google, Some("g"), &google_claims());
    let d = run(
        &w,
        &requirement,
        &[("authorization", &format!("Bearer {g}"))],
        "",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::UnknownIssuer));
    // An expired idp token beats "missing" from the other alternative.
    let mut old = good_claims();
    old["exp"] = json!(NOW - 1000);
    let f = mint(&w.firebase, Some("f"), &old);
    let d = run(
        &w,
        &requirement,
        &[("authorization", &format!("Bearer {f}"))],
        "",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::Expired));
}

#[test]
fn every_token_a_provider_finds_must_verify() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![jwt("idp")],
            api_keys: vec![],
        }],
    };
    let good = mint(&w.firebase, Some("f"), &good_claims());
    let bearer = format!("Bearer {good}");
    // A good header token does not carry a bad query token through (Envoy jwt_authn's rule).
    let forged = mint(&Signer::rsa(1), Some("f"), &good_claims());
    let d = run(
        &w,
        &requirement,
        &[("authorization", &bearer)],
        &format!("access_token={forged}"),
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::VerificationFailed));
    let d = run(
        &w,
        &requirement,
        &[("authorization", &bearer)],
        "access_token=junk",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::BadFormat));
    // The same good token in two places, or two good tokens, pass; the first is forwarded.
    let d = run(
        &w,
        &requirement,
        &[("authorization", &bearer)],
        &format!("access_token={good}"),
        &mut Verifier::default(),
    );
    assert!(matches!(d, Decision::Allowed { .. }), "{d:?}");
    let mut other_claims = good_claims();
    other_claims["sub"] = json!("user-2");
    let second = mint(&w.firebase, Some("f"), &other_claims);
    let d = run(
        &w,
        &requirement,
        &[
            ("authorization", &bearer),
            ("x-goog-iap-jwt-assertion", &second),
        ],
        "",
        &mut Verifier::default(),
    );
    let Decision::Allowed { tokens, .. } = d else {
        panic!("{d:?}")
    };
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].claims["sub"], "user-1");
}

#[test]
fn and_within_an_alternative_needs_every_token() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![jwt("idp"), jwt("google")],
            api_keys: vec![],
        }],
    };
    let f = mint(&w.firebase, Some("f"), &good_claims());
    let g = mint(&w.google, Some("g"), &google_claims());
    let bearer = format!("Bearer {f}");
    let d = run(
        &w,
        &requirement,
        &[("authorization", &bearer), ("x-google-token", &g)],
        "",
        &mut Verifier::default(),
    );
    let Decision::Allowed { tokens, .. } = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        tokens
            .iter()
            .map(|t| t.provider.as_str())
            .collect::<Vec<_>>(),
        ["idp", "google"]
    );
    let d = run(
        &w,
        &requirement,
        &[("authorization", &bearer)],
        "",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::Missing));
}

#[test]
fn api_key_alternatives_are_left_to_the_api_key_stage() {
    let w = world();
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![
            Alternative {
                jwt: vec![],
                api_keys: vec!["api_key".into()],
            },
            Alternative {
                jwt: vec![jwt("idp")],
                api_keys: vec![],
            },
        ],
    };
    assert_eq!(
        run(&w, &requirement, &[], "key=abc", &mut Verifier::default()),
        Decision::ApiKeyDecides {
            alternatives: vec![0]
        }
    );
    // A presented but invalid token is still a failure (ESPv2's allow_missing rule).
    let d = run(
        &w,
        &requirement,
        &[("authorization", "Bearer not-a-jwt")],
        "",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::BadFormat));
    let f = mint(&w.firebase, Some("f"), &good_claims());
    let d = run(
        &w,
        &requirement,
        &[],
        &format!("access_token={f}"),
        &mut Verifier::default(),
    );
    assert!(
        matches!(
            d,
            Decision::Allowed {
                alternative: 1,
                api_key_pending: false,
                ..
            }
        ),
        "{d:?}"
    );

    let both = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![jwt("idp")],
            api_keys: vec!["api_key".into()],
        }],
    };
    let d = run(
        &w,
        &both,
        &[],
        &format!("access_token={f}"),
        &mut Verifier::default(),
    );
    assert!(
        matches!(
            d,
            Decision::Allowed {
                api_key_pending: true,
                ..
            }
        ),
        "{d:?}"
    );
    assert_eq!(
        run(&w, &both, &[], "", &mut Verifier::default()),
        Decision::Denied(JwtError::Missing)
    );
    assert_eq!(
        run(
            &w,
            &SecurityRequirement::default(),
            &[],
            "",
            &mut Verifier::default()
        ),
        Decision::NotSecured
    );
}

#[test]
fn per_operation_audiences_and_scopes() {
    let w = world();
    let mut claims = good_claims();
    claims["aud"] = json!("bookstore-client");
    claims["scope"] = json!("email read:books");
    let f = mint(&w.firebase, Some("f"), &claims);
    let bearer = format!("Bearer {f}");
    let mut verifier = Verifier::default();
    let with = |audiences: &[&str], scopes: &[&str]| SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![JwtRequirement {
                provider: "idp".into(),
                audiences: audiences.iter().map(|s| s.to_string()).collect(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            }],
            api_keys: vec![],
        }],
    };
    let h = [("authorization", bearer.as_str())];
    assert_eq!(
        run(&w, &with(&[], &[]), &h, "", &mut verifier),
        Decision::Denied(JwtError::AudienceNotAllowed)
    );
    assert!(matches!(
        run(&w, &with(&["bookstore-client"], &[]), &h, "", &mut verifier),
        Decision::Allowed { .. }
    ));
    // Now cached: the per-operation rules still apply on every hit.
    assert_eq!(
        run(&w, &with(&["other"], &[]), &h, "", &mut verifier),
        Decision::Denied(JwtError::AudienceNotAllowed)
    );
    assert!(matches!(
        run(
            &w,
            &with(&["bookstore-client"], &["read:books"]),
            &h,
            "",
            &mut verifier
        ),
        Decision::Allowed { .. }
    ));
    assert_eq!(
        run(
            &w,
            &with(&["bookstore-client"], &["write:books", "read:books admin"]),
            &h,
            "",
            &mut verifier
        ),
        Decision::Denied(JwtError::ScopeNotAllowed)
    );
    assert_eq!(
        verifier.cache_len(),
        (1, 0),
        "one verification served every check"
    );
}

#[test]
fn allowed_client_ids_check_azp() {
    let mut w = world();
    w.providers[0].allowed_client_ids = Some(vec!["web-app".into()]);
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![jwt("idp")],
            api_keys: vec![],
        }],
    };
    let mut claims = good_claims();
    claims["azp"] = json!("web-app");
    let ok = mint(&w.firebase, Some("f"), &claims);
    assert!(matches!(
        run(
            &w,
            &requirement,
            &[("authorization", &format!("Bearer {ok}"))],
            "",
            &mut Verifier::default()
        ),
        Decision::Allowed { .. }
    ));
    claims["azp"] = json!("other-app");
    let bad = mint(&w.firebase, Some("f"), &claims);
    let d = run(
        &w,
        &requirement,
        &[("authorization", &format!("Bearer {bad}"))],
        "",
        &mut Verifier::default(),
    );
    assert_eq!(d, Decision::Denied(JwtError::ClientIdNotAllowed));
}

fn check(verifier: &mut Verifier, keys: Keys<'_>, token: &str, now: u64) -> wasp_jwt::Verdict {
    let audiences = vec![format!("https://{SERVICE}")];
    verifier.check(
        &provider(),
        wasp_jwt::Rules {
            audiences: &audiences,
            scopes: &[],
        },
        token,
        keys,
        now,
    )
}

#[test]
fn cold_keys_make_the_request_wait_and_a_failed_fetch_is_a_401() {
    let signer = Signer::es256();
    let token = mint(&signer, Some("k"), &good_claims());
    let mut verifier = Verifier::default();
    assert_eq!(
        check(&mut verifier, Keys::Loading, &token, NOW),
        wasp_jwt::Verdict::Pending(Wait::KeysLoading)
    );
    assert_eq!(
        check(
            &mut verifier,
            Keys::Unavailable {
                retry_after_secs: 5,
            },
            &token,
            NOW,
        ),
        wasp_jwt::Verdict::Rejected(JwtError::JwksFetchFailed)
    );
    // A provider set to answer 503 says so, with when the next fetch is due.
    let strict = wasp_jwt::Provider {
        unavailable_keys_503: true,
        ..provider()
    };
    let audiences = vec![format!("https://{SERVICE}")];
    let rules = wasp_jwt::Rules {
        audiences: &audiences,
        scopes: &[],
    };
    let unavailable = Keys::Unavailable {
        retry_after_secs: 5,
    };
    assert_eq!(
        verifier.check(&strict, rules, &token, unavailable, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::KeysNotLoaded {
            retry_after_secs: 5
        })
    );
    // Cheap failures are decided without keys.
    let mut old = good_claims();
    old["exp"] = json!(NOW - 1000);
    let expired = mint(&signer, Some("k"), &old);
    assert_eq!(
        check(&mut verifier, Keys::Loading, &expired, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::Expired)
    );
}

#[test]
fn an_unknown_kid_waits_for_one_refresh_then_fails() {
    let old_key = Signer::es256();
    let new_key = Signer::es256();
    let old_keys = keyset(&jwks(&[old_key.jwk("old")]));
    let token = mint(&new_key, Some("new"), &good_claims());
    let mut verifier = Verifier::default();
    let mut state = JwksState::default();
    let policy = RefreshPolicy::default();
    state.plan_request(&policy, NOW);
    state.on_keys_fetched(NOW, document_hash(b"old"));

    let ready = |keys, state: &JwksState| Keys::Ready {
        keys,
        generation: state.generation,
        may_refresh: state.kid_refresh_allowed(&policy, NOW),
    };
    assert_eq!(
        check(&mut verifier, ready(&old_keys, &state), &token, NOW),
        wasp_jwt::Verdict::Pending(Wait::UnknownKid)
    );
    assert!(state.start_kid_refresh(&policy, NOW).is_some());
    // The provider rotated: the refreshed document has the new key.
    let new_doc = jwks(&[old_key.jwk("old"), new_key.jwk("new")]);
    let new_keys = keyset(&new_doc);
    state.on_keys_fetched(NOW, document_hash(&new_doc));
    assert_eq!(state.generation, 2);
    assert!(matches!(
        check(&mut verifier, ready(&new_keys, &state), &token, NOW),
        wasp_jwt::Verdict::Verified(_)
    ));
    // Another unknown kid right away: no second refresh, a final 401.
    let stranger = mint(&new_key, Some("nope"), &good_claims());
    assert_eq!(
        check(&mut verifier, ready(&new_keys, &state), &stranger, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::KeyNotFound)
    );
}

#[test]
fn an_unknown_kid_tried_against_kidless_keys_still_asks_for_a_refresh() {
    let anonymous = Signer::es256();
    let mut kidless = anonymous.jwk("x");
    kidless.as_object_mut().unwrap().remove("kid");
    let rotated = Signer::es256();
    let keys = keyset(&jwks(&[kidless]));
    let token = mint(&rotated, Some("new"), &good_claims());
    let mut verifier = Verifier::default();
    let at = |may_refresh| Keys::Ready {
        keys: &keys,
        generation: 1,
        may_refresh,
    };
    assert_eq!(
        check(&mut verifier, at(true), &token, NOW),
        wasp_jwt::Verdict::Pending(Wait::UnknownKid)
    );
    // After the refresh (same keys) the kid-less key's failure is final.
    assert_eq!(
        check(&mut verifier, at(false), &token, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::VerificationFailed)
    );
    // The kid-less key's own tokens verify whatever their kid.
    let own = mint(&anonymous, Some("new"), &good_claims());
    assert!(matches!(
        check(&mut verifier, at(true), &own, NOW),
        wasp_jwt::Verdict::Verified(_)
    ));
}

#[test]
fn cached_tokens_are_bound_to_the_key_generation_and_expiry() {
    let signer = Signer::rsa(0);
    let keys = keyset(&jwks(&[signer.jwk("k")]));
    let mut claims = good_claims();
    claims["exp"] = json!(NOW + 100);
    let token = mint(&signer, Some("k"), &claims);
    let mut verifier = Verifier::default();
    let at = |generation| Keys::Ready {
        keys: &keys,
        generation,
        may_refresh: false,
    };
    assert!(matches!(
        check(&mut verifier, at(1), &token, NOW),
        wasp_jwt::Verdict::Verified(_)
    ));
    assert_eq!(verifier.cache_len(), (1, 0));
    // Rotated to keys without this key: the cached verification no longer counts.
    let rotated = keyset(&jwks(&[Signer::rsa(1).jwk("k")]));
    let rotated_keys = Keys::Ready {
        keys: &rotated,
        generation: 2,
        may_refresh: false,
    };
    assert_eq!(
        check(&mut verifier, rotated_keys, &token, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::VerificationFailed)
    );
    // Past exp (+ skew) the token fails again even though it was cached under generation 1.
    assert!(matches!(
        check(&mut verifier, at(1), &token, NOW + 1),
        wasp_jwt::Verdict::Verified(_)
    ));
    assert_eq!(
        check(&mut verifier, at(1), &token, NOW + 161),
        wasp_jwt::Verdict::Rejected(JwtError::Expired)
    );
}

#[test]
fn bad_signatures_are_negatively_cached_briefly() {
    let signer = Signer::rsa(0);
    let keys = keyset(&jwks(&[signer.jwk("k")]));
    let forged = mint(&Signer::rsa(1), Some("k"), &good_claims());
    let mut verifier = Verifier::default();
    let ready = Keys::Ready {
        keys: &keys,
        generation: 1,
        may_refresh: false,
    };
    assert_eq!(
        check(&mut verifier, ready, &forged, NOW),
        wasp_jwt::Verdict::Rejected(JwtError::VerificationFailed)
    );
    assert_eq!(verifier.cache_len(), (0, 1));
    assert_eq!(
        check(&mut verifier, ready, &forged, NOW + 5),
        wasp_jwt::Verdict::Rejected(JwtError::VerificationFailed)
    );
}

#[test]
fn the_refresh_state_drives_a_cold_start() {
    let mut state = JwksState::default();
    let policy = RefreshPolicy::for_provider(&provider());
    assert_eq!(
        state.plan_request(&policy, NOW),
        RequestPlan::FetchAndWait { until: NOW + 5 }
    );
    assert_eq!(
        state.fetch_target(&provider()),
        wasp_jwt::refresh::FetchTarget::Keys("https://issuer.example/jwks".into())
    );
}
