//! `x-google-backend`: reading one block (top level or operation level) and
//! resolving it, with ESPv2's and Service Management's defaults, into where an
//! operation goes and how.
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
use crate::errors::{Diagnostic, Diagnostics};
use crate::pointer::Pointer;
use crate::source::describe;
use serde_norway::{Mapping, Value};
use wasp_config::{BackendAuth, PathTranslation};

/// ESPv2's default response deadline (`util.DefaultResponseDeadline`).
pub const DEFAULT_DEADLINE_MS: u64 = 15_000;
/// Larger deadlines are almost certainly a unit mistake (and overflow Envoy's
/// Duration long before u64 does).
const MAX_DEADLINE_S: f64 = 31_536_000.0;

const FIELDS: [&str; 6] = [
    "address",
    "jwt_audience",
    "disable_auth",
    "path_translation",
    "deadline",
    "protocol",
];

/// Where the block was written; decides the default path translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Top,
    Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    AppendPathToAddress,
    ConstantAddress,
}

/// A parsed `address`: the text as written (the default audience) and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub text: String,
    pub backend: Backend,
    /// Path with one trailing `/` trimmed; empty for none.
    pub path: String,
}

/// One `x-google-backend` block as written.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendRule {
    pub level: Level,
    pub address: Option<Address>,
    pub jwt_audience: Option<String>,
    pub disable_auth: bool,
    pub translation: Option<Translation>,
    /// `Some` only for a positive deadline, in milliseconds (at least 1).
    pub deadline_ms: Option<u64>,
    pub http2: bool,
}

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

/// Reads one `x-google-backend` value found at `pointer`.
pub fn read_rule(
    file: &str,
    value: &Value,
    pointer: &Pointer,
    level: Level,
) -> Result<BackendRule, Diagnostics> {
    let mut problems = Diagnostics::new();
    let Value::Mapping(block) = value else {
        return Err(vec![Diagnostic::new(
            file,
            pointer,
            format!(
                "x-google-backend must be a mapping such as {{address: https://backend.example.com}}, not {}",
                describe(value)
            ),
        )]);
    };
    let mut problem = |key: &str, message: String| {
        let at = if key.is_empty() {
            pointer.clone()
        } else {
            pointer.child(key)
        };
        problems.push(Diagnostic::new(file, &at, message));
    };
    for key in block.keys() {
        match key {
            Value::String(k) if FIELDS.contains(&k.as_str()) => {}
            Value::String(k) => problem(
                k,
                format!(
                    "{k:?} is not a field of x-google-backend; use only {}",
                    FIELDS.join(", ")
                ),
            ),
            other => problem(
                "",
                format!(
                    "a key of x-google-backend is {}; use only {}",
                    describe(other),
                    FIELDS.join(", ")
                ),
            ),
        }
    }

    let address =
        string_field(block, "address", &mut problem).and_then(
            |text| match Backend::parse_with_path(&text) {
                Ok((backend, path)) => Some(Address {
                    text,
                    backend,
                    path,
                }),
                Err(e) => {
                    problem("address", format!("address {e}"));
                    None
                }
            },
        );
    let jwt_audience = string_field(block, "jwt_audience", &mut problem);
    if jwt_audience.as_deref() == Some("") {
        problem(
            "jwt_audience",
            "jwt_audience is empty; give the audience the backend expects, or remove the field to use the address".into(),
        );
    }
    if jwt_audience.as_deref() == Some(wasp_config::ACCESS_TOKEN_KEY) {
        problem(
            "jwt_audience",
            format!("{:?} is reserved by wasp for Service Control's access token; choose another audience", wasp_config::ACCESS_TOKEN_KEY),
        );
    }
    let disable_auth = match block.get("disable_auth") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problem(
                "disable_auth",
                format!(
                    "disable_auth must be true or false, not {}",
                    describe(other)
                ),
            );
            false
        }
    };
    let translation = string_field(block, "path_translation", &mut problem).and_then(|t| {
        match t.as_str() {
            "APPEND_PATH_TO_ADDRESS" => Some(Translation::AppendPathToAddress),
            "CONSTANT_ADDRESS" => Some(Translation::ConstantAddress),
            _ => {
                problem(
                    "path_translation",
                    format!("path_translation {t:?} is unknown; use APPEND_PATH_TO_ADDRESS or CONSTANT_ADDRESS (upper case)"),
                );
                None
            }
        }
    });
    let deadline_ms = match block.get("deadline") {
        None => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if s > MAX_DEADLINE_S || !s.is_finite() => {
                problem(
                    "deadline",
                    format!("deadline {n} seconds is too large; give the seconds to wait for a response, at most {MAX_DEADLINE_S} (one year)"),
                );
                None
            }
            // ESPv2 ignores non-positive deadlines; at least 1 ms, as 0 would disable the timeout in Envoy.
            Some(s) if s > 0.0 => Some(((s * 1000.0).round() as u64).max(1)),
            _ => None,
        },
        Some(other) => {
            problem(
                "deadline",
                format!(
                    "deadline must be a number of seconds such as 30.0, not {}",
                    describe(other)
                ),
            );
            None
        }
    };
    let http2 = match string_field(block, "protocol", &mut problem).as_deref() {
        None | Some("http/1.1") => false,
        Some("h2") => true,
        Some(other) => {
            problem(
                "protocol",
                format!("protocol {other:?} is not supported; use http/1.1 (the default) or h2"),
            );
            false
        }
    };

    if disable_auth && jwt_audience.is_some() {
        problem(
            "jwt_audience",
            "jwt_audience and disable_auth: true contradict each other; remove jwt_audience to send no ID token, or remove disable_auth to send one".into(),
        );
    }
    let has_address = block.contains_key("address");
    if !has_address {
        for (field, why) in [
            (
                "path_translation",
                "there is no address path to translate to",
            ),
            (
                "jwt_audience",
                "requests go to --backend without an ID token",
            ),
        ] {
            if block.contains_key(field) {
                problem(
                    field,
                    format!("{field} needs an address ({why}); add address: https://... or remove {field}"),
                );
            }
        }
    }

    match problems.is_empty() {
        true => Ok(BackendRule {
            level,
            address,
            jwt_audience,
            disable_auth,
            translation,
            deadline_ms,
            http2,
        }),
        false => Err(problems),
    }
}

/// A string field, or `None` (with a problem when it is there but not a string).
fn string_field(
    block: &Mapping,
    key: &str,
    problem: &mut impl FnMut(&str, String),
) -> Option<String> {
    match block.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => {
            problem(
                key,
                format!("{key} must be a string, not {}", describe(other)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str, level: Level) -> Result<BackendRule, Vec<String>> {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        let at = Pointer::root().child("x-google-backend");
        read_rule("api.yaml", &value, &at, level)
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
            ("{address: 7}", "/x-google-backend/address: address must be a string, not a number"),
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
