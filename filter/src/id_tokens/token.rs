//! One ID token as the metadata server returns it, and how long it can be used.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Largest metadata response body accepted. Google ID tokens are about 1 KB;
/// the cap is checked against the announced size before the body is read.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// Lifetime assumed when the token carries no `exp` (ESPv2's `kDefaultTokenExpiry`).
pub const DEFAULT_LIFETIME_MS: u64 = 3_599_000;

/// base64url with or without padding: JWTs omit it, but a lenient decoder
/// costs nothing and the signature is never checked here anyway.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A usable ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdToken {
    /// The compact JWT, sent as `Authorization: Bearer <jwt>`.
    pub jwt: String,
    /// When the token stops being valid (ms since the Unix epoch).
    pub expires_at_ms: u64,
}

/// Why a metadata-server answer gave no token. The text goes to Envoy's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The call failed or the server answered with another status (`None`: no
    /// `:status` at all, e.g. a reset; Envoy's own 503/504 on connect failure or
    /// timeout arrive as statuses).
    Status(Option<u32>),
    /// The body is larger than [`MAX_RESPONSE_BYTES`].
    TooLarge(usize),
    /// The body is not a compact JWT with a JSON payload.
    NotAJwt(&'static str),
    /// The token's `exp` is already past.
    Expired,
    /// An access-token answer without a usable token or lifetime.
    Unusable(&'static str),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(Some(status)) => write!(f, "the token server answered {status}"),
            FetchError::Status(None) => f.write_str("the token call failed without a response"),
            FetchError::TooLarge(size) => write!(
                f,
                "token response of {size} bytes exceeds {MAX_RESPONSE_BYTES}"
            ),
            FetchError::NotAJwt(why) => write!(f, "token response is not a JWT: {why}"),
            FetchError::Expired => f.write_str("the token server returned an expired token"),
            FetchError::Unusable(why) => write!(f, "metadata access-token answer unusable: {why}"),
        }
    }
}

/// Checks the announced body size before the body is read.
pub fn check_size(body_size: usize) -> Result<(), FetchError> {
    if body_size > MAX_RESPONSE_BYTES {
        return Err(FetchError::TooLarge(body_size));
    }
    Ok(())
}

/// A 200 with a body within the size cap.
fn answered(status: Option<u32>, body: &[u8]) -> Result<(), FetchError> {
    if status != Some(200) {
        return Err(FetchError::Status(status));
    }
    check_size(body.len())
}

/// Turns a metadata-server answer into a token: status 200 and a body that is
/// a compact JWT (surrounding whitespace allowed). The expiry comes from the
/// payload's `exp`, read without verifying the signature: the token is only
/// passed on, the backend verifies it.
pub fn parse_response(
    status: Option<u32>,
    body: &[u8],
    now_ms: u64,
) -> Result<IdToken, FetchError> {
    answered(status, body)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| FetchError::NotAJwt("not UTF-8"))?
        .trim();
    let mut parts = text.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(FetchError::NotAJwt("not three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(FetchError::NotAJwt("an empty part"));
    }
    if !signature.bytes().all(is_base64url) {
        return Err(FetchError::NotAJwt("signature is not base64url"));
    }
    json_object(header).ok_or(FetchError::NotAJwt("header is not base64url JSON"))?;
    let claims =
        json_object(payload).ok_or(FetchError::NotAJwt("payload is not base64url JSON"))?;
    let expires_at_ms = match claims.get("exp") {
        None => now_ms.saturating_add(DEFAULT_LIFETIME_MS),
        Some(exp) => {
            let seconds = exp
                .as_u64()
                .or_else(|| exp.as_f64().filter(|s| *s >= 0.0).map(|s| s as u64))
                .ok_or(FetchError::NotAJwt("exp is not a number of seconds"))?;
            seconds.saturating_mul(1000)
        }
    };
    if expires_at_ms <= now_ms {
        return Err(FetchError::Expired);
    }
    Ok(IdToken {
        jwt: text.to_string(),
        expires_at_ms,
    })
}

/// Turns a metadata-server access-token answer (`{"access_token": "ya29...", "expires_in":
/// 3599, "token_type": "Bearer"}`) into a token; `expires_in` counts from `now_ms`.
pub fn parse_access_token(
    status: Option<u32>,
    body: &[u8],
    now_ms: u64,
) -> Result<IdToken, FetchError> {
    let (answer, token) = json_answer(status, body, "access_token", FetchError::Unusable)?;
    let token = Some(token)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(FetchError::Unusable("no usable access_token"))?;
    let lifetime_ms = match answer.get("expires_in") {
        None => DEFAULT_LIFETIME_MS,
        Some(seconds) => seconds
            .as_u64()
            .ok_or(FetchError::Unusable(
                "expires_in is not a number of seconds",
            ))?
            .saturating_mul(1000),
    };
    if lifetime_ms == 0 {
        return Err(FetchError::Expired);
    }
    Ok(IdToken {
        jwt: token.to_string(),
        expires_at_ms: now_ms.saturating_add(lifetime_ms),
    })
}

/// Turns IAM's `generateIdToken` answer (`{"token": "<jwt>"}`) into a token, with
/// the expiry from the JWT as for the metadata server.
pub fn parse_iam_response(
    status: Option<u32>,
    body: &[u8],
    now_ms: u64,
) -> Result<IdToken, FetchError> {
    let (_, jwt) = json_answer(status, body, "token", FetchError::NotAJwt)?;
    parse_response(status, jwt.as_bytes(), now_ms)
}

