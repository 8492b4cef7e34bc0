//! Finds the API key of a request, as ESPv2 does: ESPv2's default locations (query `key`,
//! query `api_key`, header `x-api-key`) unless the operation names its own, which replace the
//! defaults and are tried query parameters first, then headers, each in config order.
//!
//! Decided here (ESPv2 silently takes the first hit):
//! - the same key sent several times (two locations, a repeated parameter) is one key;
//! - two *different* keys are rejected with 400 [`MULTIPLE_KEYS_MESSAGE`], whatever their
//!   order, so no location can smuggle a second key past the one that was checked;
//! - empty values do not count as a key; query values are percent-decoded (keys never need
//!   escaping, so `%41` and `A` are the same key).
//!
//! [`KeyRemoval`] gives the edits that remove the key before the backend: the header names and
//! a new `:path` whose query keeps every other parameter byte for byte.

use crate::config::KeyLocation;
use percent_encoding::percent_decode_str;

/// The 400 body for a request carrying two different keys.
pub const MULTIPLE_KEYS_MESSAGE: &str =
    "INVALID_ARGUMENT: The request carries more than one API key; send exactly one.";

/// ESPv2's default key locations, in the order it tries them.
pub fn default_locations() -> Vec<KeyLocation> {
    vec![
        KeyLocation::Query("key".into()),
        KeyLocation::Query("api_key".into()),
        KeyLocation::Header("x-api-key".into()),
    ]
}

/// The locations used for an operation: its own (query first, then headers, each in the
/// given order), or the defaults when it names none.
pub fn effective_locations(custom: &[KeyLocation]) -> Vec<KeyLocation> {
    if custom.is_empty() {
        return default_locations();
    }
    let queries = custom.iter().filter(|l| matches!(l, KeyLocation::Query(_)));
    let headers = custom
        .iter()
        .filter(|l| matches!(l, KeyLocation::Header(_)));
    queries.chain(headers).cloned().collect()
}

/// The key of a request and every place it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundKey {
    pub key: String,
    /// Query parameter names (as configured) that carried it.
    pub query_names: Vec<String>,
    /// Header names (as configured) that carried it.
    pub header_names: Vec<String>,
}

/// Why no usable key could be taken from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Two different keys; the request is answered 400.
    Multiple,
}

/// Looks for the key in `locations`. `headers` are the request headers as received (name,
/// value); `query` is the raw query string after `?`.
pub fn extract(
    locations: &[KeyLocation],
    headers: &[(String, String)],
    query: &str,
) -> Result<Option<FoundKey>, KeyError> {
    let mut found: Option<FoundKey> = None;
    for location in locations {
        let values: Vec<String> = match location {
            KeyLocation::Query(name) => query_values(query, name),
            KeyLocation::Header(name) => headers
                .iter()
                .filter(|(header, _)| header.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim().to_string())
                .filter(|value| !value.is_empty())
                .collect(),
        };
        for value in values {
            let entry = found.get_or_insert_with(|| FoundKey {
                key: value.clone(),
                query_names: Vec::new(),
                header_names: Vec::new(),
            });
            if entry.key != value {
                return Err(KeyError::Multiple);
            }
            let (names, name) = match location {
                KeyLocation::Query(name) => (&mut entry.query_names, name),
                KeyLocation::Header(name) => (&mut entry.header_names, name),
            };
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    Ok(found)
}

/// Every non-empty, percent-decoded value of parameter `name` in a raw query string.
fn query_values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (raw_name, raw_value) = pair.split_once('=')?;
            if decode(raw_name) != name {
                return None;
            }
            Some(decode(raw_value))
        })
        .filter(|value| !value.is_empty())
        .collect()
}

fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The request edits that remove a found key before the backend sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRemoval {
    pub remove_headers: Vec<String>,
    /// The new `:path` when the key was in the query.
    pub new_path: Option<String>,
}

