//! The `x-google-jwks_uri` formats through real Envoy, each served by a real identity
//! provider: a JWK set (RS256, ES256, EdDSA), Google's X.509 certificate map, a base64url
//! symmetric key (HS256), OIDC discovery when the URI is omitted, and an https URI
//! verified with `--root-certs`. The backend receives the verified claims in
//! `X-Endpoint-API-UserInfo`, never a client's copy.

use serde_json::json;
use wasp_tests::idp::{DISCOVERY_PATH, JWKS_PATH, SYMMETRIC_PATH, X509_PATH};
use wasp_tests::{Idp, SigningKey, TestCa};

use crate::jwt_support::*;

#[test]
fn a_jwk_set_verifies_rsa_ec_and_ed25519_tokens_and_forwards_their_claims() {
    let keys = vec![
        SigningKey::rs256("rsa-1", 0),
        SigningKey::es256("ec-1"),
        SigningKey::ed25519("ed-1"),
    ];
    let idp = Idp::start(keys.clone());
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    for key in &keys {
        let mut claims = idp.claims(AUDIENCE);
        claims["email"] = json!(format!("{}@example.com", key.kid));
        let token = key.mint(&claims);
        let seen = passes(&gw, "/secure", &bearer(&token));
        assert_eq!(userinfo(&seen), claims, "{key:?}");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {token}").as_str()),
            "the token itself is forwarded"
        );
    }
    // One fetch served every token (the first request waited for it).
    assert_eq!(idp.fetches(JWKS_PATH), 1, "{:?}", idp.all_fetches());
}

#[test]
fn a_client_sent_user_info_header_never_reaches_the_backend() {
    let key = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    let forged = wasp_tests::idp::b64(r#"{"sub":"admin","iss":"me"}"#);
    let claims = idp.claims(AUDIENCE);
    let token = key.mint(&claims);
    let with_token = [bearer(&token)[0].clone(), (USERINFO, forged.clone())];
    let seen = passes(&gw, "/secure", &with_token);
    assert_eq!(userinfo(&seen), claims, "replaced by the verified claims");
    // An open operation verifies nothing, so it passes no user info at all.
    let seen = passes(&gw, "/open", &[(USERINFO, forged.clone())]);
    assert_eq!(seen.header(USERINFO), None, "{seen:?}");
    let seen = passes(&gw, "/open", &with_token);
    assert_eq!(seen.header(USERINFO), None, "{seen:?}");
    // A denied request never reaches the backend.
    refused(&gw, "/secure", &[(USERINFO, forged)], 401, "Jwt is missing");
}

#[test]
fn an_x509_certificate_map_verifies_tokens_by_kid() {
    let rsa = SigningKey::rs256("cert-rsa", 0);
    let ec = SigningKey::es256("cert-ec");
    let idp = Idp::start(vec![rsa.clone(), ec.clone()]);
    // Google's form: the account's e-mail address is the last path segment.
    let path = format!("{X509_PATH}/securetoken@system.gserviceaccount.com");
    let gw = start(&one_provider(&idp, Some(&path), &[]), &[]);
    for key in [&rsa, &ec] {
        let claims = idp.claims(AUDIENCE);
        let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
        assert_eq!(userinfo(&seen), claims, "{key:?}");
    }
    // The certificate is chosen by kid: the RSA key under the EC certificate's kid fails.
    let mut header = rsa.header();
    header["kid"] = json!("cert-ec");
    let token = rsa.mint_with_header(&header, &idp.claims(AUDIENCE));
    refused(
        &gw,
        "/secure",
        &bearer(&token),
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
    );
    assert_eq!(idp.fetches(JWKS_PATH), 0);
    assert!(idp.fetches(&path) >= 1, "{:?}", idp.all_fetches());
}

#[test]
fn a_symmetric_key_document_verifies_hs256_tokens() {
    let secret = SigningKey::hs256("any");
    let idp = Idp::start(vec![secret.clone()]);
    let gw = start(&one_provider(&idp, Some(SYMMETRIC_PATH), &[]), &[]);
    // The document has no kid: tokens with or without one verify.
    let claims = idp.claims(AUDIENCE);
    let seen = passes(&gw, "/secure", &bearer(&secret.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    let kidless = secret.mint_with_header(&json!({"alg": "HS256", "typ": "JWT"}), &claims);
    passes(&gw, "/secure", &bearer(&kidless));
    // Another secret does not verify.
    let other = SigningKey::hs256("any").mint(&idp.claims(AUDIENCE));
    refused(
        &gw,
        "/secure",
        &bearer(&other),
        401,
        "Jwt verification fails",
    );
}

#[test]
fn without_a_jwks_uri_the_keys_are_discovered_from_the_issuer() {
    let key = SigningKey::ed25519("ed-1");
    let idp = Idp::start(vec![key.clone()]);
    let gw = start(&one_provider(&idp, None, &[]), &[]);
    let claims = idp.claims(AUDIENCE);
    let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    passes(&gw, "/secure", &bearer(&key.mint(&idp.claims(AUDIENCE))));
    assert_eq!(idp.fetches(DISCOVERY_PATH), 1, "{:?}", idp.all_fetches());
    assert_eq!(idp.fetches(JWKS_PATH), 1, "{:?}", idp.all_fetches());
}

#[test]
fn an_issuer_with_a_path_and_a_trailing_slash_is_discovered_under_it() {
    let key = SigningKey::ed25519("ed-1");
    let idp = Idp::start(vec![key.clone()]);
    idp.set_issuer_path("/realms/demo/");
    let gw = start(&one_provider(&idp, None, &[]), &[]);
    let claims = idp.claims(AUDIENCE);
    assert!(claims["iss"]
        .as_str()
        .unwrap_or_default()
        .ends_with("/realms/demo/"));
    let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    let discovery = format!("/realms/demo{DISCOVERY_PATH}");
    assert_eq!(idp.fetches(&discovery), 1, "{:?}", idp.all_fetches());
}

#[test]
fn an_https_jwks_uri_is_verified_with_the_root_certs_and_sni() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = ca.write_ca(dir.path());
    let key = SigningKey::es256("ec-tls");
    let idp = Idp::start_tls(&ca, vec![key.clone()]);
    assert!(idp.issuer().starts_with("https://localhost:"));
    let spec = one_provider(&idp, Some(JWKS_PATH), &[]);
    let gw = start(
        &spec,
        &["--root-certs", ca_file.to_str().expect("utf-8 path")],
    );
    let claims = idp.claims(AUDIENCE);
    let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    assert_eq!(
        idp.server_names(),
        vec![Some("localhost".to_string())],
        "one TLS connection, with the host name as SNI"
    );

    // Discovery over https works the same way.
    let gw = start(
        &one_provider(&idp, None, &[]),
        &["--root-certs", ca_file.to_str().expect("utf-8 path")],
    );
    passes(&gw, "/secure", &bearer(&key.mint(&idp.claims(AUDIENCE))));
    assert_eq!(idp.fetches(DISCOVERY_PATH), 1, "{:?}", idp.all_fetches());
}

#[test]
fn an_https_idp_with_an_untrusted_certificate_is_never_used() {
    let ca = TestCa::new();
    let key = SigningKey::es256("ec-tls");
    let idp = Idp::start_tls(&ca, vec![key.clone()]);
    // The system CA bundle does not know the test CA.
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), &[]), &[]);
    refused(
        &gw,
        "/secure",
        &bearer(&key.mint(&idp.claims(AUDIENCE))),
        401,
        "Jwks remote fetch is failed",
    );
    assert_eq!(idp.fetches(JWKS_PATH), 0, "no request was sent over TLS");
    assert_eq!(gw.get("/open").status, 200);
}

