//! The JWT parser and verifier. Two kinds of input:
//! - a compact token (anything not starting with `{`), parsed and checked against the
//!   RFC 7515 appendix keys (RS256, ES256, HS256) at the appendix tokens' time;
//! - `HEADER-JSON\nPAYLOAD-JSON`: the target signs it with the HS256 key, so the fuzzer
//!   reaches the checks that run after a valid signature (issuer, times, audience, scopes,
//!   client ids, the user-info header).
//!
//! Checks: never a panic; a verified token parses and carries the provider's issuer; every
//! rejection is a 4xx/5xx with a message.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use wasp_jwt::userinfo::userinfo_value;
use wasp_jwt::{
    parse_key_document, token, JwksSource, KeySet, Keys, Provider, Rules, Verdict, Verifier,
};

/// RFC 7515 A.1's HMAC key (base64url) and A.2 / A.3's public keys.
const HS_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RS_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// Just before the appendix tokens' `exp`.
const NOW: u64 = 1_300_819_380;

struct Fixture {
    public: KeySet,
    hmac: KeySet,
    secret: Vec<u8>,
    provider: Provider,
    strict: Provider,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let jwks = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{RS_N}","e":"AQAB"}},{{"kty":"EC","crv":"P-256","x":"{EC_X}","y":"{EC_Y}","kid":"ec"}}]}}"#
        );
        let jwks_source = || JwksSource::Uri("https://joe.example/jwks".into());
        let mut strict = Provider::new("strict", "joe", jwks_source());
        strict.require_expiration = true;
        strict.allowed_client_ids = Some(vec!["client-1".into()]);
        strict.audiences = vec!["fuzz-audience".into()];
        Fixture {
            public: parse_key_document(jwks.as_bytes()).unwrap(),
            hmac: parse_key_document(HS_KEY.as_bytes()).unwrap(),
            secret: URL_SAFE_NO_PAD.decode(HS_KEY).unwrap(),
            provider: Provider::new("joe", "joe", jwks_source()),
            strict,
        }
    })
}

fn check(verifier: &mut Verifier, provider: &Provider, keys: &KeySet, token: &str, rules: Rules) {
    let keys = Keys::Ready {
        keys,
        generation: 1,
        may_refresh: true,
    };
    match verifier.check(provider, rules, token, keys, NOW) {
        Verdict::Verified(verified) => {
            let parsed = token::parse(token)
                .unwrap_or_else(|e| panic!("verified a token the parser refuses ({e:?}): {token}"));
            assert_eq!(parsed.claims, verified.claims);
            assert_eq!(
                verified.claims.get("iss").and_then(|v| v.as_str()),
                Some(provider.issuer.as_str())
            );
            let _ = userinfo_value(&verified, true);
            let _ = userinfo_value(&verified, false);
        }
        Verdict::Rejected(error) => {
            assert!((400..600).contains(&error.status()), "{error:?}");
            assert!(!error.message().is_empty());
            let _ = error.www_authenticate("fuzz.example.com");
        }
        Verdict::Pending(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let text = String::from_utf8_lossy(data);
    let token = if text.starts_with('{') {
        let (header, payload) = text.split_once('\n').unwrap_or((&text, "{}"));
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = hmac_sha256::HMAC::mac(input.as_bytes(), &fixture.secret);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    } else {
        text.into_owned()
    };
    let _ = token::parse(&token);
    let mut verifier = Verifier::default();
    let none: [String; 0] = [];
    let audiences = ["fuzz-audience".to_string()];
    let scopes = ["read".to_string(), "write admin".to_string()];
    let open = Rules {
        audiences: &none,
        scopes: &none,
    };
    let strict = Rules {
        audiences: &audiences,
        scopes: &scopes,
    };
    for keys in [&fixture.public, &fixture.hmac] {
        check(&mut verifier, &fixture.provider, keys, &token, open);
        // Twice: the second answer comes from the verifier's caches.
        check(&mut verifier, &fixture.provider, keys, &token, open);
        check(&mut verifier, &fixture.strict, keys, &token, strict);
    }
});
