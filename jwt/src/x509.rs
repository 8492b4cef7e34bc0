//! Keys from PEM X.509 certificates (Google's `.../metadata/x509/<account>` maps). Only the
//! subject public key is used; validity dates and issuers are ignored, as in ESPv2: trust
//! comes from the configured URL, not from a chain.

use x509_cert::der::asn1::{ObjectIdentifier, UintRef};
use x509_cert::der::{Decode, DecodePem, Reader, SliceReader};
use x509_cert::Certificate;

use crate::alg::Algorithm;
use crate::keys::{KeyError, VerifierKey};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The verifier entries for the public key inside one PEM certificate.
pub fn keys_from_certificate(kid: &str, pem: &str) -> Result<Vec<VerifierKey>, KeyError> {
    let certificate =
        Certificate::from_pem(pem.trim()).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let kid = Some(kid.to_string());
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or("public key bit string is not byte aligned")?;
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        // PKCS#1 RSAPublicKey; n and e then go through the same size checks as a JWK's.
        let (n, e) =
            rsa_public_key(key_bytes).map_err(|e| format!("not an RSA public key: {e}"))?;
        VerifierKey::rsa(kid, &n, &e, &Algorithm::RSA)
    } else if oid == EC_PUBLIC_KEY {
        let curve: ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as().ok())
            .ok_or("EC key without a named curve")?;
        let alg = match curve {
            c if c == P256 => Algorithm::ES256,
            c if c == P384 => Algorithm::ES384,
            _ => return Err("EC curve is not P-256 or P-384".to_string()),
        };
        Ok(vec![VerifierKey::ec(kid, alg, key_bytes)?])
    } else if oid == ED25519 {
        Ok(vec![VerifierKey::ed25519(kid, key_bytes)?])
    } else {
        Err(format!("public key algorithm {oid} is not supported"))
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
fn rsa_public_key(der: &[u8]) -> x509_cert::der::Result<(Vec<u8>, Vec<u8>)> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|fields| {
        let n = UintRef::decode(fields)?;
        let e = UintRef::decode(fields)?;
        Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
    })?;
    reader.finish(parts)
}
