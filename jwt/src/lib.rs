//! JWT verification for wasp, as plain Rust with no host calls: the filter's proxy-wasm
//! adapter fetches key documents, keeps [`refresh::JwksState`] in shared data, pauses
//! requests, and passes the current time in as `now` (unix seconds).
//!
//! Flow for one request: [`requirements::evaluate`] takes the operation's security
//! requirement, finds each provider's token ([`locations`]), and checks it with a
//! [`verify::Verifier`] (structure [`token`], claims [`claims`], keys [`keys`] from
//! [`jwks`], cached in [`cache`]). Failures are [`errors::JwtError`] values carrying ESPv2's
//! status and message; verified payloads become the user-info header ([`userinfo`]).

// The filter calls this crate on every request: a panic would kill the VM, so the non-test
// code must not contain a way to panic on input (same rule as the filter).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod alg;
pub mod cache;
pub mod claims;
pub mod errors;
pub mod jwks;
pub mod keys;
pub mod locations;
pub mod provider;
pub mod refresh;
pub mod requirements;
pub mod token;
pub mod userinfo;
pub mod verified;
pub mod verify;
mod x509;

pub use alg::Algorithm;
pub use errors::JwtError;
pub use jwks::{parse_discovery_document, parse_key_document, JwksError};
pub use keys::KeySet;
pub use provider::{JwksSource, Provider, TokenLocation};
pub use requirements::{
    evaluate, Alternative, Decision, JwtRequirement, RequestParts, SecurityRequirement, Service,
};
pub use verify::{Keys, Rules, Verdict, VerifiedToken, Verifier, Wait};
