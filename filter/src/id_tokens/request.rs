//! The metadata-server call that fetches an ID token for one audience.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wasp_config::{IdTokenSource, ACCESS_TOKEN_KEY};

/// Everything but RFC 3986 unreserved characters is encoded, so an audience
/// that is a URL (`https://b.run.app/x?y`) stays one query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The headers of the call: Envoy needs `:method`, `:path` and `:authority`;
/// the metadata server refuses requests without `Metadata-Flavor: Google`.
pub fn headers(source: &IdTokenSource, audience: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".to_string()),
        (":path", path(source, audience)),
        (":authority", source.authority.clone()),
        ("metadata-flavor", "Google".to_string()),
    ]
}

/// `<path>?audience=<encoded>&format=standard`; for [`ACCESS_TOKEN_KEY`], the access-token path.
pub fn path(source: &IdTokenSource, audience: &str) -> String {
    if audience == ACCESS_TOKEN_KEY {
        return source.access_token_path.clone();
    }
    let separator = if source.path.contains('?') { '&' } else { '?' };
    format!(
        "{}{separator}audience={}&format=standard",
        source.path,
        utf8_percent_encode(audience, QUERY_VALUE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_identity_path_with_encoded_audience() {
        let source = IdTokenSource::gcp("metadata");
        assert_eq!(
            path(&source, "https://backend-abc.a.run.app/shelves?x=1&y=é"),
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https%3A%2F%2Fbackend-abc.a.run.app%2Fshelves%3Fx%3D1%26y%3D%C3%A9&format=standard"
        );
        let headers = headers(&source, "a-b_c.d~e");
        assert_eq!(headers[0], (":method", "GET".to_string()));
        assert!(headers[1]
            .1
            .ends_with("?audience=a-b_c.d~e&format=standard"));
        assert_eq!(
            headers[2],
            (":authority", "metadata.google.internal".to_string())
        );
        assert_eq!(headers[3], ("metadata-flavor", "Google".to_string()));
    }

    #[test]
    fn the_access_token_has_its_own_path_and_no_audience() {
        let source = IdTokenSource::gcp("metadata");
        assert_eq!(
            path(&source, ACCESS_TOKEN_KEY),
            "/computeMetadata/v1/instance/service-accounts/default/token"
        );
    }

    #[test]
    fn a_path_with_a_query_gets_more_parameters() {
        let mut source = IdTokenSource::gcp("metadata");
        source.path = "/identity?key=1".into();
        assert_eq!(
            path(&source, "a"),
            "/identity?key=1&audience=a&format=standard"
        );
    }
}
