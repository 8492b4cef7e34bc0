//! The JWT stage of the request pipeline, as plain Rust: which keys a request may use,
//! what the `wasp-jwt` evaluation means for the request (forward with user info, deny,
//! or wait for keys), and when a paused request may be decided again.
//!
//! The host adapter (`host::jwks`) fetches key documents on the root's tick, shares them
//! between worker VMs ([`shared`]) and keeps this VM's [`KeyViews`] up to date; requests
//! only read the views, so a request with warm keys makes no host call for them.

pub mod fetch;
pub mod shared;

use wasp_config::{Provider, SecurityRequirement};
use wasp_jwt::refresh::{JwksState, RefreshPolicy};
use wasp_jwt::userinfo::userinfo_value;
use wasp_jwt::{evaluate, Decision, JwtError, KeySet, Keys, RequestParts, Service, Verifier, Wait};

use crate::head::first;

/// This VM's picture of one provider's keys.
#[derive(Debug, Default)]
pub struct ProviderKeys {
    /// The fetch state as last read from (or written to) shared data.
    pub state: JwksState,
    /// Shared-data CAS of `state` when it was read; `None` forces a re-read.
    pub state_cas: Option<u32>,
    /// Parsed keys of `generation`; `None` until a document was fetched.
    pub keys: Option<KeySet>,
    pub generation: u64,
    /// A request met an unknown `kid`; the root asks for a (rate-limited) refresh.
    pub kid_refresh_wanted: bool,
}

/// Every provider's keys, in configuration order (index = provider index).
#[derive(Debug, Default)]
pub struct KeyViews {
    pub providers: Vec<ProviderKeys>,
}

/// Whether a decision may still wait for keys, or must be made with what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// First look at a request: a cold fetch or an unknown `kid` may make it wait.
    First,
    /// A paused request's fetch ended or its deadline passed: decide now.
    Final,
}

/// What the JWT stage says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtOutcome {
    /// Go on; `userinfo` is the `X-Endpoint-API-UserInfo` value when a token was verified.
    /// `key_required`: the alternative that let the request in also names an API key (or,
    /// with no token presented, only API-key alternatives are left), so the API-key stage
    /// must find and check one.
    Forward {
        userinfo: Option<String>,
        key_required: bool,
    },
    /// Reply with this error's status, message and `WWW-Authenticate`.
    Deny(JwtError),
    /// Pause until these providers' fetches end; `kid_refresh` ones need a refresh first.
    Wait {
        providers: Vec<usize>,
        kid_refresh: Vec<usize>,
    },
}

/// The key state a check sees for provider `view` at `now` (unix seconds).
pub fn keys_for<'a>(
    view: &'a ProviderKeys,
    policy: &RefreshPolicy,
    now: u64,
    pass: Pass,
) -> Keys<'a> {
    match (&view.keys, pass) {
        (Some(keys), _) => Keys::Ready {
            keys,
            generation: view.generation,
            // An unknown kid waits for a refresh the rate limit allows, or for the one
            // already running (a rotation is often noticed by several requests at once).
            may_refresh: pass == Pass::First
                && (view.state.kid_refresh_allowed(policy, now)
                    || view.state.in_flight_since.is_some()),
        },
        // No keys yet: wait while a fetch runs or is due (the root's next tick starts it);
        // during a failure's backoff answer at once, as ESPv2 does.
        (None, Pass::First) if fetch_running_or_due(&view.state, now) => Keys::Loading,
        (None, _) => Keys::Unavailable {
            retry_after_secs: u32::try_from(view.state.retry_at.saturating_sub(now))
                .unwrap_or(u32::MAX)
                .max(1),
        },
    }
}

fn fetch_running_or_due(state: &JwksState, now: u64) -> bool {
    state.in_flight_since.is_some() || now >= state.retry_at
}

/// Service-wide JWT settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtSettings<'a> {
    /// The service name: the default audience is `https://<it>`.
    pub service_name: &'a str,
    /// Requirements without audiences accept only the default audience (ESPv2's default).
    pub default_audience: bool,
    /// The user-info header is padded base64url (`--jwt-pad-forward-payload-header`).
    pub pad_userinfo: bool,
}