#[test]
fn discovered_keys_on_another_origin_need_jwks_origin() {
    let key = SigningKey::es256("ec-1");
    let issuer = Idp::start(vec![]);
    let keys = Idp::start(vec![key.clone()]);
    issuer.discover_keys_at(&keys.url(JWKS_PATH));
    let spec = one_provider(&issuer, None, &[]);
    let token = || bearer(&key.mint(&issuer.claims(AUDIENCE)));

    // The compiler only knows the issuer's origin: the gateway cannot call the other one.
    let gw = start(&spec, &[]);
    refused(&gw, "/secure", &token(), 401, "Jwks remote fetch is failed");
    assert_eq!(keys.fetches(JWKS_PATH), 0);

    let gw = start(&spec, &["--jwks-origin", &keys.base()]);
    let claims = issuer.claims(AUDIENCE);
    let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    assert_eq!(keys.fetches(JWKS_PATH), 1, "{:?}", keys.all_fetches());
    assert_eq!(issuer.fetches(JWKS_PATH), 0);
}

#[test]
fn an_ipv6_issuer_is_discovered_and_fetched() {
    let key = SigningKey::es256("ec-6");
    let idp = Idp::start_on("[::1]:0", vec![key.clone()]);
    assert!(
        idp.issuer().starts_with("http://[::1]:"),
        "{}",
        idp.issuer()
    );
    let gw = start(&one_provider(&idp, None, &[]), &[]);
    let claims = idp.claims(AUDIENCE);
    let seen = passes(&gw, "/secure", &bearer(&key.mint(&claims)));
    assert_eq!(userinfo(&seen), claims);
    assert_eq!(idp.fetches(JWKS_PATH), 1, "{:?}", idp.all_fetches());
}
