//! The checks on a token, each answered with ESPv2's status, body and `WWW-Authenticate`:
//! signatures (forged, tampered, `alg: none`, HS/RS confusion), issuer, audiences (the
//! default `https://<host>`, configured ones, string or list), `exp`/`nbf` with the default
//! 60 s skew and `--jwt-clock-skew-seconds`, tokens up to Envoy's header limit; and hostile
//! tokens never crash the filter.

use serde_json::{json, Value};
use wasp_tests::http::send_raw;
use wasp_tests::idp::{b64, compact, hs256_with_secret, now, JWKS_PATH};
use wasp_tests::{Idp, SigningKey};

use crate::jwt_support::*;

const VERIFICATION_FAILS: &str = "Jwt verification fails";
const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";
const AUDIENCE_NOT_ALLOWED: &str = "Audiences in Jwt are not allowed";

/// A gateway for one provider with an RSA and an EC key.
fn gateway(extra: &[&str], args: &[&str]) -> (Idp, JwtGateway, SigningKey, SigningKey) {
    let rsa = SigningKey::rs256("rsa-1", 0);
    let ec = SigningKey::es256("ec-1");
    let idp = Idp::start(vec![rsa.clone(), ec.clone()]);
    let gw = start(&one_provider(&idp, Some(JWKS_PATH), extra), args);
    (idp, gw, rsa, ec)
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("an object of changes") {
        if value.is_null() {
            claims.as_object_mut().expect("claims").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[test]
fn forged_and_tampered_signatures_are_refused() {
    let (idp, gw, rsa, ec) = gateway(&[], &[]);
    let claims = idp.claims(AUDIENCE);
    passes(&gw, "/secure", &bearer(&ec.mint(&claims)));

    // Another key under a published kid.
    for impostor in [SigningKey::es256("ec-1"), SigningKey::rs256("rsa-1", 1)] {
        refused(
            &gw,
            "/secure",
            &bearer(&impostor.mint(&claims)),
            401,
            VERIFICATION_FAILS,
        );
    }
    // A signed token whose payload was swapped for another.
    let token = rsa.mint(&claims);
    let mut parts: Vec<&str> = token.split('.').collect();
    let elevated = b64(with(claims.clone(), json!({"sub": "admin"})).to_string());
    parts[1] = &elevated;
    refused(
        &gw,
        "/secure",
        &bearer(&parts.join(".")),
        401,
        VERIFICATION_FAILS,
    );
    // A signature that is not base64url.
    let (input, _) = token.rsplit_once('.').expect("three parts");
    refused(
        &gw,
        "/secure",
        &bearer(&format!("{input}.abc+/def")),
        401,
        "Jwt signature is an invalid Base64url encoded",
    );
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    let (idp, gw, rsa, ec) = gateway(&[], &[]);
    let claims = idp.claims(AUDIENCE);

    let none = json!({"alg": "none", "kid": "rsa-1", "typ": "JWT"});
    let unsigned = format!("{}.{}.", b64(none.to_string()), b64(claims.to_string()));
    refused(
        &gw,
        "/secure",
        &bearer(&unsigned),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    );
    let none_signed = compact(&none, &claims, |_| b"sig".to_vec());
    refused(
        &gw,
        "/secure",
        &bearer(&none_signed),
        401,
        "Jwt header [alg] is not supported",
    );

    // HS256 "signed" with the RSA public key (DER, and PEM text) under the RSA key's kid.
    let header = json!({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"});
    let der = rsa.rsa_public_der().expect("an RSA key");
    let pem = rsa.certificate_pem().expect("a certificate").into_bytes();
    for secret in [der, pem] {
        let token = hs256_with_secret(&secret, &header, &claims);
        refused(&gw, "/secure", &bearer(&token), 401, NO_KEY);
    }
    // An EC signature labelled RS256 under the EC key's kid, and the reverse.
    let mut header = ec.header();
    header["alg"] = json!("RS256");
    refused(
        &gw,
        "/secure",
        &bearer(&ec.mint_with_header(&header, &claims)),
        401,
        NO_KEY,
    );
    let mut header = rsa.header();
    header["alg"] = json!("ES256");
    refused(
        &gw,
        "/secure",
        &bearer(&rsa.mint_with_header(&header, &claims)),
        401,
        NO_KEY,
    );
}

#[test]
fn the_issuer_must_be_a_configured_provider() {
    let (idp, gw, _, ec) = gateway(&[], &[]);
    for iss in [
        json!("https://accounts.google.com"),
        json!(format!("{}/", idp.issuer())),
        Value::Null,
    ] {
        let token = ec.mint(&with(idp.claims(AUDIENCE), json!({ "iss": iss })));
        refused(
            &gw,
            "/secure",
            &bearer(&token),
            401,
            "Jwt issuer is not configured",
        );
    }
}

#[test]
fn the_default_audience_is_https_and_the_host() {
    let (idp, gw, _, ec) = gateway(&[], &[]);
    for aud in [
        json!(AUDIENCE),
        json!(format!("{AUDIENCE}/")),
        json!(HOST),
        json!(["https://other.example.com", AUDIENCE]),
    ] {
        let claims = with(idp.claims(AUDIENCE), json!({ "aud": aud }));
        let seen = passes(&gw, "/secure", &bearer(&ec.mint(&claims)));
        assert_eq!(userinfo(&seen)["aud"], claims["aud"]);
    }
    for aud in [
        json!("https://other.example.com"),
        json!(["https://other.example.com", "jwt.example"]),
        json!([]),
        Value::Null,
    ] {
        let token = ec.mint(&with(idp.claims(AUDIENCE), json!({ "aud": aud })));
        refused(&gw, "/secure", &bearer(&token), 403, AUDIENCE_NOT_ALLOWED);
    }
}

#[test]
fn configured_audiences_replace_the_default() {
    let (idp, gw, _, ec) = gateway(
        &["x-google-audiences: \"aud-a,https://aud-b.example\""],
        &[],
    );
    for aud in [
        json!("aud-a"),
        json!("https://aud-b.example"),
        json!(["zzz", "aud-a"]),
    ] {
        let token = ec.mint(&with(idp.claims(AUDIENCE), json!({ "aud": aud })));
        passes(&gw, "/secure", &bearer(&token));
    }
    for aud in [
        json!(AUDIENCE),
        json!("aud-c"),
        json!(["aud-a,https://aud-b.example"]),
    ] {
        let token = ec.mint(&with(idp.claims(AUDIENCE), json!({ "aud": aud })));
        refused(&gw, "/secure", &bearer(&token), 403, AUDIENCE_NOT_ALLOWED);
    }
}

#[test]
fn expiry_and_not_before_allow_sixty_seconds_of_skew() {
    let (idp, gw, _, ec) = gateway(&[], &[]);
    let now = now();
    let token = |changes: Value| bearer(&ec.mint(&with(idp.claims(AUDIENCE), changes)));
    for changes in [
        json!({"exp": now - 30}),
        json!({"nbf": now + 30}),
        json!({"exp": null}),
        json!({"exp": now + 60, "nbf": now - 60}),
    ] {
        passes(&gw, "/secure", &token(changes));
    }
    refused(
        &gw,
        "/secure",
        &token(json!({"exp": now - 90})),
        401,
        "Jwt is expired",
    );
    refused(
        &gw,
        "/secure",
        &token(json!({"nbf": now + 90})),
        401,
        "Jwt not yet valid",
    );
    refused(
        &gw,
        "/secure",
        &token(json!({"exp": "tomorrow"})),
        401,
        "Jwt payload [exp] field is not an integer",
    );
}

#[test]
fn the_clock_skew_is_an_option() {
    let (idp, strict, _, ec) = gateway(&[], &["--jwt-clock-skew-seconds", "0"]);
    let now = now();
    let token = |changes: Value| bearer(&ec.mint(&with(idp.claims(AUDIENCE), changes)));
    refused(
        &strict,
        "/secure",
        &token(json!({"exp": now - 5})),
        401,
        "Jwt is expired",
    );
    refused(
        &strict,
        "/secure",
        &token(json!({"nbf": now + 5})),
        401,
        "Jwt not yet valid",
    );
    passes(
        &strict,
        "/secure",
        &token(json!({"exp": now + 5, "nbf": now - 1})),
    );

    let lenient = start(
        &one_provider(&idp, Some(JWKS_PATH), &[]),
        &["--jwt-clock-skew-seconds", "300"],
    );
    passes(&lenient, "/secure", &token(json!({"exp": now - 200})));
    passes(&lenient, "/secure", &token(json!({"nbf": now + 200})));
    refused(
        &lenient,
        "/secure",
        &token(json!({"exp": now - 400})),
        401,
        "Jwt is expired",
    );
}

#[test]
fn tokens_up_to_envoys_header_limit_are_judged_and_bigger_requests_never_reach_the_filter() {
    let (idp, gw, _, ec) = gateway(&[], &[]);
    let padded = |bytes: usize| {
        ec.mint(&with(
            idp.claims(AUDIENCE),
            json!({ "pad": "p".repeat(bytes) }),
        ))
    };
    // ESPv2 accepts an 8,000-character claim; so does wasp, in the header or the query.
    let espv2_sized = padded(8_000);
    assert!(espv2_sized.len() > 8 * 1024);
    passes(&gw, "/secure", &bearer(&espv2_sized));
    passes(&gw, &format!("/secure?access_token={espv2_sized}"), &[]);
    let large = padded(30 * 1024);
    let seen = passes(&gw, "/secure", &bearer(&large));
    assert_eq!(
        userinfo(&seen)["pad"].as_str().map(str::len),
        Some(30 * 1024)
    );
    // A forged large token is still checked.
    let forged = SigningKey::es256("ec-1").mint(&with(
        idp.claims(AUDIENCE),
        json!({ "pad": "p".repeat(30 * 1024) }),
    ));
    refused(&gw, "/secure", &bearer(&forged), 401, VERIFICATION_FAILS);
    // Past Envoy's 60 KiB header limit Envoy itself answers 431; the filter never sees it.
    let too_large = padded(70 * 1024);
    assert_eq!(send(&gw, "/secure", &bearer(&too_large)).status, 431);
    gw.assert_filter_alive();
}

#[test]
fn www_authenticate_never_echoes_the_url_or_the_token() {
    let (idp, gw, _, ec) = gateway(&[], &[]);
    let token = ec.mint(&with(idp.claims(AUDIENCE), json!({"exp": now() - 3600})));
    let path = "/secure?access_token=zzz&secret-marker=1";
    for headers in [vec![], bearer(&token).to_vec()] {
        let reply = send(&gw, path, &headers);
        let value = reply
            .header("www-authenticate")
            .unwrap_or_else(|| panic!("no WWW-Authenticate: {reply:?}"))
            .to_string();
        for leak in ["/secure", "secret-marker", "zzz", &token[..20], "127.0.0.1"] {
            assert!(!value.contains(leak), "{value:?} contains {leak:?}");
        }
        assert!(
            value.starts_with(&format!("Bearer realm=\"{HOST}\"")),
            "{value}"
        );
    }
}

#[test]
fn hostile_tokens_get_a_401_and_never_crash_the_filter() {
    let (idp, gw, rsa, ec) = gateway(&[], &[]);
    let claims = idp.claims(AUDIENCE);
    let sign = |header: Value, payload: &str| {
        let input = format!("{}.{}", b64(header.to_string()), b64(payload));
        format!("{input}.{}", b64(ec.sign(input.as_bytes())))
    };
    let raw = |header: &str, payload: &str| format!("{}.{}.c2ln", b64(header), b64(payload));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let claims_text = claims.to_string();
    let hostile: Vec<String> = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        "a.b.c.d.e".into(),
        raw("null", &claims_text),
        raw("[]", &claims_text),
        raw(r#"{"alg":1}"#, &claims_text),
        raw(r#"{"alg":"RS256","alg":"none"}"#, &claims_text),
        raw(&deep, &claims_text),
        raw(r#"{"alg":"ES256","kid":"ec-1"}"#, &deep),
        raw(r#"{"alg":"ES256","kid":"ec-1"}"#, "\u{0000}"),
        raw(r#"{"alg":"ES512","kid":"ec-1"}"#, &claims_text),
        raw(
            r#"{"alg":"ES256","kid":"ec-1","crit":["exp"]}"#,
            &claims_text,
        ),
        raw(r#"{"alg":"ES256","kid":"ec-1","cty":"JWT"}"#, &claims_text),
        raw(
            r#"{"alg":"ES256","kid":"ec-1","typ":"JOSE+JSON"}"#,
            &claims_text,
        ),
        raw(
            &json!({"alg": "ES256", "kid": "k".repeat(5000)}).to_string(),
            &claims_text,
        ),
        raw(r#"{"alg":"ES256","kid":{"$ne":null}}"#, &claims_text),
        format!(
            "{}.{}.{}",
            b64("{\"alg\":\"ES256\"}"),
            b64(&claims_text),
            "A".repeat(6000)
        ),
        format!("{}=.{}.c2ln", b64(r#"{"alg":"ES256"}"#), b64(&claims_text)),
        sign(
            ec.header(),
            &claims_text.replace("\"exp\":", "\"exp\":1e400,\"x\":"),
        ),
        sign(
            ec.header(),
            &with(claims.clone(), json!({"exp": -1})).to_string(),
        ),
        sign(
            ec.header(),
            &with(claims.clone(), json!({"aud": [1, 2]})).to_string(),
        ),
        sign(
            ec.header(),
            &with(claims.clone(), json!({"iss": ["a"]})).to_string(),
        ),
        sign(
            ec.header(),
            &with(claims.clone(), json!({"sub": {"id": 1}})).to_string(),
        ),
        sign(
            ec.header(),
            &format!("{{\"iss\":{:?},\"iss\":\"x\"}}", idp.issuer()),
        ),
        sign(ec.header(), "[]"),
        sign(rsa.header(), &claims_text),
    ];
    for token in &hostile {
        for headers in [
            vec![("authorization", format!("Bearer {token}"))],
            vec![("x-goog-iap-jwt-assertion", token.clone())],
        ] {
            let reply = send(&gw, "/secure", &headers);
            assert!(
                reply.status == 401 || reply.status == 403,
                "{token:.60}: {reply:?}"
            );
            let body = reply.json();
            assert_eq!(body["code"], reply.status, "{reply:?}");
            assert!(reply.header("www-authenticate").is_some(), "{reply:?}");
        }
    }
    // Bytes no client library would send.
    for value in [
        &b"Bearer \xff\xfe\xfd"[..],
        b"Bearer a.\x80.b",
        b"Bearer \x01\x02",
    ] {
        let mut request = b"GET /secure HTTP/1.1\r\nHost: h\r\nAuthorization: ".to_vec();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\n");
        let status = send_raw(gw.envoy.listener, &request);
        assert!(
            matches!(status, Some(400) | Some(401) | None),
            "{value:?}: {status:?}"
        );
    }
    gw.assert_filter_alive();
    passes(&gw, "/secure", &bearer(&ec.mint(&claims)));
}
