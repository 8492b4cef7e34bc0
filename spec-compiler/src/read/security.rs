//! `security` (top level, or per operation where it replaces the top-level one): a list of
//! alternatives (any one passes), each a mapping of scheme names that are all required.
//!
//! - `security: []` turns security off for the operation.
//! - oauth2 scopes listed for a JWT scheme require the token's `scope` claim to hold one
//!   of them (Endpoints Frameworks' rule; ESPv2 ignores them). `--ignore-jwt-scopes` keeps
//!   ESPv2's behaviour for specs whose scopes are documentation only.
//! - Two JWT schemes in one alternative require both tokens. api-compiler rejects this
//!   ("only support allowing logical OR"); wasp supports it since the check is exact.
//! - apiKey schemes become key names for the API-key stage.
//! - An empty alternative (`{}`) is rejected: it would make every other alternative pointless.

use crate::model::{Format, Scheme, SchemeKind};
use crate::pointer::Pointer;
use crate::read::yaml::{describe, Reader};
use serde_norway::{Mapping, Value};
use wasp_config::{Alternative, JwtRequirement, SecurityRequirement};

/// Reads the `security` list of `container` (the document or an operation, written at
/// `container_at`) against the file's schemes. `None`: absent or invalid (reported);
/// `Some(None)`: `security: []`.
pub fn read_security(
    r: &mut Reader,
    container: &Mapping,
    container_at: &Pointer,
    schemes: &[Scheme],
    format: Format,
) -> Option<Option<SecurityRequirement>> {
    let value = container.get("security")?;
    let at = &container_at.child("security");
    let home = format.schemes_field();
    let mut problem = |pointer: &Pointer, message: String| r.problem(pointer, message);
    let Value::Sequence(entries) = value else {
        problem(
            at,
            format!("security must be a list of requirements such as [{{google_id_token: []}}], or [] for none, not {}", describe(value)),
        );
        return None;
    };
    let mut alternatives = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (i, entry) in entries.iter().enumerate() {
        let entry_at = at.child(&i.to_string());
        let Value::Mapping(names) = entry else {
            problem(
                &entry_at,
                format!("a security requirement must be a mapping of scheme names to scope lists, such as {{google_id_token: []}}, not {}", describe(entry)),
            );
            ok = false;
            continue;
        };
        if names.is_empty() {
            problem(
                &entry_at,
                "an empty requirement ({}) lets every request in, which makes the others pointless; name at least one scheme, or write security: [] to turn security off".to_string(),
            );
            ok = false;
            continue;
        }
        let mut alternative = Alternative::default();
        for (key, scopes) in names {
            let Value::String(name) = key else {
                problem(
                    &entry_at,
                    format!("a scheme name is {}; use a name from {home}", describe(key)),
                );
                ok = false;
                continue;
            };
            let name_at = entry_at.child(name);
            let Some(scheme) = schemes.iter().find(|s| &s.name == name) else {
                let known: Vec<_> = schemes.iter().map(|s| s.name.as_str()).collect();
                let known = if known.is_empty() {
                    format!("{home} defines none")
                } else {
                    format!("defined: {}", known.join(", "))
                };
                problem(&name_at, format!("scheme {name:?} is not defined in {home} ({known}); define it or fix the name"));
                ok = false;
                continue;
            };
            let Some(scopes) = read_scopes(scopes, &name_at, &mut problem) else {
                ok = false;
                continue;
            };
            match &scheme.kind {
                SchemeKind::Jwt(_) => alternative.jwt.push(JwtRequirement {
                    provider: name.clone(),
                    audiences: Vec::new(),
                    scopes,
                }),
                SchemeKind::ApiKey(_) if !scopes.is_empty() => {
                    problem(
                        &name_at,
                        format!(
                            "{name} is an apiKey scheme, which has no scopes; write {name}: []"
                        ),
                    );
                    ok = false;
                }
                SchemeKind::ApiKey(_) => alternative.api_keys.push(name.clone()),
            }
        }
        alternatives.push(alternative);
    }
    if !ok {
        return None;
    }
    Some((!alternatives.is_empty()).then_some(SecurityRequirement {
        alternatives,
        allow_missing: false,
    }))
}

fn read_scopes(
    value: &Value,
    at: &Pointer,
    problem: &mut impl FnMut(&Pointer, String),
) -> Option<Vec<String>> {
    let Value::Sequence(items) = value else {
        problem(
            at,
            format!(
                "the value of a security requirement is its list of scopes, [] for none, not {}",
                describe(value)
            ),
        );
        return None;
    };
    let mut scopes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if !s.trim().is_empty() => scopes.push(s.trim().to_string()),
            other => {
                problem(&at.child(&i.to_string()), format!("a scope must be a non-empty string such as https://www.googleapis.com/auth/userinfo.email, not {}", describe(other)));
                return None;
            }
        }
    }
    Some(scopes)
}
