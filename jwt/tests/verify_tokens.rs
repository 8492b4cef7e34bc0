//! Every acceptance and rejection of a single token, with real keys and real signatures.

mod support;

use serde_json::json;
use support::*;
use wasp_jwt::errors::Claim;
use wasp_jwt::{Decision, JwtError, Verifier};

fn rsa_setup() -> (Signer, wasp_jwt::KeySet) {
    let signer = Signer::rsa(0);
    let keys = keyset(&jwks(&[signer.jwk("rsa-1")]));
    (signer, keys)
}

#[test]
fn every_key_family_verifies_its_own_tokens() {
    for signer in [
        Signer::rsa(0),
        Signer::es256(),
        Signer::es384(),
        Signer::ed25519(),
    ] {
        let keys = keyset(&jwks(&[signer.jwk("k")]));
        let token = mint(&signer, Some("k"), &good_claims());
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            None,
            "{}",
            signer.alg()
        );
        // Kid-less tokens are tried against the keys of the right algorithm.
        let token = mint(&signer, None, &good_claims());
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            None,
            "{} without kid",
            signer.alg()
        );
    }
}

#[test]
fn rsa_keys_without_alg_verify_every_rsa_algorithm() {
    let (signer, keys) = rsa_setup();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let header = json!({"alg": alg, "kid": "rsa-1"}).to_string();
        let token = mint_raw(&signer, alg, &header, &good_claims().to_string());
        assert_eq!(rejection(&provider(), &keys, &token, NOW), None, "{alg}");
    }
}

#[test]
fn a_jwk_alg_pins_the_key_to_that_algorithm() {
    let signer = Signer::rsa(0);
    let mut jwk = signer.jwk("k");
    jwk["alg"] = json!("RS256");
    let keys = keyset(&jwks(&[jwk]));
    let ps = mint_raw(
        &signer,
        "PS256",
        r#"{"alg":"PS256","kid":"k"}"#,
        &good_claims().to_string(),
    );
    assert_eq!(
        rejection(&provider(), &keys, &ps, NOW),
        Some(JwtError::KeyNotFound)
    );
}

#[test]
fn alg_none_is_rejected_in_every_casing() {
    let (_, keys) = rsa_setup();
    let payload = b64(good_claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg}).to_string());
        // Unsecured JWS (empty signature), and with a junk signature.
        assert_eq!(
            rejection(&provider(), &keys, &format!("{header}.{payload}."), NOW),
            Some(JwtError::BadFormat)
        );
        assert_eq!(
            rejection(&provider(), &keys, &format!("{header}.{payload}.AAAA"), NOW),
            Some(JwtError::UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let (signer, keys) = rsa_setup();
    let Signer::Rsa(kp) = &signer else {
        unreachable!()
    };
    let public = kp.public_key();
    let c = public.to_components();
    for secret in [
        public.to_pem().unwrap().into_bytes(),
        public.to_der().unwrap(),
        c.n.clone(),
    ] {
        let confused = Signer::Hmac(secret);
        let token = mint_raw(
            &confused,
            "HS256",
            r#"{"alg":"HS256","kid":"rsa-1"}"#,
            &good_claims().to_string(),
        );
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            Some(JwtError::KeyNotFound)
        );
        let token = mint_raw(
            &confused,
            "HS256",
            r#"{"alg":"HS256"}"#,
            &good_claims().to_string(),
        );
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            Some(JwtError::KeyNotFound)
        );
    }
}

