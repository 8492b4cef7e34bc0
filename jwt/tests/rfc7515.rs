//! RFC 7515 Appendix A: the published keys and tokens, verified byte for byte (A.1-A.3), and
//! the two wasp must refuse cleanly (A.4 ES512, A.5 unsecured).

mod support;

use serde_json::json;
use support::*;
use wasp_jwt::{parse_key_document, JwksSource, JwtError, Provider};

const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
/// `exp` of the sample payload (2011-03-22); the tokens are checked just before it.
const EXP: u64 = 1_300_819_380;

const A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const A1_TOKEN_HEADER: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
const A1_SIG: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const A3_SIG: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

const A4_TOKEN: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
const A4_X: &str =
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
const A4_Y: &str =
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

/// The RFC's issuer is "joe" and its tokens carry no audience.
fn joe() -> Provider {
    Provider::new(
        "joe",
        "joe",
        JwksSource::Uri("https://joe.example/jwks".into()),
    )
}

fn no_default_audience(
    provider: &Provider,
    keys: &wasp_jwt::KeySet,
    token: &str,
    now: u64,
) -> Option<JwtError> {
    let mut verifier = wasp_jwt::Verifier::default();
    let rules = wasp_jwt::Rules {
        audiences: &[],
        scopes: &[],
    };
    let keys = wasp_jwt::Keys::Ready {
        keys,
        generation: 1,
        may_refresh: false,
    };
    match verifier.check(provider, rules, token, keys, now) {
        wasp_jwt::Verdict::Verified(_) => None,
        wasp_jwt::Verdict::Rejected(e) => Some(e),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a1_hs256() {
    let keys = keyset(A1_KEY.as_bytes());
    let token = format!("{A1_TOKEN_HEADER}.{PAYLOAD}.{A1_SIG}");
    assert_eq!(no_default_audience(&joe(), &keys, &token, EXP), None);
    assert_eq!(
        no_default_audience(&joe(), &keys, &token, EXP + 61),
        Some(JwtError::Expired)
    );
    // With ESPv2's default audience the audience-less token is a 403.
    assert_eq!(
        rejection(&joe(), &keys, &token, EXP),
        Some(JwtError::AudienceNotAllowed)
    );
    // One flipped signature bit.
    let bad = format!(
        "{A1_TOKEN_HEADER}.{PAYLOAD}.{}",
        A1_SIG.replacen('d', "e", 1)
    );
    assert_eq!(
        no_default_audience(&joe(), &keys, &bad, EXP),
        Some(JwtError::VerificationFailed)
    );
}

#[test]
fn a2_rs256() {
    let keys = keyset(&jwks(&[json!({"kty": "RSA", "n": A2_N, "e": "AQAB"})]));
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}.{A2_SIG}");
    assert_eq!(no_default_audience(&joe(), &keys, &token, EXP), None);
    let mut other = joe();
    other.issuer = "jane".into();
    assert_eq!(
        no_default_audience(&other, &keys, &token, EXP),
        Some(JwtError::UnknownIssuer)
    );
}

#[test]
fn a3_es256() {
    let keys = keyset(&jwks(&[
        json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y}),
    ]));
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.{A3_SIG}");
    assert_eq!(no_default_audience(&joe(), &keys, &token, EXP), None);
}

#[test]
fn a4_es512_is_refused_cleanly() {
    // The P-521 key is not loadable, and the token's algorithm is not one wasp verifies.
    let doc = jwks(&[json!({"kty": "EC", "crv": "P-521", "x": A4_X, "y": A4_Y})]);
    assert!(matches!(
        parse_key_document(&doc),
        Err(wasp_jwt::JwksError::NoUsableKeys(_))
    ));
    let keys = keyset(&jwks(&[
        json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y}),
    ]));
    assert_eq!(
        no_default_audience(&joe(), &keys, A4_TOKEN, EXP),
        Some(JwtError::UnsupportedAlgorithm)
    );
}

#[test]
fn a5_unsecured_is_refused_cleanly() {
    let keys = keyset(A1_KEY.as_bytes());
    let token = format!("eyJhbGciOiJub25lIn0.{PAYLOAD}.");
    assert_eq!(
        no_default_audience(&joe(), &keys, &token, EXP),
        Some(JwtError::BadFormat)
    );
    // Even with something in the signature slot, `none` is never an algorithm.
    let token = format!("eyJhbGciOiJub25lIn0.{PAYLOAD}.{A1_SIG}");
    assert_eq!(
        no_default_audience(&joe(), &keys, &token, EXP),
        Some(JwtError::UnsupportedAlgorithm)
    );
}
