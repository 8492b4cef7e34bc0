//! Verification keys: one entry per (key, algorithm) the key may verify, built once per JWKS
//! generation. The key's type (from the JWK or certificate) decides which algorithms it can
//! ever verify, so an RSA or EC key never becomes an HMAC secret (no alg confusion).
//!
//! Every signature is checked with `ring`: in V8 an RS256 verify costs about 250 us with it
//! against about 1.1 ms with RustCrypto's `rsa` (ES256: 0.77 against 1.1 ms), and a token
//! seen for the first time pays that on every worker. One crypto library also keeps the
//! module small (jwt-simple's RustCrypto stack was 170 KB of it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};

use crate::alg::Algorithm;

/// Smallest RSA modulus accepted (NIST: 2048 bits); smaller keys are skipped when loading.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: bigger moduli only make verification slower.
pub const MAX_RSA_BITS: usize = 4096;
/// An Ed25519 public key (RFC 8032).
const ED25519_KEY_BYTES: usize = 32;
/// Smallest HMAC secret accepted (RFC 7518 3.2 asks for at least the hash size).
pub const MIN_HMAC_BYTES: usize = 32;

/// A key ready to verify one algorithm.
pub struct VerifierKey {
    /// The JWK `kid` (or certificate map key), if any.
    pub kid: Option<String>,
    /// The only algorithm this entry verifies.
    pub alg: Algorithm,
    material: Material,
}

enum Material {
    /// Big-endian modulus and exponent without leading zeros, and the padding + hash to use.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        params: &'static ring_sig::RsaParameters,
    },
    /// An uncompressed SEC1 point; signatures are JWS's fixed-width `r || s`.
    Ecdsa {
        point: Vec<u8>,
        params: &'static ring_sig::EcdsaVerificationAlgorithm,
    },
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
    /// HS256/384/512: the secret keyed for that hash.
    Hmac(hmac::Key),
}

impl std::fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Why a key could not be loaded (it is then skipped; the reason is kept for logs).
pub type KeyError = String;

impl VerifierKey {
    /// RSA entries from big-endian modulus and exponent, for each algorithm in `algs`.
    pub fn rsa(
        kid: Option<String>,
        n: &[u8],
        e: &[u8],
        algs: &[Algorithm],
    ) -> Result<Vec<VerifierKey>, KeyError> {
        let bits = modulus_bits(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(format!(
                "RSA modulus of {bits} bits is outside {MIN_RSA_BITS}..={MAX_RSA_BITS}"
            ));
        }
        let n = without_leading_zeros(n);
        let e = without_leading_zeros(e);
        // ring's limits, checked here so a bad key is skipped (and logged) when loaded.
        let exponent = e.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(256).saturating_add(u64::from(b))
        });
        if e.len() > 5 || exponent < 3 || exponent % 2 == 0 || exponent >= 1 << 33 {
            return Err("RSA exponent must be odd, at least 3 and below 2^33".into());
        }
        let mut keys = Vec::new();
        for &alg in algs {
            let params: &'static ring_sig::RsaParameters = match alg {
                Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
                Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
                other => return Err(format!("{} is not an RSA algorithm", other.name())),
            };
            let material = Material::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
                params,
            };
            keys.push(VerifierKey {
                kid: kid.clone(),
                alg,
                material,
            });
        }
        Ok(keys)
    }

    /// An ES256 (P-256) or ES384 (P-384) entry from a SEC1 point (`04 || x || y`).
    pub fn ec(
        kid: Option<String>,
        alg: Algorithm,
        sec1_point: &[u8],
    ) -> Result<VerifierKey, KeyError> {
        // 0x04 || x || y.
        let (params, point_len): (&'static ring_sig::EcdsaVerificationAlgorithm, usize) = match alg
        {
            Algorithm::ES256 => (&ring_sig::ECDSA_P256_SHA256_FIXED, 65),
            Algorithm::ES384 => (&ring_sig::ECDSA_P384_SHA384_FIXED, 97),
            other => return Err(format!("{} is not an EC algorithm", other.name())),
        };
        // The form is checked here; ring checks the point is on the curve on every verify,
        // so an off-curve key never verifies a token.
        let well_formed = sec1_point.len() == point_len && sec1_point.first() == Some(&4);
        if !well_formed {
            return Err(format!(
                "not a valid uncompressed {} public key",
                alg.name()
            ));
        }
        let material = Material::Ecdsa {
            point: sec1_point.to_vec(),
            params,
        };
        Ok(VerifierKey { kid, alg, material })
    }

    /// An EdDSA entry from a 32-byte Ed25519 public key.
    pub fn ed25519(kid: Option<String>, public_key: &[u8]) -> Result<VerifierKey, KeyError> {
        if public_key.len() != ED25519_KEY_BYTES {
            return Err(format!(
                "Ed25519 public key of {} bytes, not {ED25519_KEY_BYTES}",
                public_key.len()
            ));
        }
        let material = Material::Ed25519(public_key.to_vec());
        Ok(VerifierKey {
            kid,
            alg: Algorithm::EdDSA,
            material,
        })
    }

    /// HS256/384/512 entries for a shared secret (only from a symmetric key document).
    pub fn hmac(kid: Option<String>, secret: &[u8]) -> Result<Vec<VerifierKey>, KeyError> {
        if secret.len() < MIN_HMAC_BYTES {
            return Err(format!(
                "HMAC secret of {} bytes is shorter than {MIN_HMAC_BYTES}",
                secret.len()
            ));
        }
        Ok(Algorithm::HMAC
            .iter()
            .map(|&alg| VerifierKey {
                kid: kid.clone(),
                alg,
                material: Material::Hmac(hmac::Key::new(
                    match alg {
                        Algorithm::HS384 => hmac::HMAC_SHA384,
                        Algorithm::HS512 => hmac::HMAC_SHA512,
                        _ => hmac::HMAC_SHA256,
                    },
                    secret,
                )),
            })
            .collect())
    }

    /// Checks the token's signature with this key. The caller has already parsed the token
    /// and checked every claim (and that its `alg` is this entry's); the claim rules are
    /// ESPv2's, applied in `claims.rs`.
    pub fn verify_signature(&self, token: &str) -> bool {
        let Some((input, sig)) = signed_parts(token) else {
            return false;
        };
        match &self.material {
            Material::Rsa { n, e, params } => RsaPublicKeyComponents { n, e }
                .verify(params, input, &sig)
                .is_ok(),
            Material::Ecdsa { point, params } => UnparsedPublicKey::new(*params, point)
                .verify(input, &sig)
                .is_ok(),
            Material::Ed25519(key) => UnparsedPublicKey::new(&ring_sig::ED25519, key)
                .verify(input, &sig)
                .is_ok(),
            // Constant time.
            Material::Hmac(key) => hmac::verify(key, input, &sig).is_ok(),
        }
    }
}

