//! ESPv2's `--dependency_error_behavior=BLOCK_INIT_ON_ANY_ERROR`, as a gate in front of the
//! request path. ESPv2 does not open its listener until its tokens and keys are in; a wasm
//! filter cannot hold Envoy's listener, so instead every request (the health probe too) gets
//! 503 until each dependency has answered once on this worker, and from then on nothing is
//! held again (a later failure is handled per request, as in the default mode).

use wasp_config::DependencyGate;

use crate::local_reply::LocalReply;

/// What a dependency is, for the 503's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency<'a> {
    JwtKeys { provider: &'a str },
    Token { audience: &'a str },
}

impl Dependency<'_> {
    fn describe(&self) -> String {
        match self {
            Dependency::JwtKeys { provider } => format!("the JWT keys of provider {provider}"),
            Dependency::Token { audience } if *audience == wasp_config::ACCESS_TOKEN_KEY => {
                "the metadata server's access token".to_string()
            }
            Dependency::Token { audience } => format!("the ID token for audience {audience}"),
        }
    }
}

/// What the gate does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateAnswer {
    /// Not gated (the mode is off, or everything is in): the usual decision.
    Decide,
    /// The health probe once ready: Envoy's health check (after the filter) answers it.
    PassHealthProbe,
    Reply(LocalReply),
}

/// The answer for a request to `path` (query ignored) when `missing` is the first dependency
/// that has not answered yet.
pub fn gate(gate: &DependencyGate, path: &str, missing: Option<Dependency>) -> GateAnswer {
    if let Some(dependency) = missing {
        return GateAnswer::Reply(LocalReply::Starting {
            waiting_for: dependency.describe(),
        });
    }
    let path = path.split('?').next().unwrap_or_default();
    match &gate.health_path {
        Some(health) if health == path => GateAnswer::PassHealthProbe,
        _ => GateAnswer::Decide,
    }
}

/// The first dependency not in yet, in configuration order: providers (`has_keys`), then
/// tokens (`ready`).
pub fn first_missing<'a>(
    providers: impl IntoIterator<Item = (&'a str, bool)>,
    tokens: impl IntoIterator<Item = (&'a str, bool)>,
) -> Option<Dependency<'a>> {
    providers
        .into_iter()
        .find(|(_, has_keys)| !has_keys)
        .map(|(provider, _)| Dependency::JwtKeys { provider })
        .or_else(|| {
            tokens
                .into_iter()
                .find(|(_, ready)| !ready)
                .map(|(audience, _)| Dependency::Token { audience })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> DependencyGate {
        DependencyGate {
            health_path: Some("/healthz".into()),
        }
    }

    #[test]
    fn nothing_is_served_until_every_dependency_answered() {
        let missing = first_missing([("idp", true), ("other", false)], [("aud", false)]);
        assert_eq!(missing, Some(Dependency::JwtKeys { provider: "other" }));
        for path in ["/healthz", "/v1/x"] {
            let GateAnswer::Reply(reply) = gate(&health(), path, missing) else {
                panic!("{path} is held");
            };
            assert_eq!(reply.status(), 503);
            assert_eq!(
                reply.message(),
                "UNAVAILABLE: The API gateway is starting: waiting for the JWT keys of provider other."
            );
            assert_eq!(reply.headers(), [("retry-after", "1".to_string())]);
        }
        let missing = first_missing([("idp", true)], [(wasp_config::ACCESS_TOKEN_KEY, false)]);
        let GateAnswer::Reply(reply) = gate(&health(), "/v1/x", missing) else {
            panic!("held");
        };
        assert!(reply
            .message()
            .contains("the metadata server's access token"));
    }

    #[test]
    fn once_ready_the_probe_passes_and_requests_are_decided() {
        let missing = first_missing([("idp", true)], [("aud", true)]);
        assert_eq!(missing, None);
        assert_eq!(
            gate(&health(), "/healthz?x=1", None),
            GateAnswer::PassHealthProbe
        );
        assert_eq!(gate(&health(), "/healthz/x", None), GateAnswer::Decide);
        let no_probe = DependencyGate { health_path: None };
        assert_eq!(gate(&no_probe, "/healthz", None), GateAnswer::Decide);
    }
}