#[test]
fn rs_and_es_swaps_are_rejected() {
    let rsa = Signer::rsa(0);
    let ec = Signer::es256();
    let keys = keyset(&jwks(&[rsa.jwk("rsa"), ec.jwk("ec")]));
    let claims = good_claims().to_string();
    // An EC signature labelled RS256 for the RSA kid, and an RSA signature labelled ES256.
    let ec_sig_as_rs = mint_raw(&ec, "ES256", r#"{"alg":"RS256","kid":"rsa"}"#, &claims);
    assert_eq!(
        rejection(&provider(), &keys, &ec_sig_as_rs, NOW),
        Some(JwtError::VerificationFailed)
    );
    let rs_sig_as_es = mint_raw(&rsa, "RS256", r#"{"alg":"ES256","kid":"ec"}"#, &claims);
    assert_eq!(
        rejection(&provider(), &keys, &rs_sig_as_es, NOW),
        Some(JwtError::VerificationFailed)
    );
    // A kid naming the other family's key: no key has that (kid, alg) pair.
    let cross = mint_raw(&ec, "ES256", r#"{"alg":"ES256","kid":"rsa"}"#, &claims);
    assert_eq!(
        rejection(&provider(), &keys, &cross, NOW),
        Some(JwtError::KeyNotFound)
    );
    // ES384 token against a P-256 key.
    let es384 = Signer::es384();
    let token = mint_raw(&es384, "ES384", r#"{"alg":"ES384","kid":"ec"}"#, &claims);
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::KeyNotFound)
    );
}

#[test]
fn a_tampered_payload_or_signature_fails_verification() {
    let (signer, keys) = rsa_setup();
    let token = mint(&signer, Some("rsa-1"), &good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut evil = good_claims();
    evil["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(evil.to_string()), parts[2]);
    assert_eq!(
        rejection(&provider(), &keys, &tampered, NOW),
        Some(JwtError::VerificationFailed)
    );
    let other = Signer::rsa(1);
    let forged = mint(&other, Some("rsa-1"), &good_claims());
    assert_eq!(
        rejection(&provider(), &keys, &forged, NOW),
        Some(JwtError::VerificationFailed)
    );
}

#[test]
fn issuer_must_match_the_provider() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims["iss"] = json!("https://evil.example");
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::UnknownIssuer)
    );
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::UnknownIssuer)
    );
    claims["iss"] = json!(["https://issuer.example"]);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::BadClaim(Claim::IssNotString))
    );
}

#[test]
fn audience_rules_and_403() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims["aud"] = json!("https://someone-else.example");
    let wrong = mint(&signer, Some("rsa-1"), &claims);
    assert_eq!(
        rejection(&provider(), &keys, &wrong, NOW),
        Some(JwtError::AudienceNotAllowed)
    );
    assert_eq!(JwtError::AudienceNotAllowed.status(), 403);
    claims.as_object_mut().unwrap().remove("aud");
    let missing = mint(&signer, Some("rsa-1"), &claims);
    assert_eq!(
        rejection(&provider(), &keys, &missing, NOW),
        Some(JwtError::AudienceNotAllowed)
    );
    // Provider audiences replace the default one; arrays match on any member.
    let mut p = provider();
    p.audiences = vec!["client-a".into(), "client-b".into()];
    claims["aud"] = json!(["x", "client-b"]);
    assert_eq!(
        rejection(&p, &keys, &mint(&signer, Some("rsa-1"), &claims), NOW),
        None
    );
    assert_eq!(
        rejection(
            &p,
            &keys,
            &mint(&signer, Some("rsa-1"), &good_claims()),
            NOW
        ),
        Some(JwtError::AudienceNotAllowed)
    );
}

#[test]
fn expiry_with_the_default_60_second_skew() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims["exp"] = json!(NOW - 60);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        None,
        "within skew"
    );
    claims["exp"] = json!(NOW - 61);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::Expired)
    );
    claims["exp"] = json!(NOW - 800);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::Expired),
        "jwt-simple's 900 s tolerance must not apply"
    );
    let mut lax = provider();
    lax.clock_skew_seconds = 900;
    assert_eq!(
        rejection(&lax, &keys, &mint(&signer, Some("rsa-1"), &claims), NOW),
        None
    );
}

#[test]
fn not_before_in_the_future_is_rejected_beyond_the_skew() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims["nbf"] = json!(NOW + 60);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        None
    );
    claims["nbf"] = json!(NOW + 61);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::NotYetValid)
    );
}

#[test]
fn tokens_without_exp_are_accepted_unless_the_provider_requires_it() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove("exp");
    let token = mint(&signer, Some("rsa-1"), &claims);
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        None,
        "ESPv2 accepts a token without exp"
    );
    let mut strict = provider();
    strict.require_expiration = true;
    assert_eq!(
        rejection(&strict, &keys, &token, NOW),
        Some(JwtError::ExpirationRequired)
    );
    let mut bounded = provider();
    bounded.max_lifetime_seconds = Some(3600);
    assert_eq!(
        rejection(&bounded, &keys, &token, NOW),
        Some(JwtError::ExpirationRequired)
    );
}

#[test]
fn far_future_and_malformed_timestamps() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    claims["exp"] = json!(9_999_999_999u64); // past coarsetime's 2106 limit: must stay valid
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        None
    );
    for (bad, error) in [
        (json!(1e300), Claim::ExpOutOfRange),
        (json!(-5), Claim::ExpOutOfRange),
        (json!("tomorrow"), Claim::ExpNotInteger),
        (json!(1.5), Claim::ExpNotInteger),
    ] {
        claims["exp"] = bad.clone();
        assert_eq!(
            rejection(
                &provider(),
                &keys,
                &mint(&signer, Some("rsa-1"), &claims),
                NOW
            ),
            Some(JwtError::BadClaim(error)),
            "{bad}"
        );
    }
}

