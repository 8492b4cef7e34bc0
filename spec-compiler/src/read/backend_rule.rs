//! Reads one backend rule: a 2.0 `x-google-backend` block (snake_case fields) or a 3.x
//! entry of `x-google-api-management.backends` (camelCase fields). Both carry the same
//! options; [`BackendDialect`] names them as each format writes them.

use crate::backend::Backend;
use crate::model::{Address, BackendRule, Level, Translation};
use crate::pointer::Pointer;
use crate::read::yaml::{describe, Reader};
use serde_norway::{Mapping, Value};

/// Larger deadlines are almost certainly a unit mistake (and overflow Envoy's
/// Duration long before u64 does).
const MAX_DEADLINE_S: f64 = 31_536_000.0;

/// How one format spells a backend rule's fields.
pub struct BackendDialect {
    /// What the rule is called in messages.
    pub what: &'static str,
    pub address: &'static str,
    pub jwt_audience: &'static str,
    pub disable_auth: &'static str,
    pub path_translation: &'static str,
    pub deadline: &'static str,
    pub protocol: &'static str,
}

impl BackendDialect {
    fn fields(&self) -> [&'static str; 6] {
        [
            self.address,
            self.jwt_audience,
            self.disable_auth,
            self.path_translation,
            self.deadline,
            self.protocol,
        ]
    }
}

/// OpenAPI 2.0: `x-google-backend: {address, jwt_audience, ...}`.
pub const SWAGGER2_BACKEND: BackendDialect = BackendDialect {
    what: "x-google-backend",
    address: "address",
    jwt_audience: "jwt_audience",
    disable_auth: "disable_auth",
    path_translation: "path_translation",
    deadline: "deadline",
    protocol: "protocol",
};

/// OpenAPI 3.x: `x-google-api-management.backends.<name>: {address, jwtAudience, ...}`.
pub const OPENAPI3_BACKEND: BackendDialect = BackendDialect {
    what: "a backend",
    address: "address",
    jwt_audience: "jwtAudience",
    disable_auth: "disableAuth",
    path_translation: "pathTranslation",
    deadline: "deadline",
    protocol: "protocol",
};

/// Reads one rule found at `at`; `None` when it has problems (reported).
pub fn read_rule(
    r: &mut Reader,
    value: &Value,
    at: &Pointer,
    level: Level,
    dialect: &BackendDialect,
) -> Option<BackendRule> {
    let before = r.problems.len();
    let block = r.mapping(
        value,
        at,
        dialect.what,
        "{address: https://backend.example.com}",
    )?;
    r.known_keys(block, at, dialect.what, &dialect.fields(), false);
    let address = read_address(r, block, at, dialect);
    let jwt_audience = read_audience(r, block, at, dialect);
    let disable_auth = r
        .bool(block, dialect.disable_auth, at)
        .flatten()
        .unwrap_or(false);
    let translation = read_translation(r, block, at, dialect);
    let deadline_ms = read_deadline(r, block, at, dialect);
    let http2 = read_protocol(r, block, at, dialect);
    check_combination(r, block, at, dialect, disable_auth);
    (r.problems.len() == before).then_some(BackendRule {
        level,
        address,
        jwt_audience,
        disable_auth,
        translation,
        deadline_ms,
        http2,
    })
}

fn read_address(
    r: &mut Reader,
    block: &Mapping,
    at: &Pointer,
    dialect: &BackendDialect,
) -> Option<Address> {
    let text = r.string(block, dialect.address, at, "https://backend.example.com")?;
    match Backend::parse_with_path(text) {
        Ok((backend, path)) => Some(Address {
            text: text.to_string(),
            backend,
            path,
        }),
        Err(e) => {
            r.problem(
                &at.child(dialect.address),
                format!("{} {e}", dialect.address),
            );
            None
        }
    }
}

