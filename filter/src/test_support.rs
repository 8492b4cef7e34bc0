//! Fixtures the crate's tests share: an operation, a JWT requirement, and an identity provider
//! with a real ES256 key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use wasp_config::{Alternative, JwtRequirement, Operation, SecurityRequirement};

/// A `method` operation on `template`, routed to `r1`, with nothing else set.
pub fn operation(name: &str, method: &str, template: &str) -> Operation {
    Operation {
        name: name.into(),
        method: method.into(),
        template: template.into(),
        route: "r1".into(),
        allow_all: false,
        path_translation: None,
        backend_auth: None,
        security: None,
    }
}

/// A token from `provider`, nothing else.
pub fn jwt_required(provider: &str) -> SecurityRequirement {
    SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![JwtRequirement {
                provider: provider.into(),
                ..JwtRequirement::default()
            }],
            api_keys: vec![],
        }],
    }
}

/// An identity provider: one ES256 key, its JWK set, and tokens it signs.
pub struct Idp {
    key: ES256KeyPair,
    kid: String,
}

impl Idp {
    pub fn new(kid: &str) -> Idp {
        Idp {
            key: ES256KeyPair::generate().with_key_id(kid),
            kid: kid.into(),
        }
    }

    /// The JWK set publishing the key.
    pub fn jwks(&self) -> Vec<u8> {
        let point = self.key.public_key().public_key().to_bytes_uncompressed();
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": self.kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..]),
        }]})
        .to_string()
        .into_bytes()
    }

    /// A token for `user-7`, valid for 10 minutes.
    pub fn token(&self, issuer: &str, audience: &str) -> String {
        let claims = Claims::create(Duration::from_mins(10))
            .with_issuer(issuer)
            .with_subject("user-7")
            .with_audience(audience);
        self.key.sign(claims).unwrap()
    }
}
