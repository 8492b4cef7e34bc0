//! What a verification leaves: the token's provider and claims, kept by the verified-token
//! cache and forwarded as the user info.

use serde_json::{Map, Value};

/// A token whose signature and claims were verified for a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The provider id that verified it.
    pub provider: String,
    /// The payload's claims.
    pub claims: Map<String, Value>,
    /// The payload exactly as signed, for `X-Endpoint-API-UserInfo`.
    pub payload_json: Vec<u8>,
    /// `exp`, if the token has one.
    pub exp: Option<u64>,
}
