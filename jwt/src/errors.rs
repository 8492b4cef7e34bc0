//! Every reason a JWT check can fail, each with the fixed HTTP status and message ESPv2
//! (Envoy `jwt_authn` / `jwt_verify_lib`) sends, so clients see the same bodies.

use std::fmt;

/// One failure reason. The message never contains the token, a URL, or any client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtError {
    /// No token in any of the provider's locations.
    Missing,
    /// Longer than the token size cap (checked before anything is decoded).
    TooLarge,
    /// Not three non-empty-header dot-separated parts (JWE's five parts land here too).
    BadFormat,
    /// Header is not strict base64url, not JSON, or has duplicate members.
    BadHeader,
    /// `alg` missing, not a string, `none`, or an algorithm wasp does not verify (ES512, ...).
    UnsupportedAlgorithm,
    /// The header asks for something wasp refuses: `crit`, nested JWT (`cty: JWT`), a
    /// non-JWT `typ`, or a `kid` that is not a short string.
    UnsupportedHeader,
    /// Payload is not strict base64url, not a JSON object, or has duplicate members.
    BadPayload,
    /// A registered claim has the wrong type (`exp` not an integer, `aud` not string(s), ...).
    BadClaim,
    /// Signature is not strict base64url.
    BadSignature,
    /// `iss` names no provider this operation accepts.
    UnknownIssuer,
    /// `exp` is more than the allowed skew in the past, or missing when required.
    Expired,
    /// `nbf` is more than the allowed skew in the future.
    NotYetValid,
    /// No `aud` matches the allowed audiences.
    AudienceNotAllowed,
    /// The token's `scope` has none of the scope sets the operation requires.
    ScopeNotAllowed,
    /// `azp` is not one of the provider's allowed client ids.
    ClientIdNotAllowed,
    /// The provider's keys could not be fetched or parsed.
    JwksFetchFailed,
    /// No key with the token's `kid` and a compatible algorithm.
    KeyNotFound,
    /// The signature does not verify with any candidate key.
    VerificationFailed,
}

impl JwtError {
    /// HTTP status of the local reply.
    pub fn status(self) -> u16 {
        match self {
            JwtError::AudienceNotAllowed
            | JwtError::ScopeNotAllowed
            | JwtError::ClientIdNotAllowed => 403,
            _ => 401,
        }
    }

