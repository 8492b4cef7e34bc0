//! Real RS256 ID tokens for backend-auth tests: one key pair per test process
//! (RSA key generation is slow in a debug build), used by the metadata server
//! to sign and by the echo backends to verify what reached them.

use std::sync::OnceLock;

use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};

/// `iss` of every token the test metadata server mints.
pub const ISSUER: &str = "https://accounts.wasp-test.invalid";

/// Lifetime of a minted token: long enough that no test sees a refresh.
const LIFETIME_S: u64 = 3600;

fn key_pair() -> &'static RS256KeyPair {
    static KEY: OnceLock<RS256KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        RS256KeyPair::generate(2048)
            .expect("generate the test RSA key")
            .with_key_id("wasp-test")
    })
}

/// The public half of the signing key (PEM), for anyone who wants to verify by hand.
pub fn public_key_pem() -> String {
    key_pair()
        .public_key()
        .to_pem()
        .expect("encode the test public key")
}

/// A signed token for `audience` (`iss` = [`ISSUER`], `exp` one hour ahead).
pub fn mint(audience: &str) -> String {
    let claims = Claims::create(Duration::from_secs(LIFETIME_S))
        .with_issuer(ISSUER)
        .with_subject("wasp-test-service-account")
        .with_audience(audience);
    key_pair().sign(claims).expect("sign a test ID token")
}

/// What a backend concluded about the `Authorization` header it received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCheck {
    /// A `Bearer` token signed by the test key, issued by [`ISSUER`], not expired, for this audience.
    Valid { audience: String },
    /// A `Bearer` value that is not such a token (the reason from the verifier).
    Invalid { reason: String },
}

/// Checks an `Authorization` value; `None` when it is not a `Bearer` credential at all.
pub fn check_authorization(value: &str) -> Option<TokenCheck> {
    let token = value.strip_prefix("Bearer ")?;
    // Other issuers' tokens (the JWT tests' identity provider) cannot be ours; checking
    // them would make the key (seconds in a debug build) inside the echo backend's reply.
    if unverified_issuer(token).as_deref() != Some(ISSUER) {
        return Some(TokenCheck::Invalid {
            reason: format!("not issued by {ISSUER}"),
        });
    }
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
        ..Default::default()
    };
    let checked = match key_pair()
        .public_key()
        .verify_token::<NoCustomClaims>(token, Some(options))
    {
        Ok(claims) => match claims.audiences {
            Some(Audiences::AsString(audience)) => TokenCheck::Valid { audience },
            other => TokenCheck::Invalid {
                reason: format!("expected one audience, got {other:?}"),
            },
        },
        Err(e) => TokenCheck::Invalid {
            reason: e.to_string(),
        },
    };
    Some(checked)
}

/// The `iss` of a compact JWS, read without verifying anything.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    Some(claims.get("iss")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_for_its_audience_only_with_this_key() {
        let token = mint("https://backend.example");
        assert_eq!(
            check_authorization(&format!("Bearer {token}")),
            Some(TokenCheck::Valid {
                audience: "https://backend.example".into()
            })
        );
        assert_eq!(check_authorization(&token), None, "no Bearer prefix");
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            check_authorization(&format!("Bearer {tampered}")),
            Some(TokenCheck::Invalid { .. })
        ));
        let other = RS256KeyPair::generate(2048).unwrap();
        let foreign = other
            .sign(Claims::create(Duration::from_secs(60)).with_issuer(ISSUER))
            .unwrap();
        assert!(matches!(
            check_authorization(&format!("Bearer {foreign}")),
            Some(TokenCheck::Invalid { .. })
        ));
        assert!(matches!(
            check_authorization("Bearer not.a-token"),
            Some(TokenCheck::Invalid { .. })
        ));
    }
}
