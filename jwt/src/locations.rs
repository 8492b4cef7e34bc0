//! Finds a provider's tokens in a request. Every location is looked at and each yields at most
//! one token (its first usable header occurrence or query parameter). As in Envoy's
//! `jwt_authn`, the caller must verify *all* of them: passing a request that carries one good
//! and one bad token would let a backend read the bad one as if it had been verified.

use percent_encoding::percent_decode_str;

use crate::provider::TokenLocation;

/// A token and where it was found (index into the locations given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken {
    pub token: String,
    pub location: usize,
}

/// The tokens in `headers` (name, value pairs as received) and the raw query string (after
/// `?`), in location order, without duplicates. Header values with a non-matching prefix and
/// empty tokens are skipped.
pub fn extract(
    locations: &[TokenLocation],
    headers: &[(String, String)],
    query: &str,
) -> Vec<FoundToken> {
    let mut found: Vec<FoundToken> = Vec::new();
    for (index, location) in locations.iter().enumerate() {
        let token = match location {
            TokenLocation::Header { name, value_prefix } => headers
                .iter()
                .filter(|(header, _)| header.eq_ignore_ascii_case(name))
                .find_map(|(_, value)| from_header_value(value, value_prefix.as_deref())),
            TokenLocation::Query { name } => from_query(query, name),
        };
        if let Some(token) = token {
            if !found.iter().any(|f| f.token == token) {
                found.push(FoundToken {
                    token,
                    location: index,
                });
            }
        }
    }
    found
}

fn from_header_value(value: &str, prefix: Option<&str>) -> Option<String> {
    let value = value.trim();
    let rest = match prefix {
        None => value,
        Some(prefix) => {
            // Auth schemes are case-insensitive (RFC 7235); the prefix's own trailing space
            // stands for the separator, which may be any run of spaces.
            let scheme = prefix.trim_end();
            let head = value.get(..scheme.len())?;
            if !head.eq_ignore_ascii_case(scheme) {
                return None;
            }
            let rest = value.get(scheme.len()..)?;
            if scheme.len() < prefix.len() {
                let trimmed = rest.trim_start_matches(' ');
                if trimmed.len() == rest.len() {
                    return None;
                }
                trimmed
            } else {
                rest
            }
        }
    };
    let token = rest.trim();
    (!token.is_empty()).then(|| token.to_string())
}

fn from_query(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key != name {
            return None;
        }
        let token = percent_decode_str(value).decode_utf8().ok()?;
        (!token.is_empty()).then(|| token.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn tokens(locations: &[TokenLocation], hs: &[(&str, &str)], query: &str) -> Vec<String> {
        extract(locations, &headers(hs), query)
            .into_iter()
            .map(|f| f.token)
            .collect()
    }

    #[test]
    fn default_locations_each_yield_their_token() {
        let defaults = TokenLocation::defaults();
        let found = extract(
            &defaults,
            &headers(&[("Authorization", "Bearer abc.def.ghi")]),
            "",
        );
        assert_eq!(
            found,
            vec![FoundToken {
                token: "abc.def.ghi".into(),
                location: 0
            }]
        );
        let found = extract(
            &defaults,
            &headers(&[("X-Goog-Iap-Jwt-Assertion", "t2")]),
            "",
        );
        assert_eq!(
            found,
            vec![FoundToken {
                token: "t2".into(),
                location: 1
            }]
        );
        assert_eq!(tokens(&defaults, &[], "a=1&access_token=t3"), ["t3"]);
        // Every location is reported, in location order, whatever the order in the request.
        assert_eq!(
            tokens(
                &defaults,
                &[("authorization", "Bearer h")],
                "access_token=q"
            ),
            ["h", "q"]
        );
        // The same token in two places is one token.
        assert_eq!(
            tokens(
                &defaults,
                &[("authorization", "Bearer h")],
                "access_token=h"
            ),
            ["h"]
        );
        assert!(tokens(&defaults, &[("x-other", "Bearer h")], "key=1").is_empty());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_separator() {
        let defaults = TokenLocation::defaults();
        for value in ["bearer t", "BEARER t", "Bearer   t ", " Bearer t"] {
            assert_eq!(
                tokens(&defaults, &[("authorization", value)], ""),
                ["t"],
                "{value}"
            );
        }
        for value in [
            "Bearert",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer   ",
            "Bear",
        ] {
            assert!(
                tokens(&defaults, &[("authorization", value)], "").is_empty(),
                "{value}"
            );
        }
    }

    #[test]
    fn repeated_headers_and_parameters_yield_the_first_usable_one() {
        let defaults = TokenLocation::defaults();
        let hs = [
            ("authorization", "Basic x"),
            ("authorization", "Bearer second"),
            ("authorization", "Bearer third"),
        ];
        assert_eq!(tokens(&defaults, &hs, ""), ["second"]);
        assert_eq!(
            tokens(
                &defaults,
                &[],
                "access_token=&access_token=one&access_token=two"
            ),
            ["one"]
        );
    }

    #[test]
    fn custom_locations_replace_the_defaults() {
        let custom = vec![
            TokenLocation::Header {
                name: "jwt-header-foo".into(),
                value_prefix: Some("jwt-prefix-foo".into()),
            },
            TokenLocation::Query {
                name: "jwt_query_bar".into(),
            },
        ];
        assert_eq!(
            tokens(&custom, &[("JWT-Header-Foo", "jwt-prefix-fooTOKEN")], ""),
            ["TOKEN"]
        );
        assert!(tokens(&custom, &[("jwt-header-foo", "TOKEN")], "").is_empty());
        assert!(tokens(&custom, &[("authorization", "Bearer t")], "access_token=t").is_empty());
        assert_eq!(tokens(&custom, &[], "jwt_query_bar=a%2Eb"), ["a.b"]);
        // Query names are case-sensitive.
        assert!(tokens(&custom, &[], "JWT_QUERY_BAR=x").is_empty());
    }

    #[test]
    fn odd_input_never_panics() {
        let defaults = TokenLocation::defaults();
        let hs = [
            ("authorization", "Bé"),
            ("authorization", "é"),
            ("authorization", ""),
        ];
        assert!(tokens(&defaults, &hs, "access_token=%FF&&=&access_token").is_empty());
    }
}
