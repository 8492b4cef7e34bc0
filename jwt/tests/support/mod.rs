//! Real keys, real key documents and real signed tokens for the tests.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

use wasp_jwt::{
    parse_key_document, Alternative, Decision, JwksSource, JwtRequirement, KeySet, Keys, Provider,
    RequestParts, SecurityRequirement, Service, Verifier,
};

/// The fixed "now" of the tests (2027-01-15).
pub const NOW: u64 = 1_800_000_000;
pub const ISSUER: &str = "https://issuer.example";
pub const SERVICE: &str = "api.example.com";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key of any supported family, with its kid.
pub enum Signer {
    Rsa(RS256KeyPair),
    Es256(ES256KeyPair),
    Es384(ES384KeyPair),
    Ed25519(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl Signer {
    /// RSA-2048 key number `index` (0..3) of a pool generated once per test binary:
    /// key generation in pure Rust takes seconds in a debug build.
    pub fn rsa(index: usize) -> Signer {
        static POOL: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        let pool = POOL.get_or_init(|| {
            (0..3)
                .map(|_| {
                    RS256KeyPair::generate(2048)
                        .expect("rsa keygen")
                        .to_der()
                        .unwrap()
                })
                .collect()
        });
        Signer::Rsa(RS256KeyPair::from_der(&pool[index]).expect("pooled key"))
    }
    pub fn es256() -> Signer {
        Signer::Es256(ES256KeyPair::generate())
    }
    pub fn es384() -> Signer {
        Signer::Es384(ES384KeyPair::generate())
    }
    pub fn ed25519() -> Signer {
        Signer::Ed25519(Ed25519KeyPair::generate())
    }
    pub fn hmac() -> Signer {
        Signer::Hmac(
            (0u8..48)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect(),
        )
    }

    /// Signs `signing_input` as `alg` would (raw JWS signature bytes).
    pub fn sign_raw(&self, alg: &str, signing_input: &[u8]) -> Vec<u8> {
        use superboring::hash::MessageDigest;
        use superboring::pkey::PKey;
        use superboring::rsa::Padding;
        use superboring::sign::Signer as RsaSigner;
        match self {
            Signer::Rsa(kp) => {
                let (digest, padding) = match alg {
                    "RS256" => (MessageDigest::sha256(), Padding::PKCS1),
                    "RS384" => (MessageDigest::sha384(), Padding::PKCS1),
                    "RS512" => (MessageDigest::sha512(), Padding::PKCS1),
                    "PS256" => (MessageDigest::sha256(), Padding::PKCS1_PSS),
                    "PS384" => (MessageDigest::sha384(), Padding::PKCS1_PSS),
                    "PS512" => (MessageDigest::sha512(), Padding::PKCS1_PSS),
                    other => panic!("RSA key cannot sign {other}"),
                };
                let pkey = PKey::from_rsa(kp.key_pair().as_ref().clone()).unwrap();
                let mut signer = RsaSigner::new(digest, &pkey).unwrap();
                signer.set_rsa_padding(padding).unwrap();
                signer.update(signing_input).unwrap();
                signer.sign_to_vec().unwrap()
            }
            Signer::Es256(kp) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = kp.key_pair().as_ref().sign(signing_input);
                sig.to_bytes().to_vec()
            }
            Signer::Es384(kp) => {
                use p384::ecdsa::signature::Signer as _;
                let sig: p384::ecdsa::Signature = kp.key_pair().as_ref().sign(signing_input);
                sig.to_bytes().to_vec()
            }
            Signer::Ed25519(kp) => {
                let sk = ed25519_compact::KeyPair::from_slice(&kp.to_bytes()).unwrap();
                sk.sk.sign(signing_input, None).to_vec()
            }
            Signer::Hmac(secret) => hmac(alg, secret, signing_input),
        }
    }

    /// The natural algorithm of this key.
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Rsa(_) => "RS256",
            Signer::Es256(_) => "ES256",
            Signer::Es384(_) => "ES384",
            Signer::Ed25519(_) => "EdDSA",
            Signer::Hmac(_) => "HS256",
        }
    }

    /// This key as a public JWK with `kid` (and no `alg` unless given).
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Rsa(kp) => {
                let c = kp.public_key().to_components();
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Signer::Es256(kp) => ec_jwk(
                kid,
                "P-256",
                &kp.public_key().public_key().to_bytes_uncompressed(),
                32,
            ),
            Signer::Es384(kp) => ec_jwk(
                kid,
                "P-384",
                &kp.public_key().public_key().to_bytes_uncompressed(),
                48,
            ),
            Signer::Ed25519(kp) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(kp.public_key().to_bytes())})
            }
            Signer::Hmac(secret) => json!({"kty": "oct", "kid": kid, "k": b64(secret)}),
        }
    }
}

