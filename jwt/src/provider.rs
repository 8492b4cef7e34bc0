//! What the crate needs to know about one JWT provider (an OpenAPI `securityDefinitions`
//! entry with `x-google-issuer`). The types live in the shared filter-config schema
//! (`wasp_config::auth`); they are re-exported here for compatibility.

pub use wasp_config::auth::{
    JwksSource, Provider, TokenLocation, DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_JWKS_CACHE_SECONDS,
};
