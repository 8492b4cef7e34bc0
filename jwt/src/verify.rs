//! Checks one token for one provider, in ESPv2's order: structure, issuer, time, audience
//! (all before any key is touched, so a forged token with a wrong `aud` costs no RSA and
//! gets the same 403 as under ESPv2), then the key lookup and signature, then the scope and
//! client-id rules. A cached token skips straight to the per-operation checks.

use serde_json::{Map, Value};
use std::sync::Arc;

use crate::cache::{token_key, TokenCache};
use crate::claims;
use crate::errors::JwtError;
use crate::keys::KeySet;
use crate::provider::Provider;
use crate::token;
pub use crate::verified::VerifiedToken;

/// The per-operation rules on top of the provider's (from the security requirement).
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Effective audiences (see [`claims::effective_audiences`]); empty: no audience check.
    pub audiences: &'a [String],
    /// Required scope alternatives; empty: no scope check.
    pub scopes: &'a [String],
}

/// What the caller knows about the provider's keys right now.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    /// Keys are loaded. `may_refresh` says whether an unknown `kid` may still trigger a
    /// refresh (the refresh policy's rate limit); if not, it is a final failure.
    Ready {
        keys: &'a KeySet,
        generation: u64,
        may_refresh: bool,
    },
    /// The first fetch has not finished: the request has to wait for it.
    Loading,
    /// There are no keys and the last fetch failed; the next try is due in this many seconds.
    Unavailable { retry_after_secs: u32 },
}

/// Why a check could not finish yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The provider's first key fetch is still in progress.
    KeysLoading,
    /// The token's `kid` is not in the keys: a refresh may bring it.
    UnknownKid,
}

/// The outcome of checking one token against one provider.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Verified(Arc<VerifiedToken>),
    Rejected(JwtError),
    Pending(Wait),
}

/// Checks tokens and keeps the per-VM caches.
#[derive(Default)]
pub struct Verifier {
    cache: TokenCache,
}

impl Verifier {
    pub fn new(cache: TokenCache) -> Verifier {
        Verifier { cache }
    }

    /// Checks `token` for `provider` at `now` (unix seconds).
    pub fn check(
        &mut self,
        provider: &Provider,
        rules: Rules<'_>,
        token: &str,
        keys: Keys<'_>,
        now: u64,
    ) -> Verdict {
        if let Keys::Ready { generation, .. } = keys {
            if let Some(verified) = self
                .cache
                .get_verified(&provider.id, token, generation, now)
            {
                return match authorize(provider, rules, &verified.claims) {
                    Ok(()) => Verdict::Verified(verified),
                    Err(error) => Verdict::Rejected(error),
                };
            }
        }
        match self.check_uncached(provider, rules, token, keys, now) {
            Ok(verdict) => verdict,
            Err(error) => Verdict::Rejected(error),
        }
    }

    fn check_uncached(
        &mut self,
        provider: &Provider,
        rules: Rules<'_>,
        token: &str,
        keys: Keys<'_>,
        now: u64,
    ) -> Result<Verdict, JwtError> {
        let parsed = token::parse(token)?;
        if claims::issuer(&parsed.claims)? != provider.issuer {
            return Err(JwtError::UnknownIssuer);
        }
        claims::check_string_claims(&parsed.claims)?;
        let time_rules = claims::TimeRules {
            skew: provider.clock_skew_seconds,
            require_expiration: provider.require_expiration,
            max_lifetime: provider.max_lifetime_seconds,
        };
        let exp = claims::check_time(&parsed.claims, now, time_rules)?;
        claims::check_audience(&parsed.claims, rules.audiences)?;

        let (keys, generation, may_refresh) = match keys {
            Keys::Ready {
                keys,
                generation,
                may_refresh,
            } => (keys, generation, may_refresh),
            Keys::Loading => return Ok(Verdict::Pending(Wait::KeysLoading)),
            Keys::Unavailable { retry_after_secs } if provider.unavailable_keys_503 => {
                return Err(JwtError::KeysNotLoaded { retry_after_secs })
            }
            Keys::Unavailable { .. } => return Err(JwtError::JwksFetchFailed),
        };
        let candidates = keys.candidates(parsed.kid.as_deref(), parsed.alg);
        if candidates.is_empty() {
            // Only a named kid can appear after a refresh; a kid-less token with an
            // algorithm no key has will not.
            if may_refresh && parsed.kid.is_some() {
                return Ok(Verdict::Pending(Wait::UnknownKid));
            }
            return Err(JwtError::KeyNotFound);
        }
        // A named kid that only kid-less keys answered may still be a rotation.
        let unknown_kid = parsed.kid.is_some() && candidates.iter().all(|c| c.kid.is_none());
        let bad_key = token_key(&provider.id, token);
        if self.cache.is_known_bad(&bad_key, generation, now) {
            return Err(JwtError::VerificationFailed);
        }
        if !candidates
            .iter()
            .any(|candidate| candidate.verify_signature(token))
        {
            if may_refresh && unknown_kid {
                return Ok(Verdict::Pending(Wait::UnknownKid));
            }
            self.cache.put_bad(bad_key, generation, now);
            return Err(JwtError::VerificationFailed);
        }

        let verified = Arc::new(VerifiedToken {
            provider: provider.id.clone(),
            claims: parsed.claims,
            payload_json: parsed.payload_json,
            exp,
        });
        self.cache
            .put_verified(&provider.id, token, verified.clone(), generation, now);
        authorize(provider, rules, &verified.claims)?;
        Ok(Verdict::Verified(verified))
    }

    /// Cache sizes (verified, bad signatures), for stats.
    pub fn cache_len(&self) -> (usize, usize) {
        self.cache.len()
    }
}

/// The checks that depend on the operation, re-run on every cache hit: audience (before
/// signature on a miss, see above), scopes, allowed client ids.
fn authorize(
    provider: &Provider,
    rules: Rules<'_>,
    token_claims: &Map<String, Value>,
) -> Result<(), JwtError> {
    claims::check_audience(token_claims, rules.audiences)?;
    claims::check_scopes(token_claims, rules.scopes)?;
    claims::check_client_id(token_claims, provider.allowed_client_ids.as_deref())
}
