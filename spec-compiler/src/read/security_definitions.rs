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

use crate::header_name::is_header_name;
use crate::model::{ApiKeyLocation, JwksUri, JwtScheme, Scheme, SchemeKind};
use crate::origin::parse_origin;
use crate::pointer::Pointer;
use crate::read::yaml::{describe, Reader};
use serde_norway::{Mapping, Value};
use wasp_config::TokenLocation;

/// wasp's provider-level extension for Endpoints Frameworks' `allowed_client_ids`.
pub const ALLOWED_CLIENT_IDS: &str = "x-wasp-allowed-client-ids";

/// wasp's provider-level extension: this provider's tokens must carry `exp`.
pub const REQUIRE_EXP: &str = "x-wasp-jwt-require-exp";
/// wasp's provider-level extension: the longest `exp - iat` this provider's tokens may have.
pub const MAX_LIFETIME: &str = "x-wasp-jwt-max-lifetime-seconds";

/// How one format spells a JWT provider's fields.
pub struct JwtDialect {
    /// Where the fields stand, for messages ("an oauth2 scheme", "x-google-auth").
    pub home: &'static str,
    pub issuer: &'static str,
    /// ESP v1's name, read when `issuer` is absent (2.0 only).
    pub legacy_issuer: Option<&'static str>,
    pub jwks_uri: &'static str,
    pub legacy_jwks_uri: Option<&'static str>,
    pub audiences: &'static str,
    /// 2.0: one comma-separated string; 3.x: a list.
    pub audiences_listed: bool,
    pub locations: &'static str,
    pub value_prefix: &'static str,
}

/// OpenAPI 2.0: `x-google-issuer`, `x-google-jwks_uri`, ... on the oauth2 scheme.
pub const SWAGGER2_JWT: JwtDialect = JwtDialect {
    home: "an oauth2 scheme",
    issuer: "x-google-issuer",
    legacy_issuer: Some("x-issuer"),
    jwks_uri: "x-google-jwks_uri",
    legacy_jwks_uri: Some("x-jwks_uri"),
    audiences: "x-google-audiences",
    audiences_listed: false,
    locations: "x-google-jwt-locations",
    value_prefix: "value_prefix",
};

/// OpenAPI 3.x: `x-google-auth: {issuer, jwksUri, audiences, jwtLocations}` on the scheme.
pub const OPENAPI3_JWT: JwtDialect = JwtDialect {
    home: "x-google-auth",
    issuer: "issuer",
    legacy_issuer: None,
    jwks_uri: "jwksUri",
    legacy_jwks_uri: None,
    audiences: "audiences",
    audiences_listed: true,
    locations: "jwtLocations",
    value_prefix: "valuePrefix",
};

/// Reads `securityDefinitions` of one document (absent: none).
pub fn read_security_definitions(r: &mut Reader, top: &Mapping) -> Vec<Scheme> {
    let pointer = Pointer::root().child("securityDefinitions");
    let Some(value) = top.get("securityDefinitions") else {
        return Vec::new();
    };
    let Value::Mapping(entries) = value else {
        r.problem(
            &pointer,
            format!(
                "securityDefinitions must be a mapping of scheme names to schemes, not {}",
                describe(value)
            ),
        );
        return Vec::new();
    };
    let mut reader = SchemeReader {
        r,
        dialect: &SWAGGER2_JWT,
    };
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

/// Reads one scheme's JWT provider fields (`fields`, at `fields_at`: the 2.0 scheme
/// itself or the 3.x `x-google-auth`) and wasp's provider extensions on `scheme`.
pub fn read_jwt(
    r: &mut Reader,
    fields: &Mapping,
    fields_at: &Pointer,
    scheme: &Mapping,
    at: &Pointer,
    dialect: &JwtDialect,
) -> Option<JwtScheme> {
    SchemeReader { r, dialect }.jwt(fields, fields_at, scheme, at)
}

/// Reads an apiKey scheme's `name` and `in`.
pub fn read_api_key(r: &mut Reader, scheme: &Mapping, at: &Pointer) -> Option<ApiKeyLocation> {
    SchemeReader {
        r,
        dialect: &SWAGGER2_JWT,
    }
    .api_key(scheme, at)
}

struct SchemeReader<'r> {
    r: &'r mut Reader,
    dialect: &'r JwtDialect,
}

