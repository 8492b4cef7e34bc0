//! The signature algorithms wasp verifies. A token's `alg` only selects among the algorithms
//! its key allows; it never chooses the key type.

use serde::{Deserialize, Serialize};

/// A JWS algorithm wasp can verify. `none` and ES512 are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

impl Algorithm {
    /// Every RSA algorithm, in the order candidate keys are built.
    pub const RSA: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];
    /// Every HMAC algorithm.
    pub const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

    /// Parses a header `alg`. Exact, case-sensitive names (RFC 7518): `rs256`, `None`, `none`
    /// and anything unknown give `None`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            _ => return None,
        })
    }

    /// The RFC 7518 name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_wrong_case_and_es512_are_not_algorithms() {
        for name in [
            "none", "None", "NONE", "nOnE", "", "rs256", "Rs256", "ES512", "HS1", "ES256K",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
        for alg in Algorithm::RSA.iter().chain(Algorithm::HMAC.iter()) {
            assert_eq!(Algorithm::from_name(alg.name()), Some(*alg));
        }
    }
}
