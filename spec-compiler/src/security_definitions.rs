//! `securityDefinitions`: which credentials an API accepts.
//!
//! - `type: oauth2` with `x-google-issuer` (or the legacy `x-issuer`) is a JWT provider:
//!   `x-google-jwks_uri` (legacy `x-jwks_uri`; omitted: OIDC discovery from the issuer),
//!   `x-google-audiences` (one comma-separated string), `x-google-jwt-locations` (custom
//!   locations replace ESPv2's defaults) and wasp's `x-wasp-allowed-client-ids` (the token's
//!   `azp` must be one of them; Endpoints Frameworks' `allowed_client_ids` has no OpenAPI form),
//!   `x-wasp-jwt-require-exp` and `x-wasp-jwt-max-lifetime-seconds` (this provider's tokens
//!   must carry `exp`, at most that far from `iat`; they override `--jwt-require-exp` and
//!   `--jwt-max-lifetime-seconds`).
//! - `type: apiKey` with `in: query|header` and `name` is an API-key location for the key stage.
//! - `type: basic` and oauth2 without an issuer are rejected: no gateway stage could check them,
//!   and accepting them would leave an operation open that its author meant to protect.

use crate::errors::{Diagnostic, Diagnostics};
use crate::header_name::is_header_name;
use crate::jwks_clusters::{parse_origin, Origin};
use crate::pointer::Pointer;
use crate::source::describe;
use serde_norway::{Mapping, Value};
use wasp_config::TokenLocation;

/// wasp's provider-level extension for Endpoints Frameworks' `allowed_client_ids`.
pub const ALLOWED_CLIENT_IDS: &str = "x-wasp-allowed-client-ids";

/// wasp's provider-level extension: this provider's tokens must carry `exp`.
pub const REQUIRE_EXP: &str = "x-wasp-jwt-require-exp";
/// wasp's provider-level extension: the longest `exp - iat` this provider's tokens may have.
pub const MAX_LIFETIME: &str = "x-wasp-jwt-max-lifetime-seconds";

/// One `securityDefinitions` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheme {
    /// The key under `securityDefinitions`; `security` entries name it.
    pub name: String,
    pub pointer: Pointer,
    pub kind: SchemeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemeKind {
    Jwt(JwtScheme),
    ApiKey(ApiKeyLocation),
}

/// An oauth2 scheme with an issuer: a JWT provider as written.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtScheme {
    pub issuer: String,
    /// `None`: OIDC discovery from the issuer.
    pub jwks_uri: Option<JwksUri>,
    pub audiences: Vec<String>,
    /// Empty: ESPv2's default locations.
    pub locations: Vec<TokenLocation>,
    pub allowed_client_ids: Option<Vec<String>>,
    /// [`REQUIRE_EXP`], when written.
    pub require_exp: Option<bool>,
    /// [`MAX_LIFETIME`], when written.
    pub max_lifetime_seconds: Option<u64>,
}

/// `x-google-jwks_uri` with the origin its fetch goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct JwksUri {
    pub text: String,
    pub origin: Origin,
}

/// Where an apiKey scheme reads the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyLocation {
    Query(String),
    Header(String),
}

/// Reads `securityDefinitions` of one document (absent: none).
pub fn read_security_definitions(
    file: &str,
    top: &Mapping,
    problems: &mut Diagnostics,
) -> Vec<Scheme> {
    let pointer = Pointer::root().child("securityDefinitions");
    let Some(value) = top.get("securityDefinitions") else {
        return Vec::new();
    };
    let Value::Mapping(entries) = value else {
        problems.push(Diagnostic::new(
            file,
            &pointer,
            format!(
                "securityDefinitions must be a mapping of scheme names to schemes, not {}",
                describe(value)
            ),
        ));
        return Vec::new();
    };
    let mut reader = SchemeReader { file, problems };
    let mut schemes = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Value::String(name) = key else {
            reader.problem(
                &pointer,
                format!(
                    "a scheme name is {}; use a string such as google_id_token",
                    describe(key)
                ),
            );
            continue;
        };
        let at = pointer.child(name);
        if let Some(kind) = reader.scheme(value, &at) {
            schemes.push(Scheme {
                name: name.clone(),
                pointer: at,
                kind,
            });
        }
    }
    schemes
}

struct SchemeReader<'a> {
    file: &'a str,
    problems: &'a mut Diagnostics,
}

