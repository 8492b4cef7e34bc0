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
    /// Not three non-empty dot-separated parts (JWE's five parts land here too).
    BadFormat,
    /// Header is not strict base64url.
    HeaderNotBase64,
    /// Header is not a JSON object, or has duplicate members.
    HeaderNotJson,
    /// `alg` missing or not a string.
    MissingAlgorithm,
    /// `alg` is `none` or an algorithm wasp does not verify (ES512, ...).
    UnsupportedAlgorithm,
    /// `kid` is not a string, or longer than 256 bytes.
    BadKid,
    /// The header asks for something wasp refuses: `crit`, a nested JWT (`cty: JWT`), or a
    /// `typ` other than `JWT` / `*+JWT`.
    UnsupportedHeader,
    /// Payload is not strict base64url.
    PayloadNotBase64,
    /// Payload is not a JSON object, or has duplicate members.
    PayloadNotJson,
    /// A registered claim has the wrong type or range.
    BadClaim(Claim),
    /// Signature is not strict base64url.
    SignatureNotBase64,
    /// `iss` names no provider this operation accepts.
    UnknownIssuer,
    /// `exp` is more than the allowed skew in the past.
    Expired,
    /// No `exp`, where the provider requires one (`--jwt-require-exp`, a maximum lifetime).
    ExpirationRequired,
    /// `exp` is further from `iat` than the provider's maximum lifetime.
    LifetimeTooLong,
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
    /// As [`JwtError::JwksFetchFailed`], where the provider answers 503 while no key set
    /// has ever loaded: the gateway cannot verify yet, the token may be fine.
    KeysNotLoaded { retry_after_secs: u32 },
    /// No key with the token's `kid` and a compatible algorithm.
    KeyNotFound,
    /// The signature does not verify with any candidate key.
    VerificationFailed,
}

/// Which registered claim is malformed, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Claim {
    IssNotString,
    SubNotString,
    JtiNotString,
    AzpNotString,
    NonceNotString,
    AudNotStrings,
    ExpNotInteger,
    ExpOutOfRange,
    NbfNotInteger,
    NbfOutOfRange,
    IatNotInteger,
    IatOutOfRange,
}

impl JwtError {
    /// HTTP status of the local reply.
    pub fn status(self) -> u16 {
        match self {
            JwtError::AudienceNotAllowed
            | JwtError::ScopeNotAllowed
            | JwtError::ClientIdNotAllowed => 403,
            JwtError::KeysNotLoaded { .. } => 503,
            _ => 401,
        }
    }

    /// The reply's message (the filter wraps it as `{"code":<status>,"message":<this>}`).
    /// Wording is Envoy's (`source/common/jwt/status.cc`, the in-tree jwt_verify_lib that
    /// ESPv2's bodies come from) wherever Envoy has the failure.
    pub fn message(self) -> &'static str {
        match self {
            JwtError::Missing => "Jwt is missing",
            JwtError::TooLarge => "Jwt is too large",
            JwtError::BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            JwtError::HeaderNotBase64 => "Jwt header is an invalid Base64url encoded",
            JwtError::HeaderNotJson => "Jwt header is an invalid JSON",
            JwtError::MissingAlgorithm => "Jwt header [alg] field is required and must be a string",
            JwtError::UnsupportedAlgorithm => "Jwt header [alg] is not supported",
            JwtError::BadKid => "Jwt header [kid] field is not a string",
            JwtError::UnsupportedHeader => {
                "Jwt header [crit], [cty] or [typ] field is not supported"
            }
            JwtError::PayloadNotBase64 => "Jwt payload is an invalid Base64url encoded",
            JwtError::PayloadNotJson => "Jwt payload is an invalid JSON",
            JwtError::BadClaim(claim) => claim.message(),
            JwtError::SignatureNotBase64 => "Jwt signature is an invalid Base64url encoded",
            JwtError::UnknownIssuer => "Jwt issuer is not configured",
            JwtError::Expired => "Jwt is expired",
            JwtError::ExpirationRequired => "Jwt payload [exp] field is required",
            JwtError::LifetimeTooLong => "Jwt lifetime (exp - iat) is longer than allowed",
            JwtError::NotYetValid => "Jwt not yet valid",
            JwtError::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            JwtError::ScopeNotAllowed => "Jwt scopes are not allowed",
            JwtError::ClientIdNotAllowed => "Jwt client id (azp) is not allowed",
            JwtError::JwksFetchFailed => "Jwks remote fetch is failed",
            JwtError::KeysNotLoaded { .. } => {
                "UNAVAILABLE: Jwks remote fetch is failed and no keys are loaded yet; retry later"
            }
            JwtError::KeyNotFound => "Jwks doesn't have key to match kid or alg from Jwt",
            JwtError::VerificationFailed => "Jwt verification fails",
        }
    }

    /// The response-code detail Envoy reports for it, `jwt_authn_access_denied{<this>}`:
    /// the message with spaces replaced by underscores.
    pub fn detail(self) -> String {
        self.message().replace(' ', "_")
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

    /// Whether this failure means "no token here" rather than "a token was presented and is
    /// bad". Only the former lets an API-key-only alternative decide (ESPv2's allow_missing).
    pub fn is_absent(self) -> bool {
        matches!(self, JwtError::Missing)
    }
}

impl Claim {
    fn message(self) -> &'static str {
        match self {
            Claim::IssNotString => "Jwt payload [iss] field is not a string",
            Claim::SubNotString => "Jwt payload [sub] field is not a string",
            Claim::JtiNotString => "Jwt payload [jti] field is not a string",
            Claim::AzpNotString => "Jwt payload [azp] field is not a string",
            Claim::NonceNotString => "Jwt payload [nonce] field is not a string",
            Claim::AudNotStrings => "Jwt payload [aud] field is not a string or string list",
            Claim::ExpNotInteger => "Jwt payload [exp] field is not an integer",
            Claim::ExpOutOfRange => "Jwt payload [exp] field is not a positive 64 bit integer",
            Claim::NbfNotInteger => "Jwt payload [nbf] field is not an integer",
            Claim::NbfOutOfRange => "Jwt payload [nbf] field is not a positive 64 bit integer",
            Claim::IatNotInteger => "Jwt payload [iat] field is not an integer",
            Claim::IatOutOfRange => "Jwt payload [iat] field is not a positive 64 bit integer",
        }
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
