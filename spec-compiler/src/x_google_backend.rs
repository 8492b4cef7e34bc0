//! Backend rules (2.0 `x-google-backend` blocks, 3.x named backends): resolving the
//! rule that applies to an operation, with ESPv2's and Service Management's defaults,
//! into where the operation goes and how.
//!
//! Resolution rules (seed 003, espv2-behaviour.md 1.1, 4.6):
//! - no `address`: `--backend`, no path translation, no backend auth;
//! - `path_translation` defaults to APPEND_PATH_TO_ADDRESS for a top-level block
//!   and CONSTANT_ADDRESS for an operation-level one; APPEND with an address
//!   without a path rewrites nothing;
//! - the ID-token audience is `jwt_audience`, else the address as written
//!   (Service Management's default), none with `disable_auth: true`;
//! - `deadline` in seconds (fractions kept); non-positive means the 15 s default.

use crate::backend::Backend;
use crate::model::{BackendRule, Level, Translation};
use wasp_config::{BackendAuth, PathTranslation};

/// ESPv2's default response deadline (`util.DefaultResponseDeadline`).
pub const DEFAULT_DEADLINE_MS: u64 = 15_000;

/// What an operation's backend resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBackend {
    /// `None`: the `--backend` address.
    pub address: Option<Backend>,
    pub deadline_ms: u64,
    /// HTTP/2 to the `--backend` address (an address-less block with `protocol: h2`).
    pub http2: bool,
    pub path_translation: Option<PathTranslation>,
    pub backend_auth: Option<BackendAuth>,
}

