//! How the gateway fetches keys, seen from a real identity provider that counts its
//! requests: once for every worker VM, again after the cache time, the last good keys
//! while the provider is down, recovery without restarting Envoy, a slow provider, bad
//! documents, and key rotation (one refresh for a new kid, at most one for a storm of
//! unknown kids).

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use wasp_tests::idp::{b64, Answer, DISCOVERY_PATH, JWKS_PATH};
use wasp_tests::{Client, Gateway, Idp, SigningKey};

use crate::jwt_support::*;

const FETCH_FAILED: &str = "Jwks remote fetch is failed";
const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";

/// A token never sent before (a fresh `jti`), so no verified-token cache can answer it.
fn fresh_token(idp: &Idp, key: &SigningKey) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut claims = idp.claims(AUDIENCE);
    claims["jti"] = json!(format!(
        "t{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    key.mint(&claims)
}

/// `GET /secure` with a fresh token until it passes (`limit` at most); the last reply.
fn until_it_passes(gw: &Gateway, idp: &Idp, key: &SigningKey, limit: Duration) {
    let mut last = None;
    let passed = eventually(limit, || {
        let reply = send(gw, "/secure", &bearer(&fresh_token(idp, key)));
        let ok = reply.status == 200;
        last = Some(reply);
        ok
    });
    assert!(
        passed,
        "still refused after {limit:?}: {last:?}\nfetches: {:?}",
        idp.all_fetches()
    );
}

#[test]
fn keys_are_fetched_once_for_every_worker() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start_workers(&one_provider(&idp, Some(JWKS_PATH), &[]), &[], 2);
    // A new connection per request, so the kernel spreads them over both workers.
    for _ in 0..12 {
        let token = fresh_token(&idp, &key);
        let reply = Client::new()
            .send(
                "GET",
                &gw.url("/secure"),
                &[("authorization", &format!("Bearer {token}"))],
            )
            .expect("request through Envoy");
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    gw.assert_both_workers_served();
    assert_eq!(idp.fetches(JWKS_PATH), 1, "{:?}", idp.all_fetches());
}

#[test]
fn keys_are_fetched_again_after_the_cache_time_and_rotations_are_picked_up() {
    let old = SigningKey::es256("old");
    let idp = Idp::start(vec![old.clone()]);
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwks-cache-seconds", "1"],
    );
    let remembered = fresh_token(&idp, &old);
    passes(&gw, "/secure", &bearer(&remembered));
    // The provider rotates: the next scheduled refresh brings the new key, with no
    // request asking for it.
    let new = SigningKey::ed25519("new");
    idp.publish(new.clone());
    idp.retire("old");
    let before = idp.fetches(JWKS_PATH);
    assert!(
        eventually(Duration::from_secs(10), || idp.fetches(JWKS_PATH)
            >= before + 2),
        "no refresh within 10 s of a 1 s cache: {:?}",
        idp.all_fetches()
    );
    let refreshed = idp.fetches(JWKS_PATH);
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &new)));
    refused(
        &gw,
        "/secure",
        &bearer(&fresh_token(&idp, &old)),
        401,
        NO_KEY,
    );
    // A token verified before is not trusted beyond its key's removal.
    refused(&gw, "/secure", &bearer(&remembered), 401, NO_KEY);
    assert!(
        idp.fetches(JWKS_PATH) <= refreshed + 1,
        "the new kid was already known: {:?}",
        idp.all_fetches()
    );
}

#[test]
fn the_last_good_keys_keep_serving_while_the_provider_is_down() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwks-cache-seconds", "1"],
    );
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &key)));
    // Refreshes fail with 503...
    idp.answer(Answer::Status(503));
    let good = idp.fetches(JWKS_PATH);
    assert!(
        eventually(Duration::from_secs(10), || idp.fetches(JWKS_PATH)
            >= good + 2),
        "no refresh attempts: {:?}",
        idp.all_fetches()
    );
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &key)));
    // ...then the provider refuses connections altogether.
    idp.go_down();
    thread::sleep(Duration::from_millis(1500));
    for _ in 0..3 {
        passes(&gw, "/secure", &bearer(&fresh_token(&idp, &key)));
    }
    // Tokens are still checked against those keys.
    let impostor = SigningKey::es256("ec-1");
    refused(
        &gw,
        "/secure",
        &bearer(&fresh_token(&idp, &impostor)),
        401,
        "Jwt verification fails",
    );
}

