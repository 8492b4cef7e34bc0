//! Turns a fetched key document into a [`KeySet`]. Three formats, as the `x-google-jwks_uri`
//! docs name them, told apart by shape:
//! - a JWK set (`{"keys":[...]}`): RSA, EC P-256/P-384 and OKP Ed25519 keys;
//! - an X.509 certificate map (`{"<kid>":"-----BEGIN CERTIFICATE-----..."}`, Google's format);
//! - a symmetric key: the whole body is one base64url string (HS256/384/512).
//!
//! `oct` members of a JWK set are skipped: a shared secret is only taken from a document that
//! is nothing but that secret, so a public key set can never introduce an HMAC key.
//! Also parses an OIDC discovery document for its `jwks_uri`.

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::keys::{KeyError, KeySet, VerifierKey};
use crate::token::{parse_object, MAX_KID_BYTES};
use crate::x509;

/// Largest key or discovery document accepted. Real JWK sets are a few KB.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Most keys (JWKs or certificates) a document may hold.
pub const MAX_KEYS: usize = 32;

/// Why a document was refused as a whole (the previous keys keep serving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge,
    TooManyKeys,
    NotAKeyDocument,
    NoUsableKeys(Vec<KeyError>),
    BadDiscoveryDocument,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::TooLarge => {
                write!(f, "key document is larger than {MAX_DOCUMENT_BYTES} bytes")
            }
            JwksError::TooManyKeys => write!(f, "key document has more than {MAX_KEYS} keys"),
            JwksError::NotAKeyDocument => f.write_str(
                "body is neither a JWK set, an X.509 certificate map, nor a base64url key",
            ),
            JwksError::NoUsableKeys(reasons) => {
                write!(f, "no usable key in the document: {}", reasons.join("; "))
            }
            JwksError::BadDiscoveryDocument => {
                f.write_str("OpenID discovery document has no http(s) `jwks_uri` string")
            }
        }
    }
}

/// Parses a key document in any of the three formats.
pub fn parse_key_document(body: &[u8]) -> Result<KeySet, JwksError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(JwksError::TooLarge);
    }
    let (keys, skipped) = match parse_object(body) {
        Some(mut object) => match object.remove("keys") {
            Some(Value::Array(jwks)) => parse_jwk_set(&jwks)?,
            Some(_) => return Err(JwksError::NotAKeyDocument),
            None => parse_certificate_map(&object)?,
        },
        None => parse_symmetric_key(body)?,
    };
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys(skipped));
    }
    Ok(KeySet::new(keys, skipped))
}

/// Reads `jwks_uri` from an OpenID Connect discovery document.
pub fn parse_discovery_document(body: &[u8]) -> Result<String, JwksError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(JwksError::TooLarge);
    }
    let object = parse_object(body).ok_or(JwksError::BadDiscoveryDocument)?;
    match object.get("jwks_uri") {
        Some(Value::String(uri)) if uri.starts_with("https://") || uri.starts_with("http://") => {
            Ok(uri.clone())
        }
        _ => Err(JwksError::BadDiscoveryDocument),
    }
}

/// The discovery URL for an issuer: `<issuer>/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

type Parsed = (Vec<VerifierKey>, Vec<KeyError>);

fn parse_jwk_set(jwks: &[Value]) -> Result<Parsed, JwksError> {
    if jwks.len() > MAX_KEYS {
        return Err(JwksError::TooManyKeys);
    }
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (index, jwk) in jwks.iter().enumerate() {
        match jwk
            .as_object()
            .ok_or_else(|| "not a JSON object".to_string())
            .and_then(parse_jwk)
        {
            Ok(mut entries) => keys.append(&mut entries),
            Err(reason) => skipped.push(format!("key {index}: {reason}")),
        }
    }
    Ok((keys, skipped))
}

fn parse_jwk(jwk: &Map<String, Value>) -> Result<Vec<VerifierKey>, KeyError> {
    let text = |name: &str| -> Result<Option<&str>, KeyError> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, KeyError> {
        let value = text(name)?.ok_or_else(|| format!("`{name}` is missing"))?;
        decode_lenient(value).ok_or_else(|| format!("`{name}` is not base64url"))
    };
    if let Some(usage) = text("use")? {
        if usage != "sig" {
            return Err(format!("`use` is {usage:?}, not \"sig\""));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("`key_ops` does not include \"verify\"".to_string());
        }
    }
    let kid = match text("kid")? {
        Some(kid) if kid.len() > MAX_KID_BYTES => return Err("`kid` is too long".to_string()),
        kid => kid.map(str::to_string),
    };
    // A JWK `alg` narrows the key to that one algorithm; it must fit the key type.
    let declared = match text("alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_name(name).ok_or_else(|| format!("`alg` {name:?} is not supported"))?,
        ),
    };
    let kty = text("kty")?.ok_or_else(|| "`kty` is missing".to_string())?;
    match kty {
        "RSA" => {
            let algs: Vec<Algorithm> = match declared {
                None => Algorithm::RSA.to_vec(),
                Some(alg) if Algorithm::RSA.contains(&alg) => vec![alg],
                Some(alg) => return Err(format!("`alg` {} does not fit an RSA key", alg.name())),
            };
            VerifierKey::rsa(kid, &bytes("n")?, &bytes("e")?, &algs)
        }
        "EC" => {
            let (alg, size) = match text("crv")? {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                other => return Err(format!("EC curve {other:?} is not supported")),
            };
            if declared.is_some_and(|d| d != alg) {
                return Err("`alg` does not fit the EC curve".to_string());
            }
            let point =
                sec1_point(&bytes("x")?, &bytes("y")?, size).ok_or("EC coordinate is too long")?;
            Ok(vec![VerifierKey::ec(kid, alg, &point)?])
        }
        "OKP" => {
            if text("crv")? != Some("Ed25519") {
                return Err("OKP curve is not Ed25519".to_string());
            }
            if declared.is_some_and(|d| d != Algorithm::EdDSA) {
                return Err("`alg` does not fit an Ed25519 key".to_string());
            }
            Ok(vec![VerifierKey::ed25519(kid, &bytes("x")?)?])
        }
        "oct" => {
            Err("symmetric (`oct`) keys are only read from a symmetric key document".to_string())
        }
        other => Err(format!("`kty` {other:?} is not supported")),
    }
}

