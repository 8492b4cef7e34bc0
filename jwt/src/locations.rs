//! Finds a provider's token in a request, given its locations in priority order. The first
//! location that yields a token wins, and within one location the first header occurrence or
//! query parameter wins, so the outcome never depends on anything but the request's order.

use percent_encoding::percent_decode_str;

use crate::provider::TokenLocation;

/// A token and where it was found (index into the locations given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken {
    pub token: String,
    pub location: usize,
}

/// Looks for a token in `headers` (name, value pairs as received) and the raw query string
/// (the part after `?`, without the `?`). Header values with a non-matching prefix and empty
/// tokens are skipped, as Envoy's extractor does.
pub fn extract(
    locations: &[TokenLocation],
    headers: &[(String, String)],
    query: &str,
) -> Option<FoundToken> {
    locations.iter().enumerate().find_map(|(index, location)| {
        let token = match location {
            TokenLocation::Header { name, value_prefix } => headers
                .iter()
                .filter(|(header, _)| header.eq_ignore_ascii_case(name))
                .find_map(|(_, value)| from_header_value(value, value_prefix.as_deref())),
            TokenLocation::Query { name } => from_query(query, name),
        }?;
        Some(FoundToken {
            token,
            location: index,
        })
    })
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

    fn token_of(found: Option<FoundToken>) -> Option<String> {
        found.map(|f| f.token)
    }

    #[test]
    fn default_locations_in_order() {
        let defaults = TokenLocation::defaults();
        let found = extract(
            &defaults,
            &headers(&[("Authorization", "Bearer abc.def.ghi")]),
            "",
        );
        assert_eq!(
            found,
            Some(FoundToken {
                token: "abc.def.ghi".into(),
                location: 0
            })
        );
        let found = extract(
            &defaults,
            &headers(&[("X-Goog-Iap-Jwt-Assertion", "t2")]),
            "",
        );
        assert_eq!(
            found,
            Some(FoundToken {
                token: "t2".into(),
                location: 1
            })
        );
        assert_eq!(
            token_of(extract(&defaults, &[], "a=1&access_token=t3")),
            Some("t3".into())
        );
        // Authorization beats the query parameter whatever the order in the request.
        assert_eq!(
            token_of(extract(
                &defaults,
                &headers(&[("authorization", "Bearer h")]),
                "access_token=q"
            )),
            Some("h".into())
        );
        assert_eq!(
            extract(&defaults, &headers(&[("x-other", "Bearer h")]), "key=1"),
            None
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_separator() {
        let defaults = TokenLocation::defaults();
        for value in ["bearer t", "BEARER t", "Bearer   t ", " Bearer t"] {
            assert_eq!(
                token_of(extract(
                    &defaults,
                    &headers(&[("authorization", value)]),
                    ""
                )),
                Some("t".into()),
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
            assert_eq!(
                extract(&defaults, &headers(&[("authorization", value)]), ""),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn duplicates_resolve_to_the_first_usable_occurrence() {
        let defaults = TokenLocation::defaults();
        let hs = headers(&[
            ("authorization", "Basic x"),
            ("authorization", "Bearer second"),
            ("authorization", "Bearer third"),
        ]);
        assert_eq!(token_of(extract(&defaults, &hs, "")), Some("second".into()));
        assert_eq!(
            token_of(extract(
                &defaults,
                &[],
                "access_token=&access_token=one&access_token=two"
            )),
            Some("one".into())
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
            token_of(extract(
                &custom,
                &headers(&[("JWT-Header-Foo", "jwt-prefix-fooTOKEN")]),
                ""
            )),
            Some("TOKEN".into())
        );
        assert_eq!(
            extract(&custom, &headers(&[("jwt-header-foo", "TOKEN")]), ""),
            None
        );
        assert_eq!(
            extract(
                &custom,
                &headers(&[("authorization", "Bearer t")]),
                "access_token=t"
            ),
            None
        );
        assert_eq!(
            token_of(extract(&custom, &[], "jwt_query_bar=a%2Eb")),
            Some("a.b".into())
        );
        // Query names are case-sensitive.
        assert_eq!(extract(&custom, &[], "JWT_QUERY_BAR=x"), None);
    }

    #[test]
    fn odd_input_never_panics() {
        let defaults = TokenLocation::defaults();
        let hs = headers(&[
            ("authorization", "Bé"),
            ("authorization", "é"),
            ("authorization", ""),
        ]);
        assert_eq!(
            extract(&defaults, &hs, "access_token=%FF&&=&access_token"),
            None
        );
    }
}
