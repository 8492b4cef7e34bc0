//! The key-document parsers: a JWK set, an X.509 certificate map or a base64url secret, and
//! an OpenID discovery document. Checks: never a panic; an accepted document has between 1
//! and MAX_KEYS-per-key entries, and its keys can be asked to verify real tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasp_jwt::jwks::MAX_KEYS;
use wasp_jwt::{parse_discovery_document, parse_key_document, token, Algorithm};

/// RFC 7515 A.2 (RS256), A.3 (ES256) and A.1 (HS256) tokens.
const TOKENS: [&str; 3] = [
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
];

fuzz_target!(|data: &[u8]| {
    if let Ok(uri) = parse_discovery_document(data) {
        assert!(uri.starts_with("https://") || uri.starts_with("http://"));
    }
    let Ok(keys) = parse_key_document(data) else {
        return;
    };
    assert!(!keys.is_empty(), "an accepted key document has keys");
    // Each key yields one entry per algorithm it allows (an RSA key all six).
    assert!(
        keys.len() <= MAX_KEYS * Algorithm::RSA.len(),
        "{} entries",
        keys.len()
    );
    for key in keys.entries() {
        for token in TOKENS {
            let _ = key.verify_signature(token);
        }
    }
    for token in TOKENS {
        let Ok(parsed) = token::parse(token) else {
            panic!("fixture token does not parse");
        };
        for candidate in keys.candidates(parsed.kid.as_deref(), parsed.alg) {
            assert_eq!(candidate.alg, parsed.alg);
        }
        for candidate in keys.candidates(Some("k"), parsed.alg) {
            assert!(candidate.kid.is_none() || candidate.kid.as_deref() == Some("k"));
        }
    }
});