/// Runs the security requirement for one request.
#[allow(clippy::too_many_arguments)]
pub fn authenticate(
    requirement: &SecurityRequirement,
    settings: JwtSettings<'_>,
    providers: &[Provider],
    views: &KeyViews,
    verifier: &mut Verifier,
    headers: &[(String, String)],
    now: u64,
    pass: Pass,
) -> JwtOutcome {
    let path = first(headers, ":path").unwrap_or_default();
    let query = path.split_once('?').map_or("", |(_, query)| query);
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    let index_of = |provider: &Provider| providers.iter().position(|p| p.id == provider.id);
    let keys = |provider: &Provider| -> Keys<'_> {
        match index_of(provider).and_then(|i| views.providers.get(i)) {
            Some(view) => keys_for(view, &RefreshPolicy::for_provider(provider), now, pass),
            None => Keys::Unavailable {
                retry_after_secs: 1,
            },
        }
    };
    let service = Service {
        name: settings.service_name,
        providers,
        default_audience: settings.default_audience,
    };
    let request = RequestParts { headers, query };
    match evaluate(requirement, service, request, &keys, verifier, now) {
        Decision::Allowed {
            tokens,
            api_key_pending,
            ..
        } => JwtOutcome::Forward {
            userinfo: tokens
                .first()
                .map(|token| userinfo_value(token, settings.pad_userinfo)),
            key_required: api_key_pending,
        },
        Decision::NotSecured => JwtOutcome::Forward {
            userinfo: None,
            key_required: false,
        },
        // No token and an API-key alternative: the key stage decides, so a key is needed
        // (the spec's OR: a JWT or a key; ESPv2 would demand the JWT, see README).
        Decision::ApiKeyDecides { .. } => JwtOutcome::Forward {
            userinfo: None,
            key_required: true,
        },
        Decision::Denied(error) => JwtOutcome::Deny(error),
        Decision::Pending { waits } => {
            let mut providers_waited: Vec<usize> = Vec::new();
            let mut kid_refresh: Vec<usize> = Vec::new();
            for (id, wait) in waits {
                let Some(index) = providers.iter().position(|p| p.id == id) else {
                    continue;
                };
                if !providers_waited.contains(&index) {
                    providers_waited.push(index);
                }
                if wait == Wait::UnknownKid && !kid_refresh.contains(&index) {
                    kid_refresh.push(index);
                }
            }
            if pass == Pass::Final || providers_waited.is_empty() {
                // Cannot happen with a final pass (no waiting keys); fail closed anyway.
                return JwtOutcome::Deny(JwtError::JwksFetchFailed);
            }
            JwtOutcome::Wait {
                providers: providers_waited,
                kid_refresh,
            }
        }
    }
}

/// Unix seconds (the JWT crate's clock) from the host's milliseconds.
pub fn seconds(now_ms: u64) -> u64 {
    now_ms / 1000
}

