//! Whether an operation requires an API key, and where keys are read, from its `security`
//! alternatives — as ESPv2 and Google's api-compiler compute it (for the compiler to use).
//!
//! - A key is required only when **every** alternative names an apiKey scheme; otherwise the
//!   operation allows unregistered callers (`allow_unregistered_calls`) and no Check is made.
//!   No alternatives (`security: []` or none) means no key is required.
//! - Locations: an apiKey scheme `in: query, name: key` stands for ESPv2's defaults. Any other
//!   scheme the operation references makes the locations custom, which replace the defaults.
//!   Deliberate difference: api-compiler then drops a referenced `query key` scheme (so `?key=`
//!   stops working); here every referenced scheme's location stays usable.

use crate::config::KeyLocation;

/// One scheme named in a `security` alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `type: apiKey` with its `in` / `name`.
    ApiKey(KeyLocation),
    /// Any other scheme (oauth2 JWT providers); it never makes a key required.
    Other,
}

/// The API-key part of an operation's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequirement {
    pub required: bool,
    /// Empty: ESPv2's default locations.
    pub locations: Vec<KeyLocation>,
}

/// Computes the key requirement from the operation's effective `security` list (each inner
/// list is one alternative, its schemes ANDed).
pub fn key_requirement(alternatives: &[Vec<Scheme>]) -> KeyRequirement {
    let required = !alternatives.is_empty()
        && alternatives
            .iter()
            .all(|alternative| alternative.iter().any(|s| matches!(s, Scheme::ApiKey(_))));
    let mut referenced: Vec<KeyLocation> = Vec::new();
    for scheme in alternatives.iter().flatten() {
        if let Scheme::ApiKey(location) = scheme {
            if !referenced.contains(location) {
                referenced.push(location.clone());
            }
        }
    }
    let default_scheme = KeyLocation::Query("key".into());
    let locations = if referenced.iter().all(|l| *l == default_scheme) {
        Vec::new()
    } else {
        referenced
    };
    KeyRequirement {
        required,
        locations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Scheme {
        Scheme::ApiKey(KeyLocation::Query(name.into()))
    }

    fn header(name: &str) -> Scheme {
        Scheme::ApiKey(KeyLocation::Header(name.into()))
    }

    #[test]
    fn required_only_when_every_alternative_has_a_key() {
        assert!(key_requirement(&[vec![key("key")]]).required);
        assert!(key_requirement(&[vec![key("key"), Scheme::Other], vec![header("h")]]).required);
        // apiKey OR JWT: the key is optional (ESPv2 / cloudendpoints/esp#469).
        assert!(!key_requirement(&[vec![key("key")], vec![Scheme::Other]]).required);
        assert!(!key_requirement(&[vec![Scheme::Other]]).required);
        assert!(!key_requirement(&[]).required);
    }

    #[test]
    fn the_query_key_scheme_means_defaults() {
        assert!(key_requirement(&[vec![key("key")]]).locations.is_empty());
        assert!(key_requirement(&[vec![Scheme::Other]]).locations.is_empty());
    }

    #[test]
    fn other_schemes_are_custom_and_keep_a_referenced_query_key() {
        let requirement = key_requirement(&[
            vec![header("x-shop-key")],
            vec![key("key"), header("x-shop-key")],
        ]);
        assert_eq!(
            requirement.locations,
            vec![
                KeyLocation::Header("x-shop-key".into()),
                KeyLocation::Query("key".into())
            ]
        );
    }
}