#[test]
fn registered_claims_of_the_wrong_type_are_claim_errors() {
    let (signer, keys) = rsa_setup();
    for (name, value, error) in [
        ("sub", json!(5), Claim::SubNotString),
        ("jti", json!([]), Claim::JtiNotString),
        ("aud", json!({"a": 1}), Claim::AudNotStrings),
        ("nbf", json!("now"), Claim::NbfNotInteger),
        ("iat", json!(-1), Claim::IatOutOfRange),
    ] {
        let mut claims = good_claims();
        claims[name] = value;
        let token = mint(&signer, Some("rsa-1"), &claims);
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            Some(JwtError::BadClaim(error)),
            "{name}"
        );
    }
}

#[test]
fn huge_tokens_are_refused_before_decoding() {
    let (signer, keys) = rsa_setup();
    let mut claims = good_claims();
    // ESPv2 accepts an 8,000-character claim.
    claims["pad"] = json!("x".repeat(9000));
    let espv2_sized = mint(&signer, Some("rsa-1"), &claims);
    assert_eq!(rejection(&provider(), &keys, &espv2_sized, NOW), None);
    claims["pad"] = json!("x".repeat(wasp_jwt::token::MAX_TOKEN_BYTES));
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("rsa-1"), &claims),
            NOW
        ),
        Some(JwtError::TooLarge)
    );
}

#[test]
fn bad_base64url_is_rejected() {
    let (signer, keys) = rsa_setup();
    let token = mint(&signer, Some("rsa-1"), &good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let padded = format!("{}.{}.{}==", parts[0], parts[1], parts[2]);
    assert_eq!(
        rejection(&provider(), &keys, &padded, NOW),
        Some(JwtError::SignatureNotBase64)
    );
    let plus = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        parts[2].replacen(
            |c: char| c == '-' || c == '_' || c.is_ascii_alphabetic(),
            "+",
            1
        )
    );
    assert_eq!(
        rejection(&provider(), &keys, &plus, NOW),
        Some(JwtError::SignatureNotBase64)
    );
    let std_header = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(
        rejection(&provider(), &keys, &std_header, NOW),
        Some(JwtError::HeaderNotBase64)
    );
}

#[test]
fn five_part_tokens_and_crit_headers_are_rejected() {
    let (signer, keys) = rsa_setup();
    let token = mint(&signer, Some("rsa-1"), &good_claims());
    assert_eq!(
        rejection(&provider(), &keys, &format!("{token}.AAAA.BBBB"), NOW),
        Some(JwtError::BadFormat)
    );
    let crit = mint_raw(
        &signer,
        "RS256",
        r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}"#,
        &good_claims().to_string(),
    );
    assert_eq!(
        rejection(&provider(), &keys, &crit, NOW),
        Some(JwtError::UnsupportedHeader)
    );
    let nested = mint_raw(
        &signer,
        "RS256",
        r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#,
        &good_claims().to_string(),
    );
    assert_eq!(
        rejection(&provider(), &keys, &nested, NOW),
        Some(JwtError::UnsupportedHeader)
    );
}

#[test]
fn header_key_hints_are_never_trusted() {
    // A token carrying its own key (jwk / jku / x5u) must still be checked against the JWKS.
    let (_, keys) = rsa_setup();
    let attacker = Signer::rsa(1);
    let header = json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker.jwk("rsa-1"), "jku": "https://evil/jwks", "x5u": "https://evil/cert"});
    let token = mint_raw(
        &attacker,
        "RS256",
        &header.to_string(),
        &good_claims().to_string(),
    );
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::VerificationFailed)
    );
}

#[test]
fn unknown_kid_and_kidless_with_several_keys() {
    let a = Signer::rsa(0);
    let b = Signer::rsa(1);
    let keys = keyset(&jwks(&[a.jwk("a"), b.jwk("b")]));
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&a, Some("zzz"), &good_claims()),
            NOW
        ),
        Some(JwtError::KeyNotFound)
    );
    // Without kid both keys are tried: the second key's token verifies.
    assert_eq!(
        rejection(&provider(), &keys, &mint(&b, None, &good_claims()), NOW),
        None
    );
    let stranger = Signer::rsa(2);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&stranger, None, &good_claims()),
            NOW
        ),
        Some(JwtError::VerificationFailed)
    );
}