#[test]
fn a_provider_down_at_start_fails_fast_and_is_used_once_it_comes_up() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.go_down();
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    for _ in 0..3 {
        let started = Instant::now();
        refused(
            &gw,
            "/secure",
            &bearer(&fresh_token(&idp, &key)),
            401,
            FETCH_FAILED,
        );
        // A refused connection fails the fetch at once; nobody waits for the 5 s timeout.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "a request waited {:?} for a provider that refuses connections",
            started.elapsed()
        );
    }
    assert_eq!(
        gw.get("/open").status,
        200,
        "open operations are unaffected"
    );
    idp.come_up();
    // Retries back off from 1 s; the keys arrive without restarting Envoy.
    until_it_passes(&gw, &idp, &key, Duration::from_secs(20));
    assert!(idp.fetches(JWKS_PATH) >= 1);
}

#[test]
fn the_first_requests_wait_for_a_slow_provider_but_not_forever() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.set_delay(Duration::from_millis(1500));
    let gw = start_workers(&one_provider(&idp, Some(JWKS_PATH), &[]), &[], 2);
    // A client that gives up while its request waits for the keys.
    let mut quitter = std::net::TcpStream::connect(gw.envoy.listener).expect("connect");
    let token = fresh_token(&idp, &key);
    let request =
        format!("GET /secure HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\n\r\n");
    std::io::Write::write_all(&mut quitter, request.as_bytes()).expect("send");
    thread::sleep(Duration::from_millis(200));
    drop(quitter);
    // Sent at once on their own connections: all wait for the one cold fetch, which
    // another VM (the main thread's or the other worker's) may make.
    let tokens: Vec<String> = (0..6).map(|_| fresh_token(&idp, &key)).collect();
    thread::scope(|scope| {
        for token in &tokens {
            let gw = &gw;
            scope.spawn(move || {
                let reply = Client::new()
                    .send(
                        "GET",
                        &gw.url("/secure"),
                        &[("authorization", &format!("Bearer {token}"))],
                    )
                    .expect("request through Envoy");
                assert_eq!(reply.status, 200, "{reply:?}");
            });
        }
    });
    assert_eq!(idp.fetches(JWKS_PATH), 1, "{:?}", idp.all_fetches());
    gw.assert_filter_alive();

    // A provider slower than the fetch timeout: the request gets an answer, a 401.
    let stuck = Idp::start(vec![key.clone()]);
    stuck.set_delay(Duration::from_secs(30));
    let gw = start(&one_provider(&stuck, Some(JWKS_PATH), &[]), &[]);
    refused(
        &gw,
        "/secure",
        &bearer(&fresh_token(&stuck, &key)),
        401,
        FETCH_FAILED,
    );
    assert_eq!(gw.get("/open").status, 200);
}