/// Whether a request paused for `provider`'s keys can be decided again: no fetch runs,
/// none is asked for, and none is due (the root's tick would start one).
pub fn settled(view: &ProviderKeys, now: u64) -> bool {
    !view.kid_refresh_wanted
        && view.state.in_flight_since.is_none()
        && (view.keys.is_some() || now < view.state.retry_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{jwt_required, Idp};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use wasp_config::{Alternative, JwksSource};
    use wasp_jwt::parse_key_document;

    const ISSUER: &str = "https://issuer.example";
    const SERVICE: &str = "api.example.com";

    fn now() -> u64 {
        jwt_simple::prelude::Clock::now_since_epoch().as_secs()
    }

    /// A token the provider signed for `audience`.
    fn signed(idp: &Idp, audience: &str) -> String {
        idp.token(ISSUER, audience)
    }

    fn providers() -> Vec<Provider> {
        vec![Provider::new(
            "idp",
            ISSUER,
            JwksSource::Uri("https://issuer.example/jwks".into()),
        )]
    }

    fn jwt_only() -> SecurityRequirement {
        jwt_required("idp")
    }

    fn warm(document: &[u8]) -> KeyViews {
        let mut state = JwksState::default();
        state.plan_tick(&RefreshPolicy::default(), now());
        let generation = state.on_keys_fetched(now(), "h".into());
        KeyViews {
            providers: vec![ProviderKeys {
                state,
                state_cas: Some(1),
                keys: Some(parse_key_document(document).unwrap()),
                generation,
                kid_refresh_wanted: false,
            }],
        }
    }

    fn request(token: Option<&str>) -> Vec<(String, String)> {
        let mut headers = vec![(":path".to_string(), "/v1/shelves?x=1".to_string())];
        if let Some(token) = token {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        headers
    }

    fn run(
        requirement: &SecurityRequirement,
        views: &KeyViews,
        verifier: &mut Verifier,
        headers: &[(String, String)],
        pass: Pass,
    ) -> JwtOutcome {
        authenticate(
            requirement,
            JwtSettings {
                service_name: SERVICE,
                default_audience: true,
                pad_userinfo: false,
            },
            &providers(),
            views,
            verifier,
            headers,
            now(),
            pass,
        )
    }

    #[test]
    fn a_valid_token_forwards_its_payload_as_user_info() {
        let idp = Idp::new("k1");
        let views = warm(&idp.jwks());
        let token = signed(&idp, &format!("https://{SERVICE}"));
        let mut verifier = Verifier::default();
        for _ in 0..2 {
            // The second round is served by the verified-token cache.
            let JwtOutcome::Forward {
                userinfo: Some(userinfo),
                key_required: false,
            } = run(
                &jwt_only(),
                &views,
                &mut verifier,
                &request(Some(&token)),
                Pass::First,
            )
            else {
                panic!("expected a forward with user info");
            };
            let payload: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(userinfo).unwrap()).unwrap();
            assert_eq!(payload["iss"], ISSUER);
            assert_eq!(payload["sub"], "user-7");
        }
    }

    #[test]
    fn missing_forged_and_wrong_audience_tokens_are_denied() {
        let idp = Idp::new("k1");
        let views = warm(&idp.jwks());
        let mut verifier = Verifier::default();
        let deny = |headers: &[(String, String)], verifier: &mut Verifier| {
            run(&jwt_only(), &views, verifier, headers, Pass::First)
        };
        assert_eq!(
            deny(&request(None), &mut verifier),
            JwtOutcome::Deny(JwtError::Missing)
        );
        let impostor = signed(&Idp::new("k1"), &format!("https://{SERVICE}"));
        assert_eq!(
            deny(&request(Some(&impostor)), &mut verifier),
            JwtOutcome::Deny(JwtError::VerificationFailed)
        );
        let elsewhere = signed(&idp, "https://other.example");
        assert_eq!(
            deny(&request(Some(&elsewhere)), &mut verifier),
            JwtOutcome::Deny(JwtError::AudienceNotAllowed)
        );
    }

    #[test]
    fn a_cold_start_waits_and_a_failed_fetch_answers_at_once() {
        let idp = Idp::new("k1");
        let token = signed(&idp, &format!("https://{SERVICE}"));
        let mut verifier = Verifier::default();
        let cold = KeyViews {
            providers: vec![ProviderKeys::default()],
        };
        assert_eq!(
            run(
                &jwt_only(),
                &cold,
                &mut verifier,
                &request(Some(&token)),
                Pass::First
            ),
            JwtOutcome::Wait {
                providers: vec![0],
                kid_refresh: vec![]
            }
        );
        assert!(!settled(&cold.providers[0], now()), "the fetch is due");
        // The fetch failed: backoff, no keys. Waiters are settled and get ESPv2's 401.
        let mut failed = ProviderKeys::default();
        failed.state.plan_tick(&RefreshPolicy::default(), now());
        failed
            .state
            .on_fetch_failed(&RefreshPolicy::default(), now());
        assert!(settled(&failed, now()));
        let failed = KeyViews {
            providers: vec![failed],
        };
        for pass in [Pass::First, Pass::Final] {
            assert_eq!(
                run(
                    &jwt_only(),
                    &failed,
                    &mut verifier,
                    &request(Some(&token)),
                    pass
                ),
                JwtOutcome::Deny(JwtError::JwksFetchFailed)
            );
        }
        // A missing token needs no keys.
        assert_eq!(
            run(
                &jwt_only(),
                &cold,
                &mut verifier,
                &request(None),
                Pass::First
            ),
            JwtOutcome::Deny(JwtError::Missing)
        );
    }

    #[test]
    fn an_unknown_kid_asks_for_one_refresh_then_fails() {
        let old = Idp::new("old");
        let rotated = Idp::new("new");
        let token = signed(&rotated, &format!("https://{SERVICE}"));
        let mut views = warm(&old.jwks());
        let mut verifier = Verifier::default();
        assert_eq!(
            run(
                &jwt_only(),
                &views,
                &mut verifier,
                &request(Some(&token)),
                Pass::First
            ),
            JwtOutcome::Wait {
                providers: vec![0],
                kid_refresh: vec![0]
            }
        );
        views.providers[0].kid_refresh_wanted = true;
        assert!(!settled(&views.providers[0], now()));
        // The refresh brought the same document: the final pass refuses the kid.
        views.providers[0].kid_refresh_wanted = false;
        assert_eq!(
            run(
                &jwt_only(),
                &views,
                &mut verifier,
                &request(Some(&token)),
                Pass::Final
            ),
            JwtOutcome::Deny(JwtError::KeyNotFound)
        );
        // While a refresh runs, another request with the kid waits for it too.
        views.providers[0]
            .state
            .start_kid_refresh(&RefreshPolicy::default(), now());
        assert!(matches!(
            run(
                &jwt_only(),
                &views,
                &mut verifier,
                &request(Some(&token)),
                Pass::First
            ),
            JwtOutcome::Wait { .. }
        ));
        // Within the rate limit a new request does not wait at all.
        views.providers[0].state.on_keys_fetched(now(), "h".into());
        assert_eq!(
            run(
                &jwt_only(),
                &views,
                &mut verifier,
                &request(Some(&token)),
                Pass::First
            ),
            JwtOutcome::Deny(JwtError::KeyNotFound)
        );
        // The rotated document verifies it.
        let rotated_views = warm(&rotated.jwks());
        assert!(matches!(
            run(
                &jwt_only(),
                &rotated_views,
                &mut verifier,
                &request(Some(&token)),
                Pass::First
            ),
            JwtOutcome::Forward {
                userinfo: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn api_key_alternatives_and_query_tokens() {
        let idp = Idp::new("k1");
        let views = warm(&idp.jwks());
        let mut verifier = Verifier::default();
        let either = SecurityRequirement {
            allow_missing: false,
            alternatives: vec![
                jwt_only().alternatives.remove(0),
                Alternative {
                    jwt: vec![],
                    api_keys: vec!["api_key".into()],
                },
            ],
        };
        assert_eq!(
            run(&either, &views, &mut verifier, &request(None), Pass::First),
            JwtOutcome::Forward {
                userinfo: None,
                key_required: true
            },
            "no token: the API-key stage decides, and needs a key"
        );
        let token = signed(&idp, &format!("https://{SERVICE}"));
        assert!(
            matches!(
                run(
                    &either,
                    &views,
                    &mut verifier,
                    &request(Some(&token)),
                    Pass::First
                ),
                JwtOutcome::Forward {
                    userinfo: Some(_),
                    key_required: false
                }
            ),
            "a valid token satisfies its own alternative: no key needed"
        );
        let both = SecurityRequirement {
            allow_missing: false,
            alternatives: vec![Alternative {
                jwt: jwt_only().alternatives.remove(0).jwt,
                api_keys: vec!["api_key".into()],
            }],
        };
        assert!(
            matches!(
                run(
                    &both,
                    &views,
                    &mut verifier,
                    &request(Some(&token)),
                    Pass::First
                ),
                JwtOutcome::Forward {
                    userinfo: Some(_),
                    key_required: true
                }
            ),
            "a JWT and a key in one alternative: the key is still needed"
        );
        let query = vec![(
            ":path".to_string(),
            format!("/v1/shelves?access_token={token}"),
        )];
        assert!(matches!(
            run(&jwt_only(), &views, &mut verifier, &query, Pass::First),
            JwtOutcome::Forward {
                userinfo: Some(_),
                ..
            }
        ));
        let forged = signed(&Idp::new("k1"), &format!("https://{SERVICE}"));
        assert_eq!(
            run(
                &either,
                &views,
                &mut verifier,
                &request(Some(&forged)),
                Pass::First
            ),
            JwtOutcome::Deny(JwtError::VerificationFailed),
            "a presented bad token is denied even with an API-key alternative"
        );
    }
}