/// Resolves the rule that applies to an operation (its own, else the top-level
/// one, else none).
pub fn resolve(rule: Option<&BackendRule>) -> ResolvedBackend {
    let Some(rule) = rule else {
        return ResolvedBackend {
            address: None,
            deadline_ms: DEFAULT_DEADLINE_MS,
            http2: false,
            path_translation: None,
            backend_auth: None,
        };
    };
    let deadline_ms = rule.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS);
    let Some(address) = &rule.address else {
        return ResolvedBackend {
            address: None,
            deadline_ms,
            http2: rule.http2,
            path_translation: None,
            backend_auth: None,
        };
    };
    let translation = rule.translation.unwrap_or(match rule.level {
        Level::Top => Translation::AppendPathToAddress,
        Level::Operation => Translation::ConstantAddress,
    });
    let path_translation = match translation {
        Translation::AppendPathToAddress if address.path.is_empty() => None,
        Translation::AppendPathToAddress => Some(PathTranslation::AppendPathToAddress {
            prefix: address.path.clone(),
        }),
        Translation::ConstantAddress => Some(PathTranslation::ConstantAddress {
            path: if address.path.is_empty() {
                "/".to_string()
            } else {
                address.path.clone()
            },
        }),
    };
    let backend_auth = (!rule.disable_auth).then(|| BackendAuth {
        audience: rule
            .jwt_audience
            .clone()
            .unwrap_or_else(|| address.text.clone()),
    });
    let mut backend = address.backend.clone();
    backend.http2 = rule.http2;
    ResolvedBackend {
        address: Some(backend),
        deadline_ms,
        http2: rule.http2,
        path_translation,
        backend_auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointer::Pointer;
    use crate::read::backend_rule::{read_rule, SWAGGER2_BACKEND};
    use crate::read::yaml::Reader;
    use serde_norway::Value;

    fn rule(yaml: &str, level: Level) -> Result<BackendRule, Vec<String>> {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        let at = Pointer::root().child("x-google-backend");
        let mut r = Reader::new("api.yaml");
        let rule = read_rule(&mut r, &value, &at, level, &SWAGGER2_BACKEND);
        r.finish(rule)
            .map(|(rule, _)| rule)
            .map_err(|e| e.iter().map(|d| d.to_string()).collect())
    }

    fn resolved(yaml: &str, level: Level) -> ResolvedBackend {
        resolve(Some(&rule(yaml, level).unwrap()))
    }

    fn errors(yaml: &str) -> Vec<String> {
        rule(yaml, Level::Operation).unwrap_err()
    }

    #[test]
    fn no_rule_is_the_flag_backend_as_is() {
        let r = resolve(None);
        assert_eq!(r.address, None);
        assert_eq!(r.deadline_ms, 15_000);
        assert_eq!((r.path_translation, r.backend_auth), (None, None));
    }

    #[test]
    fn no_address_means_flag_backend_without_translation_or_auth() {
        let r = resolved("{deadline: 10.0}", Level::Top);
        assert_eq!(r.address, None);
        assert_eq!(r.deadline_ms, 10_000);
        assert_eq!((r.path_translation, r.backend_auth), (None, None));
        assert!(resolved("{protocol: h2}", Level::Operation).http2);
    }

    #[test]
    fn top_level_appends_and_operation_level_is_constant_by_default() {
        let top = resolved("{address: 'https://b.example.com/api/'}", Level::Top);
        assert_eq!(
            top.path_translation,
            Some(PathTranslation::AppendPathToAddress {
                prefix: "/api".into()
            })
        );
        let op = resolved("{address: 'https://b.example.com/fn'}", Level::Operation);
        assert_eq!(
            op.path_translation,
            Some(PathTranslation::ConstantAddress { path: "/fn".into() })
        );
        let root = resolved("{address: 'https://b.example.com'}", Level::Operation);
        assert_eq!(
            root.path_translation,
            Some(PathTranslation::ConstantAddress { path: "/".into() })
        );
    }

    #[test]
    fn append_without_an_address_path_rewrites_nothing() {
        for address in ["https://b.example.com", "https://b.example.com/"] {
            let r = resolved(&format!("{{address: '{address}'}}"), Level::Top);
            assert_eq!(r.path_translation, None, "{address}");
            let r = resolved(
                &format!("{{address: '{address}', path_translation: APPEND_PATH_TO_ADDRESS}}"),
                Level::Operation,
            );
            assert_eq!(r.path_translation, None, "{address}");
        }
        let r = resolved(
            "{address: 'http://b.example.com/v2', path_translation: APPEND_PATH_TO_ADDRESS}",
            Level::Operation,
        );
        assert_eq!(
            r.path_translation,
            Some(PathTranslation::AppendPathToAddress {
                prefix: "/v2".into()
            })
        );
        let r = resolved(
            "{address: 'http://b.example.com/v2', path_translation: CONSTANT_ADDRESS}",
            Level::Top,
        );
        assert_eq!(
            r.path_translation,
            Some(PathTranslation::ConstantAddress { path: "/v2".into() })
        );
    }

    #[test]
    fn audience_is_jwt_audience_else_the_address_verbatim_else_none() {
        let r = resolved("{address: 'https://run.example.app/shelves/'}", Level::Top);
        assert_eq!(
            r.backend_auth,
            Some(BackendAuth {
                audience: "https://run.example.app/shelves/".into()
            })
        );
        let r = resolved(
            "{address: 'https://run.example.app', jwt_audience: 'client-id-123'}",
            Level::Top,
        );
        assert_eq!(r.backend_auth.unwrap().audience, "client-id-123");
        let r = resolved(
            "{address: 'https://run.example.app', disable_auth: true}",
            Level::Top,
        );
        assert_eq!(r.backend_auth, None);
        let r = resolved(
            "{address: 'https://run.example.app', disable_auth: false, jwt_audience: a}",
            Level::Top,
        );
        assert_eq!(r.backend_auth.unwrap().audience, "a");
    }

    #[test]
    fn deadlines_default_ignore_non_positive_and_keep_fractions() {
        let ms = |d: &str| resolved(&format!("{{deadline: {d}}}"), Level::Operation).deadline_ms;
        assert_eq!(ms("1.5"), 1_500);
        assert_eq!(ms("30"), 30_000);
        assert_eq!(ms("0"), 15_000);
        assert_eq!(ms("-3.5"), 15_000);
        assert_eq!(ms("0.0001"), 1, "never 0, which Envoy reads as no timeout");
        assert_eq!(ms("3600.0"), 3_600_000);
    }

    #[test]
    fn protocol_and_address_shape_the_backend() {
        let r = resolved(
            "{address: 'https://b.example.com:8443/x', protocol: h2}",
            Level::Operation,
        );
        let b = r.address.unwrap();
        assert!(b.tls && b.http2);
        assert_eq!((b.host.as_str(), b.port), ("b.example.com", 8443));
        let r = resolved(
            "{address: 'http://b.example.com', protocol: http/1.1}",
            Level::Top,
        );
        let b = r.address.unwrap();
        assert!(!b.tls && !b.http2);
        assert_eq!(b.port, 80);
    }

    #[test]
    fn every_invalid_field_is_reported_with_pointer_and_fix() {
        let cases = [
            ("{address: 'ftp://b.example.com'}", "api.yaml: /x-google-backend/address: address scheme \"ftp\" in \"ftp://b.example.com\" is not supported; use http:// or https://"),
            ("{address: 'b.example.com/x'}", "/x-google-backend/address: address \"b.example.com/x\" has no scheme; write http://b.example.com/x or https://b.example.com/x"),
            ("{address: 'https://'}", "/x-google-backend/address: address \"https://\" is not a URL"),
            ("{address: 'https://b.example.com/x?a=1'}", "/x-google-backend/address: address \"https://b.example.com/x?a=1\" has a query or fragment"),
            ("{address: 'https://b.example.com', jwt_audience: a, disable_auth: true}", "/x-google-backend/jwt_audience: jwt_audience and disable_auth: true contradict each other"),
            ("{address: 'https://b.example.com', path_translation: APPEND}", "/x-google-backend/path_translation: path_translation \"APPEND\" is unknown; use APPEND_PATH_TO_ADDRESS or CONSTANT_ADDRESS"),
            ("{path_translation: CONSTANT_ADDRESS}", "/x-google-backend/path_translation: path_translation needs an address"),
            ("{jwt_audience: aud}", "/x-google-backend/jwt_audience: jwt_audience needs an address"),
            ("{address: 7}", "/x-google-backend/address: address must be a string such as https://backend.example.com, not a number"),
            ("{disable_auth: 'yes'}", "/x-google-backend/disable_auth: disable_auth must be true or false, not a string"),
            ("{deadline: '10s'}", "/x-google-backend/deadline: deadline must be a number of seconds such as 30.0, not a string"),
            ("{deadline: 1.0e12}", "/x-google-backend/deadline: deadline 1000000000000.0 seconds is too large"),
            ("{protocol: grpc}", "/x-google-backend/protocol: protocol \"grpc\" is not supported; use http/1.1 (the default) or h2"),
            ("{adress: 'https://b.example.com'}", "/x-google-backend/adress: \"adress\" is not a field of x-google-backend; use only address, jwt_audience"),
            ("{address: 'https://b.example.com', jwt_audience: ''}", "/x-google-backend/jwt_audience: jwt_audience is empty"),
            ("[https://b.example.com]", "api.yaml: /x-google-backend: x-google-backend must be a mapping"),
        ];
        for (yaml, expected) in cases {
            let e = errors(yaml);
            assert_eq!(e.len(), 1, "{yaml}: {e:?}");
            assert!(
                e[0].contains(expected),
                "{yaml}:\n{}\nexpected: {expected}",
                e[0]
            );
        }
        let all = errors("{address: 'ftp://x', deadline: x, protocol: h3, extra: 1}");
        assert_eq!(all.len(), 4, "{all:?}");
    }
}
