//! Key documents in the three formats the `x-google-jwks_uri` docs name, built from real
//! keys (and, for X.509, real self-signed certificates), plus the caps on hostile documents.

mod support;

use serde_json::json;
use support::*;
use wasp_jwt::{parse_key_document, JwksError, JwtError};

#[test]
fn a_jwk_set_with_every_key_family() {
    let signers = [
        Signer::rsa(0),
        Signer::es256(),
        Signer::es384(),
        Signer::ed25519(),
    ];
    let jwk_list: Vec<_> = signers
        .iter()
        .enumerate()
        .map(|(i, s)| s.jwk(&format!("k{i}")))
        .collect();
    let keys = keyset(&jwks(&jwk_list));
    assert_eq!(
        keys.len(),
        6 + 1 + 1 + 1,
        "RSA key yields one entry per RSA algorithm"
    );
    for (i, signer) in signers.iter().enumerate() {
        let token = mint(signer, Some(&format!("k{i}")), &good_claims());
        assert_eq!(
            rejection(&provider(), &keys, &token, NOW),
            None,
            "{}",
            signer.alg()
        );
    }
}

#[test]
fn unusable_keys_are_skipped_and_reported_not_fatal() {
    let good = Signer::es256();
    let rsa = Signer::rsa(0);
    let mut enc = rsa.jwk("enc");
    enc["use"] = json!("enc");
    let mut wrong_alg = rsa.jwk("wrong-alg");
    wrong_alg["alg"] = json!("ES256");
    let mut p521 = good.jwk("p521");
    p521["crv"] = json!("P-521");
    let mut no_verify = good.jwk("ops");
    no_verify["key_ops"] = json!(["sign"]);
    let mut short_rsa = rsa.jwk("short");
    short_rsa["n"] = json!(b64([0xC5u8; 128]));
    let doc = jwks(&[
        enc,
        wrong_alg,
        p521,
        no_verify,
        short_rsa,
        json!({"kty": "oct", "k": b64([1u8; 64])}),
        json!({"kty": "RSA"}),
        json!("not an object"),
        good.jwk("ok"),
    ]);
    let keys = keyset(&doc);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.skipped.len(), 8, "{:?}", keys.skipped);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&good, Some("ok"), &good_claims()),
            NOW
        ),
        None
    );
}

#[test]
fn ec_coordinates_with_leading_zeros_stripped_are_padded() {
    // Some encoders drop leading zero bytes of x/y. Walk fixed private scalars (deterministic,
    // so the test always costs the same) to the first public key whose x starts with 0.
    for d in 1u32..5000 {
        let mut scalar = [0u8; 32];
        scalar[28..].copy_from_slice(&d.to_be_bytes());
        let signer = Signer::Es256(jwt_simple::prelude::ES256KeyPair::from_bytes(&scalar).unwrap());
        let mut jwk = signer.jwk("k");
        let x = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk["x"].as_str().unwrap(),
        )
        .unwrap();
        if x[0] != 0 {
            continue;
        }
        jwk["x"] = json!(b64(&x[1..]));
        let keys = keyset(&jwks(&[jwk]));
        assert_eq!(
            rejection(
                &provider(),
                &keys,
                &mint(&signer, Some("k"), &good_claims()),
                NOW
            ),
            None
        );
        return;
    }
    panic!("no scalar below 5000 gives an x with a leading zero byte");
}

#[test]
fn padded_base64_members_in_a_jwk_are_tolerated() {
    let signer = Signer::rsa(0);
    let mut jwk = signer.jwk("k");
    jwk["e"] = json!("AQAB");
    let n = jwk["n"].as_str().unwrap().to_string();
    jwk["n"] = json!(format!("{n}{}", "=".repeat((4 - n.len() % 4) % 4)));
    let keys = keyset(&jwks(&[jwk]));
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&signer, Some("k"), &good_claims()),
            NOW
        ),
        None
    );
}