impl KeyRemoval {
    /// `path` is the request's `:path` (with its query).
    pub fn for_key(found: &FoundKey, path: &str) -> KeyRemoval {
        let new_path = if found.query_names.is_empty() {
            None
        } else {
            path.split_once('?').map(|(before, query)| {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let raw_name = pair.split_once('=').map_or(*pair, |(n, _)| n);
                        !found.query_names.contains(&decode(raw_name))
                    })
                    .collect();
                if kept.is_empty() {
                    before.to_string()
                } else {
                    format!("{before}?{}", kept.join("&"))
                }
            })
        };
        KeyRemoval {
            remove_headers: found.header_names.clone(),
            new_path,
        }
    }
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

    fn key_of(locations: &[KeyLocation], hs: &[(&str, &str)], query: &str) -> Option<String> {
        extract(locations, &headers(hs), query)
            .unwrap()
            .map(|found| found.key)
    }

    #[test]
    fn defaults_find_each_location() {
        let defaults = default_locations();
        assert_eq!(key_of(&defaults, &[], "key=abc"), Some("abc".into()));
        assert_eq!(
            key_of(&defaults, &[], "a=1&api_key=abc"),
            Some("abc".into())
        );
        assert_eq!(
            key_of(&defaults, &[("X-API-KEY", "abc")], ""),
            Some("abc".into())
        );
        assert_eq!(
            key_of(&defaults, &[("x-goog-api-key", "abc")], "k=abc"),
            None
        );
    }

    #[test]
    fn query_names_are_case_sensitive_and_values_decoded() {
        let defaults = default_locations();
        assert_eq!(key_of(&defaults, &[], "KEY=abc"), None);
        assert_eq!(key_of(&defaults, &[], "key=a%42c"), Some("aBc".into()));
        assert_eq!(key_of(&defaults, &[], "k%65y=abc"), Some("abc".into()));
    }

    #[test]
    fn empty_values_are_not_keys() {
        let defaults = default_locations();
        assert_eq!(
            key_of(&defaults, &[("x-api-key", "  ")], "key=&api_key"),
            None
        );
        assert_eq!(key_of(&defaults, &[], "key=&key=abc"), Some("abc".into()));
    }

    #[test]
    fn custom_locations_replace_the_defaults() {
        let custom = effective_locations(&[KeyLocation::Header("x-shop-key".into())]);
        assert_eq!(key_of(&custom, &[], "key=abc"), None);
        assert_eq!(key_of(&custom, &[("x-api-key", "abc")], ""), None);
        assert_eq!(
            key_of(&custom, &[("X-Shop-Key", "abc")], ""),
            Some("abc".into())
        );
    }

    #[test]
    fn custom_locations_try_queries_first() {
        let custom = effective_locations(&[
            KeyLocation::Header("h".into()),
            KeyLocation::Query("q2".into()),
            KeyLocation::Query("q1".into()),
        ]);
        assert_eq!(
            custom,
            vec![
                KeyLocation::Query("q2".into()),
                KeyLocation::Query("q1".into()),
                KeyLocation::Header("h".into()),
            ]
        );
    }

    #[test]
    fn the_same_key_twice_is_one_key_with_every_source() {
        let found = extract(
            &default_locations(),
            &headers(&[("x-api-key", "abc"), ("X-Api-Key", "abc")]),
            "key=abc&api_key=abc&key=abc",
        )
        .unwrap()
        .unwrap();
        assert_eq!(found.key, "abc");
        assert_eq!(found.query_names, vec!["key", "api_key"]);
        assert_eq!(found.header_names, vec!["x-api-key"]);
    }

    #[test]
    fn two_different_keys_are_rejected_in_any_order() {
        let defaults = default_locations();
        for (hs, query) in [
            (vec![], "key=a&key=b"),
            (vec![], "key=a&api_key=b"),
            (vec![("x-api-key", "b")], "key=a"),
            (vec![("x-api-key", "a"), ("x-api-key", "b")], ""),
        ] {
            assert_eq!(
                extract(&defaults, &headers(&hs), query),
                Err(KeyError::Multiple),
                "{hs:?} {query}"
            );
        }
        // A second key in a location the operation does not read is not looked at.
        let custom = effective_locations(&[KeyLocation::Header("x-shop-key".into())]);
        assert_eq!(
            key_of(&custom, &[("x-shop-key", "a"), ("x-api-key", "b")], "key=c"),
            Some("a".into())
        );
    }

    #[test]
    fn removal_keeps_every_other_parameter_raw() {
        let found = extract(
            &default_locations(),
            &headers(&[("x-api-key", "abc")]),
            "a=%2F&key=abc&b=x+y&api_key=abc&c",
        )
        .unwrap()
        .unwrap();
        let removal = KeyRemoval::for_key(&found, "/v1/x?a=%2F&key=abc&b=x+y&api_key=abc&c");
        assert_eq!(removal.new_path.as_deref(), Some("/v1/x?a=%2F&b=x+y&c"));
        assert_eq!(removal.remove_headers, vec!["x-api-key"]);
    }

    #[test]
    fn removal_of_the_only_parameter_drops_the_question_mark() {
        let found = extract(&default_locations(), &[], "key=abc")
            .unwrap()
            .unwrap();
        let removal = KeyRemoval::for_key(&found, "/v1/x?key=abc");
        assert_eq!(removal.new_path.as_deref(), Some("/v1/x"));
        assert!(removal.remove_headers.is_empty());
    }

    #[test]
    fn removal_of_a_header_key_leaves_the_path_alone() {
        let found = extract(
            &default_locations(),
            &headers(&[("x-api-key", "abc")]),
            "key=",
        )
        .unwrap()
        .unwrap();
        let removal = KeyRemoval::for_key(&found, "/v1/x?key=");
        assert_eq!(removal.new_path, None);
    }
}