fn read_audience(
    r: &mut Reader,
    block: &Mapping,
    at: &Pointer,
    dialect: &BackendDialect,
) -> Option<String> {
    let key = dialect.jwt_audience;
    let audience = r.string(block, key, at, "https://backend.example.com")?;
    if audience.is_empty() {
        r.problem(
            &at.child(key),
            format!("{key} is empty; give the audience the backend expects, or remove the field to use the address"),
        );
        return None;
    }
    if audience == wasp_config::ACCESS_TOKEN_KEY {
        r.problem(
            &at.child(key),
            format!("{:?} is reserved by wasp for Service Control's access token; choose another audience", wasp_config::ACCESS_TOKEN_KEY),
        );
        return None;
    }
    Some(audience.to_string())
}

fn read_translation(
    r: &mut Reader,
    block: &Mapping,
    at: &Pointer,
    dialect: &BackendDialect,
) -> Option<Translation> {
    let key = dialect.path_translation;
    match r.string(block, key, at, "APPEND_PATH_TO_ADDRESS")? {
        "APPEND_PATH_TO_ADDRESS" => Some(Translation::AppendPathToAddress),
        "CONSTANT_ADDRESS" => Some(Translation::ConstantAddress),
        other => {
            r.problem(
                &at.child(key),
                format!("{key} {other:?} is unknown; use APPEND_PATH_TO_ADDRESS or CONSTANT_ADDRESS (upper case)"),
            );
            None
        }
    }
}

/// `deadline` in seconds (fractions kept) -> milliseconds; non-positive means the default.
fn read_deadline(
    r: &mut Reader,
    block: &Mapping,
    at: &Pointer,
    dialect: &BackendDialect,
) -> Option<u64> {
    let key = dialect.deadline;
    match block.get(key)? {
        Value::Number(n) => match n.as_f64() {
            Some(s) if s > MAX_DEADLINE_S || !s.is_finite() => {
                r.problem(
                    &at.child(key),
                    format!("{key} {n} seconds is too large; give the seconds to wait for a response, at most {MAX_DEADLINE_S} (one year)"),
                );
                None
            }
            // ESPv2 ignores non-positive deadlines; at least 1 ms, as 0 would disable the timeout in Envoy.
            Some(s) if s > 0.0 => Some(((s * 1000.0).round() as u64).max(1)),
            _ => None,
        },
        other => {
            r.problem(
                &at.child(key),
                format!(
                    "{key} must be a number of seconds such as 30.0, not {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

/// `protocol`: whether the backend speaks HTTP/2.
fn read_protocol(r: &mut Reader, block: &Mapping, at: &Pointer, dialect: &BackendDialect) -> bool {
    let key = dialect.protocol;
    match r.string(block, key, at, "h2") {
        None | Some("http/1.1") => false,
        Some("h2") => true,
        Some(other) => {
            r.problem(
                &at.child(key),
                format!("{key} {other:?} is not supported; use http/1.1 (the default) or h2"),
            );
            false
        }
    }
}

/// Fields that contradict each other or need an address.
fn check_combination(
    r: &mut Reader,
    block: &Mapping,
    at: &Pointer,
    dialect: &BackendDialect,
    disable_auth: bool,
) {
    let (audience, translation, address) = (
        dialect.jwt_audience,
        dialect.path_translation,
        dialect.address,
    );
    if disable_auth && block.contains_key(audience) {
        r.problem(
            &at.child(audience),
            format!("{audience} and {}: true contradict each other; remove {audience} to send no ID token, or remove {} to send one", dialect.disable_auth, dialect.disable_auth),
        );
    }
    if block.contains_key(address) {
        return;
    }
    for (field, why) in [
        (translation, "there is no address path to translate to"),
        (audience, "requests go to --backend without an ID token"),
    ] {
        if block.contains_key(field) {
            r.problem(
                &at.child(field),
                format!("{field} needs an address ({why}); add {address}: https://... or remove {field}"),
            );
        }
    }
}