/// `04 || x || y`, each coordinate left-padded to the curve size.
fn sec1_point(x: &[u8], y: &[u8], size: usize) -> Option<Vec<u8>> {
    if x.len() > size || y.len() > size {
        return None;
    }
    let mut point = vec![4u8];
    point.extend(std::iter::repeat_n(0, size.saturating_sub(x.len())));
    point.extend_from_slice(x);
    point.extend(std::iter::repeat_n(0, size.saturating_sub(y.len())));
    point.extend_from_slice(y);
    Some(point)
}

fn parse_certificate_map(map: &Map<String, Value>) -> Result<Parsed, JwksError> {
    if map.is_empty() {
        return Err(JwksError::NotAKeyDocument);
    }
    if map.len() > MAX_KEYS {
        return Err(JwksError::TooManyKeys);
    }
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (kid, pem) in map {
        let Value::String(pem) = pem else {
            return Err(JwksError::NotAKeyDocument);
        };
        if kid.len() > MAX_KID_BYTES {
            skipped.push("certificate key id is too long".to_string());
            continue;
        }
        match x509::keys_from_certificate(kid, pem) {
            Ok(mut entries) => keys.append(&mut entries),
            Err(reason) => skipped.push(format!("certificate {kid:?}: {reason}")),
        }
    }
    Ok((keys, skipped))
}

fn parse_symmetric_key(body: &[u8]) -> Result<Parsed, JwksError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| JwksError::NotAKeyDocument)?
        .trim();
    let secret = decode_lenient(text).ok_or(JwksError::NotAKeyDocument)?;
    match VerifierKey::hmac(None, &secret) {
        Ok(keys) => Ok((keys, Vec::new())),
        Err(reason) => Err(JwksError::NoUsableKeys(vec![reason])),
    }
}

/// base64url as key documents write it: padding tolerated (some providers pad), nothing else.
fn decode_lenient(value: &str) -> Option<Vec<u8>> {
    if value.is_empty() {
        return None;
    }
    crate::token::decode(value.trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec1_points_are_left_padded() {
        let point = sec1_point(&[1, 2], &[3], 4).unwrap();
        assert_eq!(point, vec![4, 0, 0, 1, 2, 0, 0, 0, 3]);
        assert!(sec1_point(&[0; 5], &[0; 4], 4).is_none());
    }

    #[test]
    fn discovery_documents_yield_their_jwks_uri() {
        let doc = br#"{"issuer":"https://id.example","jwks_uri":"https://id.example/keys"}"#;
        assert_eq!(
            parse_discovery_document(doc).unwrap(),
            "https://id.example/keys"
        );
        assert!(parse_discovery_document(br#"{"jwks_uri":"file:///etc/passwd"}"#).is_err());
        assert!(parse_discovery_document(br#"{"jwks_uri":5}"#).is_err());
        assert!(parse_discovery_document(b"<html>").is_err());
        assert_eq!(
            discovery_url("https://id.example/"),
            "https://id.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn documents_that_are_no_key_format_are_refused() {
        assert_eq!(
            parse_key_document(b"<html>oops</html>").err(),
            Some(JwksError::NotAKeyDocument)
        );
        assert_eq!(
            parse_key_document(br#"{"keys":5}"#).err(),
            Some(JwksError::NotAKeyDocument)
        );
        assert_eq!(
            parse_key_document(br#"{"a":1}"#).err(),
            Some(JwksError::NotAKeyDocument)
        );
        assert_eq!(
            parse_key_document(b"{}").err(),
            Some(JwksError::NotAKeyDocument)
        );
        assert!(matches!(
            parse_key_document(br#"{"keys":[]}"#),
            Err(JwksError::NoUsableKeys(_))
        ));
        assert_eq!(
            parse_key_document(&vec![b' '; MAX_DOCUMENT_BYTES + 1]).err(),
            Some(JwksError::TooLarge)
        );
    }
}