fn rsa_certificate(signer: &Signer, subject: &str) -> String {
    use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
    let Signer::Rsa(kp) = signer else {
        unreachable!()
    };
    let pem = rsa::RsaPrivateKey::from_pkcs8_der(&kp.to_der().unwrap())
        .unwrap()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let key = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    rcgen::CertificateParams::new(vec![subject.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem()
}

#[test]
fn an_x509_certificate_map_with_rsa_and_ec_certificates() {
    let rsa_signer = Signer::rsa(0);
    let rsa_pem = rsa_certificate(&rsa_signer, "rsa.issuer.example");
    let ec_cert = rcgen::generate_simple_self_signed(vec!["ec.issuer.example".into()]).unwrap();
    let ec_signer = Signer::Es256(
        jwt_simple::prelude::ES256KeyPair::from_der(&ec_cert.key_pair.serialize_der()).unwrap(),
    );
    let ed_pair = jwt_simple::prelude::Ed25519KeyPair::generate();
    let ed_key =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&ed_pair.to_pem(), &rcgen::PKCS_ED25519)
            .unwrap();
    let ed_pem = rcgen::CertificateParams::new(vec!["ed.issuer.example".into()])
        .unwrap()
        .self_signed(&ed_key)
        .unwrap()
        .pem();
    let ed_signer = Signer::Ed25519(ed_pair);

    let doc =
        json!({"rsa-kid": rsa_pem, "ec-kid": ec_cert.cert.pem(), "ed-kid": ed_pem}).to_string();
    let keys = keyset(doc.as_bytes());
    assert!(keys.skipped.is_empty(), "{:?}", keys.skipped);
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&rsa_signer, Some("rsa-kid"), &good_claims()),
            NOW
        ),
        None
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&ec_signer, Some("ec-kid"), &good_claims()),
            NOW
        ),
        None
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&ed_signer, Some("ed-kid"), &good_claims()),
            NOW
        ),
        None
    );
    // The certificate's kid is binding, and another RSA key's token fails.
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&rsa_signer, Some("ec-kid"), &good_claims()),
            NOW
        ),
        Some(JwtError::KeyNotFound)
    );
    assert_eq!(
        rejection(
            &provider(),
            &keys,
            &mint(&Signer::rsa(1), Some("rsa-kid"), &good_claims()),
            NOW
        ),
        Some(JwtError::VerificationFailed)
    );
    // HS256 keyed with the certificate text (the classic confusion) finds no HMAC key.
    let confused = Signer::Hmac(rsa_certificate(&rsa_signer, "x").into_bytes());
    let token = mint_raw(
        &confused,
        "HS256",
        r#"{"alg":"HS256","kid":"rsa-kid"}"#,
        &good_claims().to_string(),
    );
    assert_eq!(
        rejection(&provider(), &keys, &token, NOW),
        Some(JwtError::KeyNotFound)
    );
}

#[test]
fn a_broken_certificate_is_skipped() {
    let ec_cert = rcgen::generate_simple_self_signed(vec!["ec.issuer.example".into()]).unwrap();
    let doc = json!({"good": ec_cert.cert.pem(), "bad": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"});
    let keys = keyset(doc.to_string().as_bytes());
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.skipped.len(), 1);
    let all_bad = json!({"bad": "not a certificate"});
    assert!(matches!(
        parse_key_document(all_bad.to_string().as_bytes()),
        Err(JwksError::NoUsableKeys(_))
    ));
}

#[test]
fn a_symmetric_key_document_with_or_without_newline_and_padding() {
    let secret = [42u8; 32];
    for body in [
        b64(secret),
        format!("{}\n", b64(secret)),
        format!("{}=", b64(secret)),
    ] {
        let keys = keyset(body.as_bytes());
        assert_eq!(keys.len(), 3, "HS256/384/512");
        let signer = Signer::Hmac(secret.to_vec());
        // The document has no kid, so it verifies tokens with or without one (issuers
        // often set a kid; jwt_verify_lib only skips a key whose own kid differs).
        for kid in [None, Some("hmac-2024")] {
            assert_eq!(
                rejection(&provider(), &keys, &mint(&signer, kid, &good_claims()), NOW),
                None,
                "kid {kid:?}"
            );
        }
        // An RS256 token never verifies against a symmetric document.
        let rsa = Signer::rsa(0);
        assert_eq!(
            rejection(&provider(), &keys, &mint(&rsa, None, &good_claims()), NOW),
            Some(JwtError::KeyNotFound)
        );
    }
    assert!(
        matches!(
            parse_key_document(b64([1u8; 16]).as_bytes()),
            Err(JwksError::NoUsableKeys(_))
        ),
        "short secret"
    );
    assert_eq!(
        parse_key_document(b"not+base64/url").err(),
        Some(JwksError::NotAKeyDocument)
    );
}

#[test]
fn document_and_key_count_caps() {
    let signer = Signer::es256();
    let many: Vec<_> = (0..33).map(|i| signer.jwk(&format!("k{i}"))).collect();
    assert_eq!(
        parse_key_document(&jwks(&many)).err(),
        Some(JwksError::TooManyKeys)
    );
    assert!(parse_key_document(&jwks(&many[..32])).is_ok());
    let mut big = json!({"keys": [signer.jwk("k")]});
    big["padding"] = json!("x".repeat(70 * 1024));
    assert_eq!(
        parse_key_document(big.to_string().as_bytes()).err(),
        Some(JwksError::TooLarge)
    );
    let mut certs = serde_json::Map::new();
    for i in 0..33 {
        certs.insert(format!("k{i}"), json!("x"));
    }
    assert_eq!(
        parse_key_document(serde_json::Value::Object(certs).to_string().as_bytes()).err(),
        Some(JwksError::TooManyKeys)
    );
}

#[test]
fn errors_explain_themselves() {
    let err = parse_key_document(b"<html>").unwrap_err();
    assert!(err.to_string().contains("neither a JWK set"), "{err}");
}