/// A 200 whose body is a JSON object with the string field `field`: the object and the field.
/// `error` makes the failure of this kind of answer.
fn json_answer(
    status: Option<u32>,
    body: &[u8],
    field: &'static str,
    error: fn(&'static str) -> FetchError,
) -> Result<(serde_json::Value, String), FetchError> {
    answered(status, body)?;
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| error("the answer is not JSON"))?;
    let value = answer
        .get(field)
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or(error("the answer lacks its token field"))?;
    Ok((answer, value))
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'='
}

fn json_object(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes = BASE64URL.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A structurally valid JWT with the given payload (signature bytes are opaque here).
    pub(crate) fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode([7u8; 256])
        )
    }

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn expiry_comes_from_exp() {
        let token = jwt(r#"{"aud":"https://b","exp":1700003600,"iat":1700000000}"#);
        let parsed = parse_response(Some(200), format!("{token}\n").as_bytes(), NOW).unwrap();
        assert_eq!(parsed.jwt, token);
        assert_eq!(parsed.expires_at_ms, 1_700_003_600_000);
    }

    #[test]
    fn missing_exp_assumes_espv2s_default_lifetime() {
        let parsed = parse_response(Some(200), jwt(r#"{"aud":"a"}"#).as_bytes(), NOW).unwrap();
        assert_eq!(parsed.expires_at_ms, NOW + 3_599_000);
    }

    #[test]
    fn non_200_or_missing_status_fails() {
        let body = jwt(r#"{"exp":1800000000}"#);
        for status in [None, Some(404), Some(503), Some(504)] {
            assert_eq!(
                parse_response(status, body.as_bytes(), NOW),
                Err(FetchError::Status(status))
            );
        }
    }

    #[test]
    fn bodies_that_are_not_jwts_fail() {
        for body in [
            "",
            "ya29.constant",
            "a.b.c.d",
            "..",
            "not base64!.e30.c2ln",
            // `[]` is JSON but not an object.
            &format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode("[]")),
            &format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(r#"{"exp":"soon"}"#)),
            "<html>error</html>",
        ] {
            assert!(
                matches!(
                    parse_response(Some(200), body.as_bytes(), NOW),
                    Err(FetchError::NotAJwt(_))
                ),
                "{body:?}"
            );
        }
        assert!(matches!(
            parse_response(Some(200), &[0xff, 0xfe], NOW),
            Err(FetchError::NotAJwt(_))
        ));
    }

    #[test]
    fn access_tokens_come_as_json_with_a_lifetime() {
        let body = br#"{"access_token":"ya29.c.abc","expires_in":3599,"token_type":"Bearer"}"#;
        let parsed = parse_access_token(Some(200), body, NOW).unwrap();
        assert_eq!(parsed.jwt, "ya29.c.abc");
        assert_eq!(parsed.expires_at_ms, NOW + 3_599_000);
        let no_expiry = parse_access_token(Some(200), br#"{"access_token":"t"}"#, NOW).unwrap();
        assert_eq!(no_expiry.expires_at_ms, NOW + DEFAULT_LIFETIME_MS);
        for bad in [
            &b"ya29.plain"[..],
            br#"{"access_token":""}"#,
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":"t","expires_in":"soon"}"#,
        ] {
            assert!(
                matches!(
                    parse_access_token(Some(200), bad, NOW),
                    Err(FetchError::Unusable(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_access_token(Some(200), br#"{"access_token":"t","expires_in":0}"#, NOW),
            Err(FetchError::Expired)
        );
        assert_eq!(
            parse_access_token(Some(403), body, NOW),
            Err(FetchError::Status(Some(403)))
        );
    }

    #[test]
    fn iam_answers_carry_the_jwt_in_a_token_field() {
        let token = jwt(r#"{"aud":"https://b","exp":1700003600}"#);
        let body = serde_json::json!({ "token": token }).to_string();
        let parsed = parse_iam_response(Some(200), body.as_bytes(), NOW).unwrap();
        assert_eq!(parsed.jwt, token);
        assert_eq!(parsed.expires_at_ms, 1_700_003_600_000);
        assert!(matches!(
            parse_iam_response(Some(200), token.as_bytes(), NOW),
            Err(FetchError::NotAJwt(_))
        ));
        assert!(matches!(
            parse_iam_response(Some(200), br#"{"token":"x.y"}"#, NOW),
            Err(FetchError::NotAJwt(_))
        ));
        assert_eq!(
            parse_iam_response(Some(403), body.as_bytes(), NOW),
            Err(FetchError::Status(Some(403)))
        );
    }

    #[test]
    fn expired_tokens_and_oversized_bodies_fail() {
        let old = jwt(r#"{"exp":1600000000}"#);
        assert_eq!(
            parse_response(Some(200), old.as_bytes(), NOW),
            Err(FetchError::Expired)
        );
        let big = vec![b'a'; MAX_RESPONSE_BYTES + 1];
        assert_eq!(
            parse_response(Some(200), &big, NOW),
            Err(FetchError::TooLarge(MAX_RESPONSE_BYTES + 1))
        );
        assert_eq!(check_size(MAX_RESPONSE_BYTES), Ok(()));
    }
}