#[test]
fn keys_without_a_kid_are_tried_for_any_kid() {
    let named = Signer::es256();
    let unnamed = Signer::es256();
    let mut anonymous = unnamed.jwk("x");
    anonymous.as_object_mut().unwrap().remove("kid");
    let keys = keyset(&jwks(&[named.jwk("a"), anonymous]));
    for kid in [Some("a"), Some("zzz"), None] {
        assert_eq!(
            rejection(
                &provider(),
                &keys,
                &mint(&unnamed, kid, &good_claims()),
                NOW
            ),
            None,
            "kid {kid:?}"
        );
    }
    // The named key stays bound to its own kid.
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&named, Some("zzz"), &good_claims()),
            NOW
        ),
        Some(JwtError::VerificationFailed)
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&named, Some("a"), &good_claims()),
            NOW
        ),
        None
    );
}

#[test]
fn kidless_tokens_try_a_capped_number_of_keys() {
    let signers: Vec<Signer> = (0..6).map(|_| Signer::es256()).collect();
    let jwk_list: Vec<_> = signers
        .iter()
        .enumerate()
        .map(|(i, s)| s.jwk(&format!("k{i}")))
        .collect();
    let keys = keyset(&jwks(&jwk_list));
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signers[3], None, &good_claims()),
            NOW
        ),
        None
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signers[5], None, &good_claims()),
            NOW
        ),
        Some(JwtError::VerificationFailed),
        "the 6th key is past the cap of 4"
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signers[5], Some("k5"), &good_claims()),
            NOW
        ),
        None
    );
}

#[test]
fn duplicate_claims_are_rejected_even_when_validly_signed() {
    let (signer, keys) = rsa_setup();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","aud":"https://{SERVICE}","exp":{},"exp":{}}}"#,
        NOW - 1000,
        NOW + 1000
    );
    let token = mint_raw(
        &signer,
        "RS256",
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &payload,
    );
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::PayloadNotJson)
    );
    let dup_iss = format!(r#"{{"iss":"https://evil","iss":"{ISSUER}","aud":"https://{SERVICE}"}}"#);
    let token = mint_raw(
        &signer,
        "RS256",
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &dup_iss,
    );
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::PayloadNotJson)
    );
}

#[test]
fn hmac_tokens_verify_only_against_a_symmetric_key_document() {
    let signer = Signer::hmac();
    let Signer::Hmac(secret) = &signer else {
        unreachable!()
    };
    let keys = keyset(b64(secret).as_bytes());
    for alg in ["HS256", "HS384", "HS512"] {
        let token = mint_raw(
            &signer,
            alg,
            &json!({"alg": alg}).to_string(),
            &good_claims().to_string(),
        );
        assert_eq!(rejection(&provider(), &keys, &token, NOW), None, "{alg}");
    }
    let wrong = Signer::Hmac(vec![9u8; 48]);
    let token = mint(&wrong, None, &good_claims());
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::VerificationFailed)
    );
    // The same secret as an `oct` JWK inside a JWK set is not an HMAC key.
    assert!(wasp_jwt::parse_key_document(&jwks(&[signer.jwk("k")])).is_err());
}

#[test]
fn verified_claims_are_forwarded_exactly_as_signed() {
    let (signer, keys) = rsa_setup();
    let claims = good_claims();
    let token = mint(&signer, Some("rsa-1"), &claims);
    let Decision::Allowed { tokens, .. } =
        decide(&provider(), &keys, &mut Verifier::default(), &token, NOW)
    else {
        panic!("not allowed")
    };
    let header = wasp_jwt::userinfo::userinfo_value(&tokens[0], false);
    assert_eq!(
        header,
        token.split('.').nth(1).unwrap(),
        "payload segment re-encoded, no padding"
    );
    assert_eq!(tokens[0].claims["sub"], "user-1");
}

#[test]
fn psychic_and_malformed_signatures_are_rejected() {
    // CVE-2022-21449: an all-zero ECDSA signature (r = s = 0) must never verify.
    let ec = Signer::es256();
    let keys = keyset(&jwks(&[ec.jwk("ec"), Signer::ed25519().jwk("ed")]));
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"ES256","kid":"ec"}"#),
        b64(good_claims().to_string())
    );
    for signature in [
        vec![0u8; 64],
        vec![0u8; 0x40 + 8],
        vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    ] {
        let token = format!("{input}.{}", b64(&signature));
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            Some(JwtError::VerificationFailed)
        );
    }
    // An Ed25519 signature of the wrong length.
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"EdDSA","kid":"ed"}"#),
        b64(good_claims().to_string())
    );
    let token = format!("{input}.{}", b64([7u8; 63]));
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::VerificationFailed)
    );
}
