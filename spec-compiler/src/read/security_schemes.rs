//! OpenAPI 3 `components.securitySchemes`: which credentials an API accepts.
//!
//! - `type: apiKey` with `in: query|header` and `name`: an API-key location, as in 2.0.
//! - `type: oauth2` or `openIdConnect` with `x-google-auth: {issuer, jwksUri, audiences,
//!   jwtLocations}`: a JWT provider (the 2.0 `x-google-*` fields under one block, camelCase,
//!   `audiences` a list). wasp's `x-wasp-*` provider extensions stand on the scheme.
//! - `http` (basic, bearer), `mutualTLS`, and oauth2/openIdConnect without `x-google-auth`
//!   are refused: no stage could check them as written, and accepting them would leave an
//!   operation open that its author meant to protect.
//!
//! A scheme may be a `$ref` (to this file's components or another given file).

use crate::model::{Scheme, SchemeKind};
use crate::pointer::Pointer;
use crate::read::refs::{ignored_beside_ref, ref_of, Documents};
use crate::read::security_definitions::{read_api_key, read_jwt, OPENAPI3_JWT};
use crate::read::yaml::{describe, shown, Reader};
use serde_norway::{Mapping, Value};

const AUTH_FIELDS: [&str; 4] = ["issuer", "jwksUri", "audiences", "jwtLocations"];

/// Reads `components.securitySchemes` of one document (absent: none).
pub fn read_security_schemes(r: &mut Reader, top: &Mapping, documents: &Documents) -> Vec<Scheme> {
    let components_at = Pointer::root().child("components");
    let Some(components) = top.get("components") else {
        return Vec::new();
    };
    let Some(components) = r.mapping(components, &components_at, "components", "") else {
        return Vec::new();
    };
    let at = components_at.child("securitySchemes");
    let Some(entries) = components.get("securitySchemes") else {
        return Vec::new();
    };
    let Some(entries) = r.mapping(
        entries,
        &at,
        "securitySchemes",
        "a mapping of scheme names to schemes",
    ) else {
        return Vec::new();
    };
    let file = r.file().to_string();
    let mut schemes = Vec::with_capacity(entries.len());
    for (name, value) in r.entries(entries, &at, "securitySchemes") {
        let scheme_at = at.child(name);
        let kind = if ref_of(value).is_some() {
            if let Some(key) = ignored_beside_ref(value) {
                r.problem(&scheme_at.child(key), format!("{key} stands beside a $ref, where OpenAPI 3 ignores it; move it into the referenced scheme"));
            }
            match documents.follow(&file, &scheme_at, value) {
                Ok(target) if target.file == file => read_scheme(r, target.value, &target.pointer),
                Ok(target) => {
                    // Problems inside another file are reported there.
                    let mut other = Reader::new(target.file);
                    let kind = read_scheme(&mut other, target.value, &target.pointer);
                    r.absorb(other);
                    kind
                }
                Err(message) => {
                    r.problem(&scheme_at.child("$ref"), message);
                    None
                }
            }
        } else {
            read_scheme(r, value, &scheme_at)
        };
        if let Some(kind) = kind {
            schemes.push(Scheme {
                name: name.to_string(),
                pointer: scheme_at,
                kind,
            });
        }
    }
    schemes
}

fn read_scheme(r: &mut Reader, value: &Value, at: &Pointer) -> Option<SchemeKind> {
    let scheme = r.mapping(
        value,
        at,
        "a security scheme",
        "{type: apiKey, name: key, in: query}",
    )?;
    let kind = match scheme.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) => {
            r.problem(
                &at.child("type"),
                format!(
                    "type must be a string such as apiKey, not {}",
                    describe(other)
                ),
            );
            return None;
        }
        None => {
            r.problem(at, "this security scheme has no type; add type: apiKey, or type: oauth2 (or openIdConnect) with x-google-auth");
            return None;
        }
    };
    let has_auth = scheme.contains_key("x-google-auth");
    match kind {
        "apiKey" if has_auth => {
            r.problem(&at.child("x-google-auth"), "x-google-auth describes a JWT provider, which an apiKey scheme is not; remove it, or make this scheme type: oauth2 (or openIdConnect)");
            None
        }
        "apiKey" => read_api_key(r, scheme, at).map(SchemeKind::ApiKey),
        "oauth2" | "openIdConnect" => {
            let Some(auth) = scheme.get("x-google-auth") else {
                r.problem(at, format!("a {kind} scheme needs x-google-auth: {{issuer: https://accounts.google.com, jwksUri: https://www.googleapis.com/oauth2/v3/certs}} so wasp can verify its JWTs; add it, or remove the scheme and its uses in security"));
                return None;
            };
            let auth_at = at.child("x-google-auth");
            let auth = r.mapping(auth, &auth_at, "x-google-auth", "{issuer: https://accounts.google.com, jwksUri: https://www.googleapis.com/oauth2/v3/certs}")?;
            if !r.known_keys(auth, &auth_at, "x-google-auth", &AUTH_FIELDS, false) {
                return None;
            }
            read_jwt(r, auth, &auth_at, scheme, at, &OPENAPI3_JWT).map(SchemeKind::Jwt)
        }
        "http" => {
            let which = scheme
                .get("scheme")
                .map(shown)
                .unwrap_or_else(|| "without a scheme".to_string());
            let fix = match scheme.get("scheme").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("basic") => "Cloud Endpoints does not check passwords; check Basic credentials in the backend and remove this scheme, or use type: apiKey",
                Some("bearer") => "write the JWT provider as type: oauth2 (or openIdConnect) with x-google-auth: {issuer, jwksUri}, the form Cloud Endpoints reads providers from",
                _ => "use type: apiKey, or type: oauth2 (or openIdConnect) with x-google-auth",
            };
            r.problem(
                &at.child("type"),
                format!("type http ({which}) is not supported; {fix}"),
            );
            None
        }
        "mutualTLS" => {
            r.problem(&at.child("type"), "type mutualTLS is not checked per operation; wasp checks client certificates on the listener (--ssl-server-root-cert), so remove this scheme and its uses in security");
            None
        }
        other => {
            r.problem(&at.child("type"), format!("security scheme type {other:?} is not supported; use apiKey, or oauth2 (or openIdConnect) with x-google-auth"));
            None
        }
    }
}