/// The JWS signing input (`header.payload`) and the decoded signature.
fn signed_parts(token: &str) -> Option<(&[u8], Vec<u8>)> {
    let (input, signature) = token.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    Some((input.as_bytes(), signature))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn modulus_bits(n: &[u8]) -> usize {
    let trimmed: &[u8] = match n.iter().position(|&b| b != 0) {
        Some(first) => n.get(first..).unwrap_or_default(),
        None => &[],
    };
    match trimmed.first() {
        Some(&top) => trimmed
            .len()
            .saturating_mul(8)
            .saturating_sub(top.leading_zeros() as usize),
        None => 0,
    }
}

/// The keys of one JWKS generation.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifierKey>,
    /// Keys in the document that were skipped, with the reason (for logs and tests).
    pub skipped: Vec<KeyError>,
}

/// Most keys tried for a token without `kid`, or keys without `kid` tried for a token with one
/// (jwt_verify_lib tries every such key; a cap keeps a large set from multiplying the RSA cost).
pub const MAX_KIDLESS_CANDIDATES: usize = 4;

impl KeySet {
    pub(crate) fn new(keys: Vec<VerifierKey>, skipped: Vec<KeyError>) -> KeySet {
        KeySet { keys, skipped }
    }

    /// Number of (key, algorithm) entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every entry, in document order.
    pub fn entries(&self) -> &[VerifierKey] {
        &self.keys
    }

    /// The keys to try for a token: with a `kid`, those with that `kid` and algorithm, then
    /// (as jwt_verify_lib does) the first few with that algorithm and no `kid` of their own,
    /// such as a symmetric key document's secret; without, the first few with that algorithm.
    /// Empty means "no key to match kid or alg".
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&VerifierKey> {
        let matching = self.keys.iter().filter(|k| k.alg == alg);
        match kid {
            Some(kid) => {
                let named = matching.clone().filter(|k| k.kid.as_deref() == Some(kid));
                let unnamed = matching
                    .filter(|k| k.kid.is_none())
                    .take(MAX_KIDLESS_CANDIDATES);
                named.chain(unnamed).collect()
            }
            None => matching.take(MAX_KIDLESS_CANDIDATES).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignores_leading_zeros() {
        assert_eq!(modulus_bits(&[0, 0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn short_rsa_and_hmac_keys_are_refused() {
        // jwt-simple won't even generate a 1024-bit key; a 1024-bit modulus is enough here.
        let n_1024 = [0xC5u8; 128];
        let err = VerifierKey::rsa(None, &n_1024, &[1, 0, 1], &Algorithm::RSA).unwrap_err();
        assert!(err.contains("1024 bits"), "{err}");
        let n_8192 = [0xC5u8; 1024];
        assert!(VerifierKey::rsa(None, &n_8192, &[1, 0, 1], &Algorithm::RSA).is_err());
        assert!(VerifierKey::hmac(None, &[7u8; 31]).is_err());
        assert_eq!(VerifierKey::hmac(None, &[7u8; 32]).unwrap().len(), 3);
    }

    #[test]
    fn rsa_exponents_and_ec_points_are_checked_when_loaded() {
        let n_2048 = [0xC5u8; 256];
        for bad in [&[1u8][..], &[2], &[1, 0, 0], &[1, 0, 0, 0, 0, 1]] {
            let err = VerifierKey::rsa(None, &n_2048, bad, &Algorithm::RSA).unwrap_err();
            assert!(err.contains("exponent"), "{bad:?}: {err}");
        }
        // Leading zeros are allowed in the encoding and dropped.
        assert_eq!(
            VerifierKey::rsa(None, &n_2048, &[0, 1, 0, 1], &Algorithm::RSA)
                .unwrap()
                .len(),
            6
        );
        assert!(VerifierKey::rsa(None, &n_2048, &[3], &[Algorithm::RS256]).is_ok());
        // A point off the curve has the right form, so it loads; ring refuses it on every
        // verify, so it never verifies a token.
        let off_curve = [&[4u8][..], &[1u8; 64]].concat();
        let key = VerifierKey::ec(None, Algorithm::ES256, &off_curve).unwrap();
        let token = format!(
            "eyJhbGciOiJFUzI1NiJ9.e30.{}",
            URL_SAFE_NO_PAD.encode([1u8; 64])
        );
        assert!(!key.verify_signature(&token));
        let short = [&[4u8][..], &[1u8; 63]].concat();
        assert!(VerifierKey::ec(None, Algorithm::ES256, &short).is_err());
        assert!(VerifierKey::ec(None, Algorithm::RS256, &off_curve).is_err());
    }
}