#[test]
fn bad_documents_are_refused_and_envoy_keeps_serving() {
    let key = SigningKey::es256("ec-1");
    let good_jwk = key.jwk().expect("an EC key");
    // A 1024-bit RSA modulus and an unknown key type: skipped, never used.
    let weak = json!({"kty": "RSA", "kid": "weak", "n": b64([0xc5u8; 128]), "e": "AQAB"});
    let odd = json!({"kty": "XYZ", "kid": "odd"});
    let bad = [
        Answer::Garbage,
        Answer::Status(404),
        Answer::Huge(100 * 1024),
        Answer::Huge(16 * 1024 * 1024),
        Answer::Body(r#"{"keys": []}"#.into()),
        Answer::Body(r#"{"keys": "all of them"}"#.into()),
        Answer::Body(r#"{"issuer": "https://x", "kid": 7}"#.into()),
        Answer::Body(json!({"keys": [weak.clone(), odd.clone()]}).to_string()),
        Answer::Body("\"c2VjcmV0\"".into()),
    ];
    let idps: Vec<Idp> = bad
        .iter()
        .map(|answer| {
            let idp = Idp::start(vec![key.clone()]);
            idp.answer(answer.clone());
            idp
        })
        .collect();
    // One more whose document mixes unusable keys with a good one.
    let mixed = Idp::start(vec![key.clone()]);
    mixed.answer(Answer::Body(
        json!({"keys": [weak, odd, good_jwk]}).to_string(),
    ));
    let all: Vec<&Idp> = idps.iter().chain([&mixed]).collect();
    let definitions: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, idp)| provider(&format!("p{i}"), idp, Some(JWKS_PATH), &[]))
        .collect();
    let paths: Vec<String> = (0..all.len())
        .map(|i| {
            op(
                &format!("/p{i}"),
                &format!("p{i}"),
                Some(&format!("[{{p{i}: []}}]")),
            )
        })
        .chain([op("/open", "open", Some("[]"))])
        .collect();
    let gw = start(&api(&definitions, None, &paths), &[]);

    for (i, (idp, answer)) in idps.iter().zip(&bad).enumerate() {
        for _ in 0..2 {
            let reply = send(&gw, &format!("/p{i}"), &bearer(&fresh_token(idp, &key)));
            assert_eq!(reply.status, 401, "{answer:?}: {reply:?}");
            denied(&reply, 401, FETCH_FAILED);
        }
        assert!(idp.fetches(JWKS_PATH) >= 1, "{answer:?}");
    }
    let last = all.len() - 1;
    passes(
        &gw,
        &format!("/p{last}"),
        &bearer(&fresh_token(&mixed, &key)),
    );
    assert_eq!(gw.get("/open").status, 200);
    gw.assert_filter_alive();

    // Once the providers serve their keys, they are used (failed fetches are retried).
    for idp in &idps {
        idp.answer(Answer::Documents);
    }
    for (i, idp) in idps.iter().enumerate() {
        let mut last = None;
        let passed = eventually(Duration::from_secs(15), || {
            let reply = send(&gw, &format!("/p{i}"), &bearer(&fresh_token(idp, &key)));
            let ok = reply.status == 200;
            last = Some(reply);
            ok
        });
        assert!(passed, "{:?}: still refused: {last:?}", bad[i]);
    }
    gw.assert_filter_alive();
}

#[test]
fn a_bad_discovery_document_fails_like_a_bad_key_document() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.answer(Answer::Garbage);
    let gw = start(&one_provider(&idp, None, &[]), &[]);
    refused(
        &gw,
        "/secure",
        &bearer(&fresh_token(&idp, &key)),
        401,
        FETCH_FAILED,
    );
    assert!(idp.fetches(DISCOVERY_PATH) >= 1);
    assert_eq!(idp.fetches(JWKS_PATH), 0);
    idp.answer(Answer::Documents);
    until_it_passes(&gw, &idp, &key, Duration::from_secs(15));
    assert!(idp.fetches(JWKS_PATH) >= 1);
}

#[test]
fn a_token_with_a_new_kid_triggers_one_refresh_and_passes() {
    let first = SigningKey::es256("k1");
    let idp = Idp::start(vec![first.clone()]);
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &first)));
    assert_eq!(idp.fetches(JWKS_PATH), 1);
    // The provider starts signing with a new key before the 5-minute cache ends.
    let second = SigningKey::rs256("k2", 0);
    idp.publish(second.clone());
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &second)));
    assert_eq!(idp.fetches(JWKS_PATH), 2, "{:?}", idp.all_fetches());
    for key in [&first, &second, &second] {
        passes(&gw, "/secure", &bearer(&fresh_token(&idp, key)));
    }
    assert_eq!(idp.fetches(JWKS_PATH), 2, "{:?}", idp.all_fetches());
}

#[test]
fn a_storm_of_unknown_kids_causes_at_most_one_refresh() {
    let key = SigningKey::es256("k1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start_workers(&one_provider(&idp, Some(JWKS_PATH), &[]), &[], 2);
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &key)));
    assert_eq!(idp.fetches(JWKS_PATH), 1);
    let attacker = SigningKey::es256("unused");
    thread::scope(|scope| {
        for thread_index in 0..4 {
            let (gw, idp, attacker) = (&gw, &idp, &attacker);
            scope.spawn(move || {
                for i in 0..10 {
                    let mut header = attacker.header();
                    header["kid"] = json!(format!("storm-{thread_index}-{i}"));
                    let token = attacker.mint_with_header(&header, &idp.claims(AUDIENCE));
                    let reply = Client::new()
                        .send(
                            "GET",
                            &gw.url("/secure"),
                            &[("authorization", &format!("Bearer {token}"))],
                        )
                        .expect("request through Envoy");
                    denied(&reply, 401, NO_KEY);
                }
            });
        }
    });
    assert!(
        idp.fetches(JWKS_PATH) <= 2,
        "40 unknown kids caused {} fetches",
        idp.fetches(JWKS_PATH)
    );
    // The real key still works, from the cache.
    passes(&gw, "/secure", &bearer(&fresh_token(&idp, &key)));
    gw.assert_filter_alive();
}
