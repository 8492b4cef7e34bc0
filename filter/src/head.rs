//! The facts of a request head that routing needs, taken from every header once:
//! `decision::decide` reads only this, so how the host got the head (one
//! `proxy_get_header_map_pairs` call: a single-header read costs about as much as the
//! whole map, see bench/README.md) stays out of the decision.

use crate::backend_auth::AUTHORIZATION;
use crate::client_headers::{self, GeneratedHeaders};
use crate::method_override;

/// What `decision::decide` needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'h> {
    pub method: &'h str,
    /// The raw `:path`, query included.
    pub path: &'h str,
    /// The first `X-HTTP-Method-Override` value.
    pub method_override: Option<&'h str>,
    /// Two hosts, or a `Host` header disagreeing with `:authority` (a 400).
    pub host_ambiguous: bool,
    /// Distinct client-sent header names to remove, as sent.
    pub to_strip: Vec<&'h str>,
    /// The client's first `Authorization` value (backend auth moves it).
    pub authorization: Option<&'h str>,
}

impl<'h> Head<'h> {
    /// From every header (pseudo headers included, duplicates allowed, names lower case
    /// as Envoy passes them); finds the client headers to strip itself.
    pub fn from_headers(
        headers: &'h [(String, String)],
        envoy_sets_external_address: bool,
        generated: &GeneratedHeaders,
    ) -> Head<'h> {
        Head {
            method: first(headers, ":method").unwrap_or_default(),
            path: first(headers, ":path").unwrap_or_default(),
            method_override: first(headers, method_override::HEADER),
            host_ambiguous: host_is_ambiguous(headers),
            to_strip: client_headers::to_strip(headers, envoy_sets_external_address, generated),
            authorization: first(headers, AUTHORIZATION),
        }
    }
}

/// The first value of header `name` (compared without case).
pub fn first<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether the request names its host ambiguously: more than one `:authority` (Envoy
/// joins repeated `Host` headers with a comma, which no host name contains), or a `Host`
/// header that is not the `:authority`. A backend, a later proxy and the gateway could
/// each believe a different one.
fn host_is_ambiguous(headers: &[(String, String)]) -> bool {
    let mut authority: Option<&str> = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(":authority") {
            if authority.is_some() || value.contains(',') {
                return true;
            }
            authority = Some(value);
        }
    }
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("host"))
        .any(|(_, host)| authority.is_none_or(|a| !a.eq_ignore_ascii_case(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_facts_are_the_first_values_and_the_strip_list() {
        let all = headers(&[
            (":method", "POST"),
            (":path", "/v1/a?x=1"),
            (":authority", "api.example.com"),
            ("X-HTTP-Method-Override", "GET"),
            ("x-http-method-override", "PUT"),
            ("authorization", "Bearer t"),
            ("x-wasp-route", "r9"),
            ("accept", "*/*"),
        ]);
        let head = Head::from_headers(&all, false, &GeneratedHeaders::default());
        assert_eq!(
            head,
            Head {
                method: "POST",
                path: "/v1/a?x=1",
                method_override: Some("GET"),
                host_ambiguous: false,
                to_strip: vec!["X-HTTP-Method-Override", "x-wasp-route"],
                authorization: Some("Bearer t"),
            }
        );
    }

    #[test]
    fn a_joined_authority_or_a_second_host_is_ambiguous() {
        let all = headers(&[(":authority", "a.example,b.example")]);
        assert!(Head::from_headers(&all, false, &GeneratedHeaders::default()).host_ambiguous);
        let host = headers(&[(":authority", "a.example"), ("host", "b.example")]);
        assert!(Head::from_headers(&host, false, &GeneratedHeaders::default()).host_ambiguous);
        let same = headers(&[(":authority", "a.example"), ("host", "A.example")]);
        assert!(!Head::from_headers(&same, false, &GeneratedHeaders::default()).host_ambiguous);
    }
}