impl SchemeReader<'_> {
    fn problem(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::new(self.file, pointer, message));
    }

    /// A string field, with a type error when it is something else.
    fn string<'v>(
        &mut self,
        scheme: &'v Mapping,
        key: &str,
        at: &Pointer,
        example: &str,
    ) -> Option<&'v str> {
        match scheme.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.problem(
                    &at.child(key),
                    format!(
                        "{key} must be a string such as {example}, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    fn scheme(&mut self, value: &Value, at: &Pointer) -> Option<SchemeKind> {
        let Value::Mapping(scheme) = value else {
            self.problem(
                at,
                format!(
                    "a security scheme must be a mapping with a type, not {}",
                    describe(value)
                ),
            );
            return None;
        };
        match scheme.get("type") {
            Some(Value::String(t)) if t == "oauth2" => self.jwt(scheme, at).map(SchemeKind::Jwt),
            Some(Value::String(t)) if t == "apiKey" => {
                self.api_key(scheme, at).map(SchemeKind::ApiKey)
            }
            Some(Value::String(t)) if t == "basic" => {
                self.problem(
                    &at.child("type"),
                    "type basic is not supported (Cloud Endpoints does not check passwords); use type: oauth2 with x-google-issuer for JWTs, or type: apiKey, or check Basic credentials in the backend and remove this scheme",
                );
                None
            }
            Some(other) => {
                let shown = match other {
                    Value::String(s) => format!("{s:?}"),
                    v => describe(v).to_string(),
                };
                self.problem(
                    &at.child("type"),
                    format!("security scheme type {shown} is not supported; use oauth2 (with x-google-issuer) or apiKey"),
                );
                None
            }
            None => {
                self.problem(at, "this security scheme has no type; add type: oauth2 (with x-google-issuer) or type: apiKey");
                None
            }
        }
    }

    fn api_key(&mut self, scheme: &Mapping, at: &Pointer) -> Option<ApiKeyLocation> {
        let name = self.string(scheme, "name", at, "key");
        let location = self.string(scheme, "in", at, "query");
        let name = match name {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            Some(_) => {
                self.problem(&at.child("name"), "name is empty; write the query parameter or header that carries the key, such as key");
                return None;
            }
            None => {
                if !scheme.contains_key("name") {
                    self.problem(at, "an apiKey scheme needs name: the query parameter or header that carries the key (such as key)");
                }
                return None;
            }
        };
        match location {
            Some("query") => Some(ApiKeyLocation::Query(name)),
            Some("header") => Some(ApiKeyLocation::Header(name)),
            Some(other) => {
                self.problem(
                    &at.child("in"),
                    format!("in {other:?} is not supported for API keys; use query or header"),
                );
                None
            }
            None => {
                if !scheme.contains_key("in") {
                    self.problem(at, "an apiKey scheme needs in: query or in: header");
                }
                None
            }
        }
    }

    fn jwt(&mut self, scheme: &Mapping, at: &Pointer) -> Option<JwtScheme> {
        let issuer_key = key_or_legacy(scheme, "x-google-issuer", "x-issuer");
        let jwks_key = key_or_legacy(scheme, "x-google-jwks_uri", "x-jwks_uri");
        let issuer = match self.string(scheme, issuer_key, at, "https://accounts.google.com") {
            Some(i) if !i.trim().is_empty() => Some(i.to_string()),
            Some(_) => {
                self.problem(&at.child(issuer_key), "the issuer is empty; write the token's iss value, such as https://accounts.google.com");
                None
            }
            None => {
                if !scheme.contains_key(issuer_key) {
                    self.problem(at, "an oauth2 scheme needs x-google-issuer (the tokens' iss, such as https://accounts.google.com) so wasp can verify its JWTs; add it, or remove the scheme and its uses in security");
                }
                None
            }
        };
        let jwks_uri = self.jwks_uri(scheme, jwks_key, at);
        let audiences = self.audiences(scheme, at);
        let locations = self.locations(scheme, at);
        let allowed_client_ids = self.allowed_client_ids(scheme, at);
        let require_exp = self.require_exp(scheme, at);
        let max_lifetime_seconds = self.max_lifetime(scheme, at);
        let issuer = issuer?;
        let jwks_uri = jwks_uri?;
        if jwks_uri.is_none() && parse_origin(&issuer).is_err() {
            self.problem(
                at,
                format!("issuer {issuer:?} is not an http(s) URL, so its keys cannot be discovered (OIDC discovery reads <issuer>/.well-known/openid-configuration); add x-google-jwks_uri with the URL of its keys"),
            );
            return None;
        }
        Some(JwtScheme {
            issuer,
            jwks_uri,
            audiences: audiences?,
            locations: locations?,
            allowed_client_ids: allowed_client_ids?,
            require_exp: require_exp?,
            max_lifetime_seconds: max_lifetime_seconds?,
        })
    }

    /// `Some(None)`: not written; `None`: invalid (reported).
    fn require_exp(&mut self, scheme: &Mapping, at: &Pointer) -> Option<Option<bool>> {
        match scheme.get(REQUIRE_EXP) {
            None => Some(None),
            Some(Value::Bool(required)) => Some(Some(*required)),
            Some(other) => {
                self.problem(
                    &at.child(REQUIRE_EXP),
                    format!(
                        "{REQUIRE_EXP} must be true or false, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)`: not written; `None`: invalid (reported).
    fn max_lifetime(&mut self, scheme: &Mapping, at: &Pointer) -> Option<Option<u64>> {
        let Some(value) = scheme.get(MAX_LIFETIME) else {
            return Some(None);
        };
        match value.as_u64() {
            Some(seconds) if seconds > 0 => Some(Some(seconds)),
            _ => {
                self.problem(
                    &at.child(MAX_LIFETIME),
                    format!(
                        "{MAX_LIFETIME} must be a positive number of seconds such as 3600, not {}",
                        describe(value)
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)`: omitted (discovery); `None`: invalid (reported).
    fn jwks_uri(&mut self, scheme: &Mapping, key: &str, at: &Pointer) -> Option<Option<JwksUri>> {
        if !scheme.contains_key(key) {
            return Some(None);
        }
        let text = self.string(
            scheme,
            key,
            at,
            "https://www.googleapis.com/oauth2/v3/certs",
        )?;
        match parse_origin(text) {
            Ok(origin) => Some(Some(JwksUri {
                text: text.to_string(),
                origin,
            })),
            Err(e) => {
                self.problem(&at.child(key), format!("{e}; write the URL of the key document, such as https://www.googleapis.com/oauth2/v3/certs, or remove {key} to use OIDC discovery"));
                None
            }
        }
    }

    /// `x-google-audiences: "a,b"`: split on commas, trimmed, empties dropped.
    fn audiences(&mut self, scheme: &Mapping, at: &Pointer) -> Option<Vec<String>> {
        if !scheme.contains_key("x-google-audiences") {
            return Some(Vec::new());
        }
        let text = self.string(scheme, "x-google-audiences", at, "\"aud1,aud2\"")?;
        Some(
            text.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    fn allowed_client_ids(
        &mut self,
        scheme: &Mapping,
        at: &Pointer,
    ) -> Option<Option<Vec<String>>> {
        let Some(value) = scheme.get(ALLOWED_CLIENT_IDS) else {
            return Some(None);
        };
        let pointer = at.child(ALLOWED_CLIENT_IDS);
        let fix = "write a list of OAuth client ids such as [123-web.apps.googleusercontent.com] (an empty list lets no client in)";
        let Value::Sequence(items) = value else {
            self.problem(
                &pointer,
                format!("{ALLOWED_CLIENT_IDS} is {}; {fix}", describe(value)),
            );
            return None;
        };
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(id) if !id.trim().is_empty() => ids.push(id.trim().to_string()),
                other => {
                    self.problem(
                        &pointer.child(&i.to_string()),
                        format!(
                            "a client id must be a non-empty string, not {}; {fix}",
                            describe(other)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(Some(ids))
    }

    fn locations(&mut self, scheme: &Mapping, at: &Pointer) -> Option<Vec<TokenLocation>> {
        let Some(value) = scheme.get("x-google-jwt-locations") else {
            return Some(Vec::new());
        };
        let pointer = at.child("x-google-jwt-locations");
        let Value::Sequence(items) = value else {
            self.problem(&pointer, format!("x-google-jwt-locations must be a list such as [{{header: Authorization, value_prefix: \"Bearer \"}}, {{query: access_token}}], not {}", describe(value)));
            return None;
        };
        if items.is_empty() {
            self.problem(&pointer, "x-google-jwt-locations is empty, so no token could ever be found; list at least one location, or remove it to use the defaults (Authorization: Bearer, X-Goog-Iap-Jwt-Assertion, ?access_token)");
            return None;
        }
        let mut locations = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.location(item, &pointer.child(&i.to_string())) {
                Some(location) => locations.push(location),
                None => ok = false,
            }
        }
        ok.then_some(locations)
    }

    fn location(&mut self, item: &Value, at: &Pointer) -> Option<TokenLocation> {
        let Value::Mapping(entry) = item else {
            self.problem(at, format!("a JWT location must be a mapping such as {{header: Authorization, value_prefix: \"Bearer \"}} or {{query: access_token}}, not {}", describe(item)));
            return None;
        };
        for key in entry.keys() {
            let known = matches!(key, Value::String(k) if k == "header" || k == "query" || k == "value_prefix");
            if !known {
                let shown = match key {
                    Value::String(k) => format!("{k:?}"),
                    other => describe(other).to_string(),
                };
                self.problem(at, format!("{shown} is not a JWT location field; use header (with optional value_prefix) or query"));
                return None;
            }
        }
        let header = self.string(entry, "header", at, "Authorization");
        let query = self.string(entry, "query", at, "access_token");
        let prefix = self.string(entry, "value_prefix", at, "\"Bearer \"");
        let typed = entry.get("header").is_none_or(|_| header.is_some())
            && entry.get("query").is_none_or(|_| query.is_some())
            && entry.get("value_prefix").is_none_or(|_| prefix.is_some());
        if !typed {
            return None;
        }
        match (header, query) {
            (Some(_), Some(_)) => {
                self.problem(
                    at,
                    "a JWT location has both header and query; write one location per list entry",
                );
                None
            }
            (None, None) => {
                self.problem(at, "a JWT location needs header: <name> or query: <name>");
                None
            }
            (Some(name), None) => {
                if !is_header_name(name) {
                    self.problem(&at.child("header"), format!("{name:?} is not an HTTP header name; use letters, digits and '-' such as X-My-Jwt"));
                    return None;
                }
                if prefix == Some("") {
                    self.problem(
                        &at.child("value_prefix"),
                        "value_prefix is empty; remove it to take the whole header value",
                    );
                    return None;
                }
                Some(TokenLocation::Header {
                    name: name.to_string(),
                    value_prefix: prefix.map(str::to_string),
                })
            }
            (None, Some(name)) => {
                if prefix.is_some() {
                    self.problem(&at.child("value_prefix"), "value_prefix only applies to a header location; remove it from this query location");
                    return None;
                }
                if name.is_empty() {
                    self.problem(
                        &at.child("query"),
                        "query is empty; write the parameter name, such as access_token",
                    );
                    return None;
                }
                Some(TokenLocation::Query {
                    name: name.to_string(),
                })
            }
        }
    }
}

/// api-compiler still reads ESP v1's `x-issuer` / `x-jwks_uri` when the new names are absent.
fn key_or_legacy(scheme: &Mapping, key: &'static str, legacy: &'static str) -> &'static str {
    if !scheme.contains_key(key) && scheme.contains_key(legacy) {
        legacy
    } else {
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(scheme_lines: &str) -> (Vec<Scheme>, Vec<String>) {
        let yaml = format!(
            "securityDefinitions:\n  idp:\n    type: oauth2\n    x-google-issuer: https://idp.example\n    x-google-jwks_uri: https://idp.example/keys\n{scheme_lines}"
        );
        let top: Mapping = serde_norway::from_str(&yaml).unwrap();
        let mut problems = Diagnostics::new();
        let schemes = read_security_definitions("api.yaml", &top, &mut problems);
        (schemes, problems.iter().map(ToString::to_string).collect())
    }

    fn jwt(scheme_lines: &str) -> JwtScheme {
        let (schemes, problems) = read(scheme_lines);
        assert!(problems.is_empty(), "{problems:?}");
        match schemes.into_iter().next().map(|s| s.kind) {
            Some(SchemeKind::Jwt(jwt)) => jwt,
            other => panic!("not a JWT scheme: {other:?}"),
        }
    }

    #[test]
    fn token_lifetime_extensions_are_read_when_written() {
        let plain = jwt("");
        assert_eq!(
            (plain.require_exp, plain.max_lifetime_seconds),
            (None, None)
        );
        let strict =
            jwt("    x-wasp-jwt-require-exp: true\n    x-wasp-jwt-max-lifetime-seconds: 3600\n");
        assert_eq!(
            (strict.require_exp, strict.max_lifetime_seconds),
            (Some(true), Some(3600))
        );
        assert_eq!(
            jwt("    x-wasp-jwt-require-exp: false\n").require_exp,
            Some(false)
        );
    }

    #[test]
    fn bad_token_lifetime_extensions_name_the_pointer_and_the_fix() {
        let (schemes, problems) = read(
            "    x-wasp-jwt-require-exp: yes please\n    x-wasp-jwt-max-lifetime-seconds: 0\n",
        );
        assert!(schemes.is_empty());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("/securityDefinitions/idp/x-wasp-jwt-require-exp")
                && problems[0].contains("must be true or false, not a string"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("/securityDefinitions/idp/x-wasp-jwt-max-lifetime-seconds")
                && problems[1].contains("a positive number of seconds such as 3600"),
            "{problems:?}"
        );
    }
}