fn ec_jwk(kid: &str, crv: &str, point: &[u8], size: usize) -> Value {
    let x = &point[1..1 + size];
    let y = &point[1 + size..];
    json!({"kty": "EC", "crv": crv, "kid": kid, "x": b64(x), "y": b64(y)})
}

pub fn hmac(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    match alg {
        "HS256" => hmac_sha256::HMAC::mac(input, secret).to_vec(),
        "HS384" => hmac_sha512::sha384::HMAC::mac(input, secret).to_vec(),
        "HS512" => hmac_sha512::HMAC::mac(input, secret).to_vec(),
        other => panic!("not an HMAC alg: {other}"),
    }
}

/// A compact JWS over exactly these header and payload bytes.
pub fn mint_raw(signer: &Signer, alg: &str, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign_raw(alg, input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// A token from `signer` with its natural alg, header `{"alg","kid","typ"}` and these claims.
pub fn mint(signer: &Signer, kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"alg": signer.alg(), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    mint_raw(
        signer,
        signer.alg(),
        &header.to_string(),
        &claims.to_string(),
    )
}

/// Claims valid at [`NOW`] for [`ISSUER`] and the service's default audience.
pub fn good_claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": format!("https://{SERVICE}"),
        "iat": NOW - 10,
        "exp": NOW + 3600,
    })
}

pub fn jwks(keys: &[Value]) -> Vec<u8> {
    json!({ "keys": keys }).to_string().into_bytes()
}

pub fn keyset(document: &[u8]) -> KeySet {
    parse_key_document(document).expect("key document parses")
}

pub fn provider() -> Provider {
    Provider::new(
        "idp",
        ISSUER,
        JwksSource::Uri("https://issuer.example/jwks".into()),
    )
}

pub fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".to_string(), format!("Bearer {token}"))]
}

/// One-provider requirement evaluation, the way the filter will call it.
pub fn decide(
    provider: &Provider,
    keys: &KeySet,
    verifier: &mut Verifier,
    token: &str,
    now: u64,
) -> Decision {
    let requirement = SecurityRequirement {
        allow_missing: false,
        alternatives: vec![Alternative {
            jwt: vec![JwtRequirement {
                provider: provider.id.clone(),
                ..Default::default()
            }],
            api_keys: vec![],
        }],
    };
    let providers = std::slice::from_ref(provider);
    let headers = bearer(token);
    wasp_jwt::evaluate(
        &requirement,
        Service {
            name: SERVICE,
            providers,
            default_audience: true,
        },
        RequestParts {
            headers: &headers,
            query: "",
        },
        &|_| Keys::Ready {
            keys,
            generation: 1,
            may_refresh: false,
        },
        verifier,
        now,
    )
}

/// The error a one-provider evaluation denies with, or `None` if allowed.
pub fn rejection(
    provider: &Provider,
    keys: &KeySet,
    token: &str,
    now: u64,
) -> Option<wasp_jwt::JwtError> {
    match decide(provider, keys, &mut Verifier::default(), token, now) {
        Decision::Denied(e) => Some(e),
        Decision::Allowed { .. } => None,
        other => panic!("unexpected decision {other:?}"),
    }
}