impl SchemeReader<'_> {
    fn problem(&mut self, pointer: &Pointer, message: impl Into<String>) {
        self.r.problem(pointer, message);
    }

    fn string<'v>(
        &mut self,
        map: &'v Mapping,
        key: &str,
        at: &Pointer,
        example: &str,
    ) -> Option<&'v str> {
        self.r.string(map, key, at, example)
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
            Some(Value::String(t)) if t == "oauth2" => {
                self.jwt(scheme, at, scheme, at).map(SchemeKind::Jwt)
            }
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

    fn jwt(
        &mut self,
        fields: &Mapping,
        fields_at: &Pointer,
        scheme: &Mapping,
        at: &Pointer,
    ) -> Option<JwtScheme> {
        let d = self.dialect;
        let issuer_key = key_or_legacy(fields, d.issuer, d.legacy_issuer);
        let jwks_key = key_or_legacy(fields, d.jwks_uri, d.legacy_jwks_uri);
        let issuer = match self.string(fields, issuer_key, fields_at, "https://accounts.google.com")
        {
            Some(i) if !i.trim().is_empty() => Some(i.to_string()),
            Some(_) => {
                self.problem(&fields_at.child(issuer_key), "the issuer is empty; write the token's iss value, such as https://accounts.google.com");
                None
            }
            None => {
                if !fields.contains_key(issuer_key) {
                    self.problem(fields_at, format!("{} needs {} (the tokens' iss, such as https://accounts.google.com) so wasp can verify its JWTs; add it, or remove the scheme and its uses in security", d.home, d.issuer));
                }
                None
            }
        };
        let jwks_uri = self.jwks_uri(fields, jwks_key, fields_at);
        let audiences = self.audiences(fields, fields_at);
        let locations = self.locations(fields, fields_at);
        let allowed_client_ids = self.allowed_client_ids(scheme, at);
        let require_exp = self.require_exp(scheme, at);
        let max_lifetime_seconds = self.max_lifetime(scheme, at);
        let issuer = issuer?;
        let jwks_uri = jwks_uri?;
        if jwks_uri.is_none() && parse_origin(&issuer).is_err() {
            self.problem(
                fields_at,
                format!("issuer {issuer:?} is not an http(s) URL, so its keys cannot be discovered (OIDC discovery reads <issuer>/.well-known/openid-configuration); add {} with the URL of its keys", d.jwks_uri),
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

    /// 2.0 `x-google-audiences: "a,b"` (split on commas, trimmed, empties dropped);
    /// 3.x `audiences: [a, b]`.
    fn audiences(&mut self, fields: &Mapping, at: &Pointer) -> Option<Vec<String>> {
        let key = self.dialect.audiences;
        let Some(value) = fields.get(key) else {
            return Some(Vec::new());
        };
        if !self.dialect.audiences_listed {
            let text = self.string(fields, key, at, "\"aud1,aud2\"")?;
            return Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
        let items = self
            .r
            .list(value, &at.child(key), key, "[https://my-api.example.com]")?;
        let mut audiences = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(a) if !a.trim().is_empty() => audiences.push(a.trim().to_string()),
                other => {
                    self.problem(
                        &at.child(key).child(&i.to_string()),
                        format!(
                            "an audience must be a non-empty string, not {}",
                            describe(other)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(audiences)
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

    fn locations(&mut self, fields: &Mapping, at: &Pointer) -> Option<Vec<TokenLocation>> {
        let (key, prefix) = (self.dialect.locations, self.dialect.value_prefix);
        let Some(value) = fields.get(key) else {
            return Some(Vec::new());
        };
        let pointer = at.child(key);
        let Value::Sequence(items) = value else {
            self.problem(&pointer, format!("{key} must be a list such as [{{header: Authorization, {prefix}: \"Bearer \"}}, {{query: access_token}}], not {}", describe(value)));
            return None;
        };
        if items.is_empty() {
            self.problem(&pointer, format!("{key} is empty, so no token could ever be found; list at least one location, or remove it to use the defaults (Authorization: Bearer, X-Goog-Iap-Jwt-Assertion, ?access_token)"));
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
        let p = self.dialect.value_prefix;
        let Value::Mapping(entry) = item else {
            self.problem(at, format!("a JWT location must be a mapping such as {{header: Authorization, {p}: \"Bearer \"}} or {{query: access_token}}, not {}", describe(item)));
            return None;
        };
        for key in entry.keys() {
            let known = matches!(key, Value::String(k) if k == "header" || k == "query" || k == p);
            if key.as_str() == Some("cookie") {
                self.problem(&at.child("cookie"), "wasp does not read JWTs from cookies; send the token in a header (header: Authorization, with a prefix) or a query parameter (query: access_token)");
                return None;
            }
            if !known {
                let shown = match key {
                    Value::String(k) => format!("{k:?}"),
                    other => describe(other).to_string(),
                };
                self.problem(at, format!("{shown} is not a JWT location field; use header (with optional {p}) or query"));
                return None;
            }
        }
        let header = self.string(entry, "header", at, "Authorization");
        let query = self.string(entry, "query", at, "access_token");
        let prefix = self.string(entry, p, at, "\"Bearer \"");
        let typed = entry.get("header").is_none_or(|_| header.is_some())
            && entry.get("query").is_none_or(|_| query.is_some())
            && entry.get(p).is_none_or(|_| prefix.is_some());
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
                        &at.child(p),
                        format!("{p} is empty; remove it to take the whole header value"),
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
                    self.problem(&at.child(p), format!("{p} only applies to a header location; remove it from this query location"));
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
fn key_or_legacy(
    fields: &Mapping,
    key: &'static str,
    legacy: Option<&'static str>,
) -> &'static str {
    match legacy {
        Some(legacy) if !fields.contains_key(key) && fields.contains_key(legacy) => legacy,
        _ => key,
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
        let mut r = Reader::new("api.yaml");
        let schemes = read_security_definitions(&mut r, &top);
        (
            schemes,
            r.problems.iter().map(ToString::to_string).collect(),
        )
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
