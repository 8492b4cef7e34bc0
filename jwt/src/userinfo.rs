//! The `X-Endpoint-API-UserInfo` value: the verified payload, base64url without padding
//! (ESPv2's default; `--jwt_pad_forward_payload_header` would add padding).

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::verify::VerifiedToken;

/// Header that carries the verified claims to the backend. The filter removes any
/// client-sent copy before setting it (or when no token was verified).
pub const USERINFO_HEADER: &str = "x-endpoint-api-userinfo";

/// The header value for a verified token: its payload exactly as signed, re-encoded.
pub fn userinfo_value(token: &VerifiedToken, pad: bool) -> String {
    if pad {
        URL_SAFE.encode(&token.payload_json)
    } else {
        URL_SAFE_NO_PAD.encode(&token.payload_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn encodes_the_payload_bytes_without_padding() {
        let token = VerifiedToken {
            provider: "p".into(),
            claims: Map::new(),
            payload_json: br#"{"sub":"a?"}"#.to_vec(),
            exp: None,
        };
        assert_eq!(userinfo_value(&token, false), "eyJzdWIiOiJhPyJ9");
        assert_eq!(userinfo_value(&token, true), "eyJzdWIiOiJhPyJ9");
        let token = VerifiedToken {
            payload_json: b"{}?".to_vec(),
            ..token
        };
        assert_eq!(userinfo_value(&token, false), "e30_");
        let token = VerifiedToken {
            payload_json: b"{}".to_vec(),
            ..token
        };
        assert_eq!(userinfo_value(&token, true), "e30=");
    }
}
