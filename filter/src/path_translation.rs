//! `x-google-backend.path_translation`: the `:path` the backend receives.
//!
//! Mirrors ESPv2's path_rewrite filter: APPEND puts the address path in front of
//! the path as received (query included); CONSTANT sends the address path, then
//! the original query as sent (from its `?`), then one `name=value` per named
//! template variable, values copied raw so nothing is decoded or re-encoded.

use wasp_config::PathTranslation;

use crate::matcher::Binding;

/// The backend `:path` for a request whose `:path` is `raw_path` and whose
/// matched template bound `bindings` (only read for CONSTANT_ADDRESS).
pub fn translate(translation: &PathTranslation, bindings: &[Binding], raw_path: &str) -> String {
    match translation {
        PathTranslation::AppendPathToAddress { prefix } => {
            let mut path = String::with_capacity(prefix.len() + raw_path.len());
            path.push_str(prefix);
            path.push_str(raw_path);
            path
        }
        PathTranslation::ConstantAddress { path: constant } => {
            let query = raw_path.find('?').and_then(|at| raw_path.get(at..));
            let params_len: usize = bindings
                .iter()
                .map(|b| b.name.len() + b.value.len() + 2)
                .sum();
            let mut path =
                String::with_capacity(constant.len() + query.map_or(0, str::len) + params_len);
            path.push_str(constant);
            // ESPv2 keeps the original query exactly as sent, `?` included, even
            // when it is empty (`/c?` + bindings gives `/c?&x=1`).
            let mut separator = match query {
                Some(query) => {
                    path.push_str(query);
                    '&'
                }
                None => '?',
            };
            for binding in bindings {
                path.push(separator);
                path.push_str(binding.name);
                path.push('=');
                path.push_str(binding.value);
                separator = '&';
            }
            path
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::bind;
    use wasp_config::PathTemplate;

    fn append(prefix: &str) -> PathTranslation {
        PathTranslation::AppendPathToAddress {
            prefix: prefix.into(),
        }
    }

    fn constant(path: &str) -> PathTranslation {
        PathTranslation::ConstantAddress { path: path.into() }
    }

    /// Translates `request` matched by `template` the way the filter does.
    fn run(translation: &PathTranslation, template: &str, request: &str) -> String {
        let template = PathTemplate::parse(template).unwrap();
        let bindings = bind(&template, request).unwrap();
        translate(translation, &bindings, request)
    }

    // The examples of "Understanding path translation" (seed 003), as paths:
    // the address host goes to the cluster, only its path reaches the filter.

    #[test]
    fn seed_append_with_path_parameters() {
        // address https://my-project-id.appspot.com has no path: the compiler
        // emits no translation at all, so the path is forwarded unchanged.
        // With an address path, the request path is appended to it.
        assert_eq!(
            run(&append("/api"), "/hello/{name}", "/hello/world"),
            "/api/hello/world"
        );
    }

    #[test]
    fn seed_append_without_path_parameters() {
        assert_eq!(run(&append("/api"), "/hello", "/hello"), "/api/hello");
    }

    #[test]
    fn seed_constant_with_path_parameters() {
        // address https://us-central1-my-project-id.cloudfunctions.net/helloGET
        assert_eq!(
            run(&constant("/helloGET"), "/hello/{name}", "/hello/world"),
            "/helloGET?name=world"
        );
    }

    #[test]
    fn seed_constant_without_path_parameters() {
        assert_eq!(run(&constant("/helloGET"), "/hello", "/hello"), "/helloGET");
    }

    #[test]
    fn append_keeps_query_and_trailing_slash_as_received() {
        assert_eq!(
            run(&append("/foo"), "/bar", "/bar?xyz=123"),
            "/foo/bar?xyz=123"
        );
        assert_eq!(run(&append("/foo"), "/bar", "/bar/"), "/foo/bar/");
        assert_eq!(
            run(&append("/v1/base"), "/shelves/{s}", "/shelves/a%2Fb?q=%20"),
            "/v1/base/shelves/a%2Fb?q=%20"
        );
        assert_eq!(run(&append("/foo"), "/", "/"), "/foo/");
    }

    #[test]
    fn constant_puts_the_original_query_first() {
        // ESPv2 config_parser_impl_test: /bar/567?xyz=123 => /foo?xyz=123&abc=567
        assert_eq!(
            run(&constant("/foo"), "/bar/{abc}", "/bar/567?xyz=123"),
            "/foo?xyz=123&abc=567"
        );
        assert_eq!(
            run(&constant("/foo"), "/bar", "/bar?xyz=123"),
            "/foo?xyz=123"
        );
        assert_eq!(run(&constant("/"), "/bar", "/bar?xyz=123"), "/?xyz=123");
        assert_eq!(run(&constant("/"), "/bar", "/bar"), "/");
    }

    #[test]
    fn constant_copies_bindings_raw_in_template_order() {
        assert_eq!(
            run(
                &constant("/dynamicrouting/sc"),
                "/sc/{s_1}/{s_2=**}",
                "/sc/x%20y/9/8/7/?a=b%26c"
            ),
            "/dynamicrouting/sc?a=b%26c&s_1=x%20y&s_2=9/8/7"
        );
        assert_eq!(
            run(&constant("/c"), "/b/{y}/a/{x}", "/b/2/a/1"),
            "/c?y=2&x=1"
        );
    }

    #[test]
    fn constant_edge_cases() {
        // A sent-but-empty query is kept as sent, as ESPv2 does.
        assert_eq!(run(&constant("/c"), "/a/{x}", "/a/1?"), "/c?&x=1");
        // Zero-segment `**` still names the parameter.
        assert_eq!(run(&constant("/c"), "/f/{p=**}", "/f/"), "/c?p=");
        // Unnamed wildcards add nothing; the trailing slash is dropped.
        assert_eq!(run(&constant("/c"), "/f/*/**", "/f/a/b/"), "/c");
        // Custom verbs are not part of a value.
        assert_eq!(
            run(&constant("/c"), "/v1/{name}:cancel", "/v1/op:cancel"),
            "/c?name=op"
        );
    }
}
