//! Parses a compact JWS before any key is touched: size cap first, exactly three parts,
//! strict base64url (no padding, no `+`/`/`, no stray bits), a JSON header and payload
//! without duplicate members, and the header fields wasp accepts. Nothing here verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

use crate::alg::Algorithm;
use crate::errors::JwtError;

/// Largest token accepted: Envoy's default limit on a request's headers (60 KiB) and a bit,
/// so any token Envoy lets through is judged on its merits, as ESPv2 does (its users send
/// 8,000-character claims). Bigger ones are refused by a length check before any decoding;
/// within the cap a token costs linear work (base64, one JSON parse, one signature hash).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest `kid` accepted: it is only an opaque map key.
pub const MAX_KID_BYTES: usize = 256;

/// A token whose structure is valid. The claims are not yet trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedToken {
    /// The algorithm named in the header (already known to be one wasp verifies).
    pub alg: Algorithm,
    /// The header's key id, if any.
    pub kid: Option<String>,
    /// The decoded payload JSON object (members unique).
    pub claims: Map<String, Value>,
    /// The decoded payload bytes, exactly as signed (forwarded in the user-info header).
    pub payload_json: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    cty: Option<Value>,
    crit: Option<Value>,
}

/// Parses the structure of `token`. Errors name the first problem found.
pub fn parse(token: &str) -> Result<ParsedToken, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::BadFormat);
    };
    if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
        return Err(JwtError::BadFormat);
    }

    let header_json = decode(header_b64).ok_or(JwtError::HeaderNotBase64)?;
    let header_members = parse_object(&header_json).ok_or(JwtError::HeaderNotJson)?;
    let header: Header = serde_json::from_value(Value::Object(header_members))
        .map_err(|_| JwtError::HeaderNotJson)?;
    let (alg, kid) = check_header(&header)?;

    let payload_json = decode(payload_b64).ok_or(JwtError::PayloadNotBase64)?;
    let claims = parse_object(&payload_json).ok_or(JwtError::PayloadNotJson)?;
    decode(signature_b64).ok_or(JwtError::SignatureNotBase64)?;

    Ok(ParsedToken {
        alg,
        kid,
        claims,
        payload_json,
    })
}

fn check_header(header: &Header) -> Result<(Algorithm, Option<String>), JwtError> {
    let alg = match &header.alg {
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or(JwtError::UnsupportedAlgorithm)?
        }
        _ => return Err(JwtError::MissingAlgorithm),
    };
    // RFC 7515 4.1.11: a recipient that does not understand a listed extension must reject;
    // wasp understands none, and an empty list is itself invalid.
    if header.crit.is_some() {
        return Err(JwtError::UnsupportedHeader);
    }
    // Nested tokens are never unwrapped, so one announcing itself is refused outright.
    if let Some(cty) = &header.cty {
        match cty {
            Value::String(s) if !s.eq_ignore_ascii_case("JWT") => {}
            _ => return Err(JwtError::UnsupportedHeader),
        }
    }
    // Same rule as jwt-simple (which runs later): `JWT` or `*+JWT`, any case.
    if let Some(typ) = &header.typ {
        match typ {
            Value::String(s)
                if s.eq_ignore_ascii_case("JWT") || s.to_ascii_uppercase().ends_with("+JWT") => {}
            _ => return Err(JwtError::UnsupportedHeader),
        }
    }
    let kid = match &header.kid {
        None => None,
        Some(Value::String(kid)) if kid.len() <= MAX_KID_BYTES => Some(kid.clone()),
        Some(_) => return Err(JwtError::BadKid),
    };
    Ok((alg, kid))
}

/// Strict base64url: the `URL_SAFE_NO_PAD` engine rejects `=`, `+`, `/` and non-zero trailing bits.
pub(crate) fn decode(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// Parses a JSON object, refusing duplicate member names at the top level: two different
/// `exp` or `aud` values must never let one component see one and another the other.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .ok()
        .map(|o| o.0)
}

struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor;
        impl<'de> Visitor<'de> for UniqueVisitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut out = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueObject(out))
            }
        }
        deserializer.deserialize_map(UniqueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let parsed = parse(&token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"i","exp":5}"#,
        ))
        .unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["exp"], 5);
        assert_eq!(parsed.payload_json, br#"{"iss":"i","exp":5}"#);
    }

    #[test]
    fn rejects_alg_none_in_every_casing_and_missing_alg() {
        for alg in ["none", "None", "NONE", "nOne"] {
            let t = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64("{}"));
            // An unsigned token has an empty third part: a format error before alg is read.
            assert_eq!(parse(&t), Err(JwtError::BadFormat));
            let with_sig = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                parse(&with_sig),
                Err(JwtError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        assert_eq!(
            parse(&token(r#"{"typ":"JWT"}"#, "{}")),
            Err(JwtError::MissingAlgorithm)
        );
        assert_eq!(
            parse(&token(r#"{"alg":256}"#, "{}")),
            Err(JwtError::MissingAlgorithm)
        );
    }

    #[test]
    fn rejects_wrong_part_counts() {
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        assert_eq!(parse(&format!("{good}.x.y")), Err(JwtError::BadFormat));
        assert_eq!(parse(&format!("{good}.x")), Err(JwtError::BadFormat));
        assert_eq!(parse("abc.def"), Err(JwtError::BadFormat));
        assert_eq!(parse(""), Err(JwtError::BadFormat));
        assert_eq!(parse(".."), Err(JwtError::BadFormat));
    }

    #[test]
    fn rejects_non_strict_base64url() {
        let header = b64(r#"{"alg":"RS256"}"#);
        let payload = b64(r#"{"a":1}"#); // 10 bytes -> a base64 length that standard encoding pads
        assert_eq!(
            parse(&format!("{header}=.{payload}.c2ln")),
            Err(JwtError::HeaderNotBase64)
        );
        assert_eq!(
            parse(&format!("{header}.{payload}==.c2ln")),
            Err(JwtError::PayloadNotBase64)
        );
        assert_eq!(
            parse(&format!("{header}.{payload}.c2l+")),
            Err(JwtError::SignatureNotBase64)
        );
        assert_eq!(
            parse(&format!("{header}.{payload}.c2l/")),
            Err(JwtError::SignatureNotBase64)
        );
        // A 3-character tail carries 2 unused bits; 'm' sets one of them.
        assert_eq!(
            parse(&format!("{header}.{payload}.c2m")),
            Err(JwtError::SignatureNotBase64)
        );
    }

    #[test]
    fn rejects_crit_nested_tokens_odd_typ_and_long_kid() {
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}")),
            Err(JwtError::UnsupportedHeader)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","crit":[]}"#, "{}")),
            Err(JwtError::UnsupportedHeader)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","cty":"JWT"}"#, "{}")),
            Err(JwtError::UnsupportedHeader)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","typ":"JOSE"}"#, "{}")),
            Err(JwtError::UnsupportedHeader)
        );
        assert!(parse(&token(r#"{"alg":"RS256","typ":"at+jwt"}"#, "{}")).is_ok());
        let long_kid = "k".repeat(MAX_KID_BYTES + 1);
        assert_eq!(
            parse(&token(
                &format!(r#"{{"alg":"RS256","kid":"{long_kid}"}}"#),
                "{}"
            )),
            Err(JwtError::BadKid)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","kid":7}"#, "{}")),
            Err(JwtError::BadKid)
        );
    }

    #[test]
    fn duplicate_members_are_rejected_in_header_and_payload() {
        assert_eq!(
            parse(&token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}")),
            Err(JwtError::HeaderNotJson)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256"}"#, r#"{"exp":1,"exp":2}"#)),
            Err(JwtError::PayloadNotJson)
        );
    }

    #[test]
    fn payload_must_be_an_object_and_size_is_capped_first() {
        assert_eq!(
            parse(&token(r#"{"alg":"RS256"}"#, "[1]")),
            Err(JwtError::PayloadNotJson)
        );
        assert_eq!(
            parse(&token(r#"{"alg":"RS256"}"#, "not json")),
            Err(JwtError::PayloadNotJson)
        );
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(parse(&huge), Err(JwtError::TooLarge));
    }
}
