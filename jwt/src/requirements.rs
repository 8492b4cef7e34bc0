//! Evaluates an operation's `security` requirement: OR across alternatives, AND within one.
//! Each JWT requirement finds its token in its provider's locations and checks it for that
//! provider. Alternatives that name API keys are reported, not enforced: the API-key stage
//! decides them.

use std::sync::Arc;

use crate::claims::effective_audiences;
use crate::errors::JwtError;
use crate::locations::extract;
use crate::provider::Provider;
use crate::verify::{Keys, Rules, Verdict, VerifiedToken, Verifier, Wait};

pub use wasp_config::auth::{Alternative, JwtRequirement, SecurityRequirement};

/// Service-wide settings the evaluation needs.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    pub name: &'a str,
    pub providers: &'a [Provider],
    /// ESPv2's default audience `https://<service name>`; off is
    /// `--disable_jwt_audience_service_name_check`.
    pub default_audience: bool,
}

/// The request parts tokens are taken from.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub headers: &'a [(String, String)],
    /// Raw query string, without `?`.
    pub query: &'a str,
}

/// What the JWT stage decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The operation has no security requirement.
    NotSecured,
    /// Every JWT requirement of `alternative` passed. When `api_key_pending`, that
    /// alternative also names API keys, which the API-key stage must still check.
    Allowed {
        alternative: usize,
        tokens: Vec<Arc<VerifiedToken>>,
        api_key_pending: bool,
    },
    /// No JWT alternative passed and no token was presented, but these alternatives need no
    /// JWT: the API-key stage decides. (A presented but invalid token is always denied,
    /// as ESPv2 does with `allow_missing`.)
    ApiKeyDecides { alternatives: Vec<usize> },
    /// Keys are needed before a decision: pause the request and evaluate again afterwards.
    Pending { waits: Vec<(String, Wait)> },
    /// Denied with this reason.
    Denied(JwtError),
}

/// Evaluates `requirement` for a request. `keys` reports each provider's key state.
pub fn evaluate<'k>(
    requirement: &SecurityRequirement,
    service: Service<'_>,
    request: RequestParts<'_>,
    keys: &dyn Fn(&Provider) -> Keys<'k>,
    verifier: &mut Verifier,
    now: u64,
) -> Decision {
    if requirement.alternatives.is_empty() {
        return Decision::NotSecured;
    }
    let mut allowed_with_key: Option<(usize, Vec<Arc<VerifiedToken>>)> = None;
    let mut waits: Vec<(String, Wait)> = Vec::new();
    let mut failures: Vec<JwtError> = Vec::new();
    let mut key_only = Vec::new();

    for (index, alternative) in requirement.alternatives.iter().enumerate() {
        if alternative.jwt.is_empty() {
            key_only.push(index);
            continue;
        }
        match check_alternative(alternative, service, request, keys, verifier, now) {
            AlternativeResult::Passed(tokens) if alternative.api_keys.is_empty() => {
                return Decision::Allowed {
                    alternative: index,
                    tokens,
                    api_key_pending: false,
                };
            }
            AlternativeResult::Passed(tokens) => {
                allowed_with_key.get_or_insert((index, tokens));
            }
            AlternativeResult::Waiting(mut w) => waits.append(&mut w),
            AlternativeResult::Failed(error) => failures.push(error),
        }
    }
    if let Some((alternative, tokens)) = allowed_with_key {
        return Decision::Allowed {
            alternative,
            tokens,
            api_key_pending: true,
        };
    }
    if !waits.is_empty() {
        return Decision::Pending { waits };
    }
    if !key_only.is_empty() && failures.iter().all(|e| e.is_absent()) {
        return Decision::ApiKeyDecides {
            alternatives: key_only,
        };
    }
    // No token anywhere: allowed without credentials; any token sent was checked above.
    if requirement.allow_missing && failures.iter().all(|e| e.is_absent()) {
        return Decision::NotSecured;
    }
    Decision::Denied(most_relevant(&failures))
}

enum AlternativeResult {
    Passed(Vec<Arc<VerifiedToken>>),
    Waiting(Vec<(String, Wait)>),
    Failed(JwtError),
}

fn check_alternative<'k>(
    alternative: &Alternative,
    service: Service<'_>,
    request: RequestParts<'_>,
    keys: &dyn Fn(&Provider) -> Keys<'k>,
    verifier: &mut Verifier,
    now: u64,
) -> AlternativeResult {
    let mut tokens = Vec::new();
    let mut waits = Vec::new();
    for jwt in &alternative.jwt {
        // A requirement naming an unknown provider is a compiler bug; fail closed.
        let Some(provider) = service.providers.iter().find(|p| p.id == jwt.provider) else {
            return AlternativeResult::Failed(JwtError::UnknownIssuer);
        };
        let found = extract(
            provider.effective_locations(),
            request.headers,
            request.query,
        );
        if found.is_empty() {
            return AlternativeResult::Failed(JwtError::Missing);
        }
        let audiences = effective_audiences(
            &jwt.audiences,
            &provider.audiences,
            service.name,
            service.default_audience,
        );
        let rules = Rules {
            audiences: &audiences,
            scopes: &jwt.scopes,
        };
        // Every token the provider's locations carry must verify (see `locations`); the
        // first one is the one forwarded.
        let mut first: Option<Arc<VerifiedToken>> = None;
        for candidate in &found {
            match verifier.check(provider, rules, &candidate.token, keys(provider), now) {
                Verdict::Verified(token) => {
                    first.get_or_insert(token);
                }
                Verdict::Pending(wait) => waits.push((provider.id.clone(), wait)),
                Verdict::Rejected(error) => return AlternativeResult::Failed(error),
            }
        }
        if let Some(token) = first {
            tokens.push(token);
        }
    }
    if waits.is_empty() {
        AlternativeResult::Passed(tokens)
    } else {
        AlternativeResult::Waiting(waits)
    }
}

/// Which failure to report when every alternative failed, as Envoy's `requires_any` does: a
/// real verification failure beats "issuer not configured" (the token was meant for another
/// alternative's provider), which beats "missing"; among equals the last one wins.
fn most_relevant(failures: &[JwtError]) -> JwtError {
    let rank = |e: &JwtError| match e {
        JwtError::Missing => 0,
        JwtError::UnknownIssuer => 1,
        _ => 2,
    };
    failures
        .iter()
        .copied()
        .fold(None, |best: Option<JwtError>, e| match best {
            Some(b) if rank(&b) > rank(&e) => Some(b),
            _ => Some(e),
        })
        .unwrap_or(JwtError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_priority_follows_requires_any() {
        use JwtError::*;
        assert_eq!(most_relevant(&[]), Missing);
        assert_eq!(
            most_relevant(&[Missing, UnknownIssuer, Missing]),
            UnknownIssuer
        );
        assert_eq!(most_relevant(&[Expired, UnknownIssuer, Missing]), Expired);
        assert_eq!(
            most_relevant(&[Expired, AudienceNotAllowed]),
            AudienceNotAllowed
        );
    }
}