    /// The reply's message (the filter wraps it as `{"code":<status>,"message":<this>}`).
    /// Wording follows jwt_verify_lib's `status.cc` where it has one.
    pub fn message(self) -> &'static str {
        match self {
            JwtError::Missing => "Jwt is missing",
            JwtError::TooLarge => "Jwt is too large",
            JwtError::BadFormat => "Jwt is not in the form of Header.Payload.Signature",
            JwtError::BadHeader => "Jwt header is an invalid Base64url input or an invalid JSON",
            JwtError::UnsupportedAlgorithm => "Jwt header [alg] field value is invalid",
            JwtError::UnsupportedHeader => "Jwt header has a field wasp does not accept",
            JwtError::BadPayload => "Jwt payload is an invalid Base64 or an invalid JSON",
            JwtError::BadClaim => "Jwt payload has a claim of the wrong type",
            JwtError::BadSignature => "Jwt signature is an invalid Base64",
            JwtError::UnknownIssuer => "Jwt issuer is not configured",
            JwtError::Expired => "Jwt is expired",
            JwtError::NotYetValid => "Jwt not yet valid",
            JwtError::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            JwtError::ScopeNotAllowed => "Jwt scopes are not allowed",
            JwtError::ClientIdNotAllowed => "Jwt client id (azp) is not allowed",
            JwtError::JwksFetchFailed => "Jwks remote fetch is failed",
            JwtError::KeyNotFound => "Jwks doesn't have key to match kid or alg from Jwt",
            JwtError::VerificationFailed => "Jwt verification fails",
        }
    }

    /// Short stable name for response-code details and counters (`jwt_authn_access_denied{...}`).
    pub fn detail(self) -> &'static str {
        match self {
            JwtError::Missing => "Jwt_is_missing",
            JwtError::TooLarge => "Jwt_is_too_large",
            JwtError::BadFormat => "Jwt_bad_format",
            JwtError::BadHeader => "Jwt_header_invalid",
            JwtError::UnsupportedAlgorithm => "Jwt_alg_invalid",
            JwtError::UnsupportedHeader => "Jwt_header_unsupported",
            JwtError::BadPayload => "Jwt_payload_invalid",
            JwtError::BadClaim => "Jwt_claim_invalid",
            JwtError::BadSignature => "Jwt_signature_invalid_base64",
            JwtError::UnknownIssuer => "Jwt_issuer_is_not_configured",
            JwtError::Expired => "Jwt_is_expired",
            JwtError::NotYetValid => "Jwt_not_yet_valid",
            JwtError::AudienceNotAllowed => "Audiences_in_Jwt_are_not_allowed",
            JwtError::ScopeNotAllowed => "Jwt_scopes_not_allowed",
            JwtError::ClientIdNotAllowed => "Jwt_client_id_not_allowed",
            JwtError::JwksFetchFailed => "Jwks_remote_fetch_is_failed",
            JwtError::KeyNotFound => "Jwks_no_key_for_kid_or_alg",
            JwtError::VerificationFailed => "Jwt_verification_fails",
        }
    }

    /// The `WWW-Authenticate` value for this failure. RFC 6750: no `error` when the request
    /// carried no token; `insufficient_scope` for scope failures; `invalid_token` otherwise.
    /// The realm is the service name (not the request URL, which Envoy echoes), quoted safely.
    pub fn www_authenticate(self, realm: &str) -> String {
        let realm = quote(realm);
        match self {
            JwtError::Missing => format!("Bearer realm=\"{realm}\""),
            JwtError::ScopeNotAllowed => {
                format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\"")
            }
            _ => format!("Bearer realm=\"{realm}\", error=\"invalid_token\""),
        }
    }

    /// Whether this failure means "no usable token here" rather than "a token was presented
    /// and is bad". Only the former lets another alternative (or an API key) decide.
    pub fn is_absent(self) -> bool {
        matches!(self, JwtError::Missing)
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for JwtError {}

/// Escapes a realm for an RFC 7230 quoted-string and drops characters a header can't carry.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_match_espv2() {
        assert_eq!(JwtError::Missing.status(), 401);
        assert_eq!(JwtError::Missing.message(), "Jwt is missing");
        assert_eq!(JwtError::Expired.message(), "Jwt is expired");
        assert_eq!(JwtError::NotYetValid.message(), "Jwt not yet valid");
        assert_eq!(
            JwtError::VerificationFailed.message(),
            "Jwt verification fails"
        );
        assert_eq!(
            JwtError::UnknownIssuer.message(),
            "Jwt issuer is not configured"
        );
        assert_eq!(JwtError::AudienceNotAllowed.status(), 403);
        assert_eq!(
            JwtError::AudienceNotAllowed.message(),
            "Audiences in Jwt are not allowed"
        );
        assert_eq!(
            JwtError::JwksFetchFailed.message(),
            "Jwks remote fetch is failed"
        );
        assert_eq!(
            JwtError::KeyNotFound.message(),
            "Jwks doesn't have key to match kid or alg from Jwt"
        );
    }

    #[test]
    fn www_authenticate_never_echoes_input_and_escapes_the_realm() {
        assert_eq!(
            JwtError::Missing.www_authenticate("api.example.com"),
            "Bearer realm=\"api.example.com\""
        );
        assert_eq!(
            JwtError::Expired.www_authenticate("svc"),
            "Bearer realm=\"svc\", error=\"invalid_token\""
        );
        assert_eq!(
            JwtError::ScopeNotAllowed.www_authenticate("svc"),
            "Bearer realm=\"svc\", error=\"insufficient_scope\""
        );
        assert_eq!(
            JwtError::Expired.www_authenticate("a\"b\\c\r\nd"),
            "Bearer realm=\"a\\\"b\\\\cd\", error=\"invalid_token\""
        );
    }
}
