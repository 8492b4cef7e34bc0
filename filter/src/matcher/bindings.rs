//! The values a matched template's named variables took in the request path.
//!
//! Only CONSTANT_ADDRESS path translation needs them, so they are computed on
//! demand for that one template instead of during every match: the common path
//! (no translation, APPEND) allocates nothing for bindings.

use wasp_config::{PathTemplate, Segment};

/// One named variable and the raw text it matched (never percent-decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'t, 'p> {
    pub name: &'t str,
    /// A slice of the request path. For `{x=**}` it spans several segments,
    /// joined by their `/`, with trailing empty segments dropped (ESPv2).
    pub value: &'p str,
}

/// Binds `template`'s named variables against `raw_path` (query and fragment
/// ignored), in template order. Bare `*`/`**` bind nothing. `None` when the path
/// does not have the template's shape, which the matcher rules out for the
/// template it returned.
pub fn bind<'t, 'p>(template: &'t PathTemplate, raw_path: &'p str) -> Option<Vec<Binding<'t, 'p>>> {
    let path = raw_path.split(['?', '#']).next().unwrap_or_default();
    // Like the matcher: one trailing `/` is tolerated, also around a custom
    // verb (`/x:cancel/` and `/x/:cancel` match `/{name}:cancel`).
    let mut rest = path.strip_prefix('/')?;
    rest = rest.strip_suffix('/').unwrap_or(rest);
    if let Some(verb) = &template.verb {
        rest = rest.strip_suffix(verb.as_str())?.strip_suffix(':')?;
        rest = rest.strip_suffix('/').unwrap_or(rest);
    }
    // Where each segment sits in `rest`, as byte ranges; a variable's value runs
    // from its first segment's start to its last one's end, `/`s included.
    let mut spans = Vec::with_capacity(template.segments.len());
    let mut at = 0;
    let mut consumed = rest.is_empty();
    for segment in &template.segments {
        let tail = rest.get(at..).unwrap_or_default();
        match segment {
            Segment::Literal(_) | Segment::Single => match tail.find('/') {
                Some(slash) => {
                    spans.push(at..at + slash);
                    at += slash + 1;
                }
                None => {
                    spans.push(at..rest.len());
                    at = rest.len();
                    consumed = true;
                }
            },
            // `**` is last: it takes the rest, without trailing `/`s.
            Segment::Multi => {
                let end = if consumed {
                    rest.len()
                } else {
                    at + tail.trim_end_matches('/').len()
                };
                spans.push(at.min(end)..end);
                at = rest.len();
                consumed = true;
            }
        }
    }
    if !consumed && at < rest.len() {
        return None;
    }
    template
        .variables
        .iter()
        .map(|variable| {
            let first = spans.get(variable.segments.start)?;
            let last = spans.get(variable.segments.end.checked_sub(1)?)?;
            Some(Binding {
                name: &variable.name,
                value: rest.get(first.start..last.end.max(first.start))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        let template = PathTemplate::parse(template).unwrap();
        bind(&template, path).map(|bindings| {
            bindings
                .into_iter()
                .map(|b| (b.name.to_string(), b.value.to_string()))
                .collect()
        })
    }

    fn p(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn single_variables_in_template_order() {
        assert_eq!(
            pairs(
                "/v1/shelves/{shelf}/books/{book}",
                "/v1/shelves/1/books/2?x=y"
            ),
            p(&[("shelf", "1"), ("book", "2")])
        );
        assert_eq!(
            pairs("/hello/{name}", "/hello/world"),
            p(&[("name", "world")])
        );
        // The tolerated trailing slash is not part of the value.
        assert_eq!(
            pairs("/hello/{name}", "/hello/world/"),
            p(&[("name", "world")])
        );
    }

    #[test]
    fn values_are_raw() {
        assert_eq!(
            pairs("/a/{x}", "/a/b%2Fc%20d+e"),
            p(&[("x", "b%2Fc%20d+e")])
        );
    }

    #[test]
    fn double_wildcard_joins_segments_and_drops_trailing_empty_ones() {
        assert_eq!(
            pairs("/s/{s_1}/{s_2=**}", "/s/x/9/8/7"),
            p(&[("s_1", "x"), ("s_2", "9/8/7")])
        );
        assert_eq!(pairs("/f/{p=**}", "/f/a/b//"), p(&[("p", "a/b")]));
        assert_eq!(pairs("/f/{p=**}", "/f/a//b"), p(&[("p", "a//b")]));
        // Zero segments: an empty value, still a parameter (ESPv2 emits `p=`).
        assert_eq!(pairs("/f/{p=**}", "/f/"), p(&[("p", "")]));
        assert_eq!(pairs("/{p=**}", "/"), p(&[("p", "")]));
    }

    #[test]
    fn unnamed_wildcards_bind_nothing() {
        assert_eq!(pairs("/a/*/{x}/**", "/a/b/c/d/e"), p(&[("x", "c")]));
        assert_eq!(pairs("/a/*", "/a/b"), p(&[]));
    }

    #[test]
    fn a_variable_spanning_segments_takes_them_with_their_slashes() {
        assert_eq!(
            pairs("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b%2F2"),
            p(&[("name", "shelves/s1/books/b%2F2")])
        );
        assert_eq!(
            pairs(
                "/v1/{parent=projects/*}/{rest=files/**}:get",
                "/v1/projects/p/files/a/b:get"
            ),
            p(&[("parent", "projects/p"), ("rest", "files/a/b")])
        );
        // `**` matching nothing leaves the span's literal part.
        assert_eq!(
            pairs("/v1/{rest=files/**}", "/v1/files"),
            p(&[("rest", "files")])
        );
        assert_eq!(
            pairs("/v1/{rest=files/**}", "/v1/files/"),
            p(&[("rest", "files")])
        );
    }

    #[test]
    fn custom_verb_is_not_part_of_the_value() {
        assert_eq!(
            pairs("/v1/{name}:cancel", "/v1/op1:cancel?x=1"),
            p(&[("name", "op1")])
        );
        assert_eq!(
            pairs("/v1/{name=**}:run", "/v1/a/b:run"),
            p(&[("name", "a/b")])
        );
    }

    proptest::proptest! {
        /// Any path built from a template's shape binds back exactly the
        /// segment text that was put in, whatever it contains.
        #[test]
        fn binds_back_what_was_put_in(
            parts in proptest::collection::vec((0u8..3, "[a-zA-Z0-9%:.~+=-]{1,6}"), 0..5),
            tail in proptest::option::of(proptest::collection::vec("[a-z0-9%]{1,4}", 0..3)),
            query in proptest::option::of("[a-z=&/?%]{0,8}"),
            trailing_slash in proptest::bool::ANY,
        ) {
            let mut template = String::new();
            let mut path = String::new();
            let mut expected = Vec::new();
            for (i, (kind, text)) in parts.iter().enumerate() {
                match kind {
                    0 => template.push_str(&format!("/lit{i}")),
                    1 => {
                        template.push_str(&format!("/{{v{i}}}"));
                        expected.push((format!("v{i}"), text.clone()));
                    }
                    _ => template.push_str("/*"),
                }
                path.push('/');
                path.push_str(if *kind == 0 { "" } else { text });
                if *kind == 0 {
                    path.push_str(&format!("lit{i}"));
                }
            }
            match &tail {
                Some(segments) => {
                    template.push_str("/{rest=**}");
                    let joined = segments.join("/");
                    path.push('/');
                    path.push_str(&joined);
                    expected.push(("rest".to_string(), joined));
                }
                None if template.is_empty() => template.push('/'),
                None => {}
            }
            if trailing_slash && !path.ends_with('/') {
                path.push('/');
            }
            if path.is_empty() {
                path.push('/');
            }
            if let Some(query) = &query {
                path.push('?');
                path.push_str(query);
            }
            let parsed = PathTemplate::parse(&template).unwrap();
            let got: Vec<(String, String)> = bind(&parsed, &path)
                .unwrap()
                .into_iter()
                .map(|b| (b.name.to_string(), b.value.to_string()))
                .collect();
            proptest::prop_assert_eq!(got, expected, "template {} path {}", template, path);
        }
    }

    #[test]
    fn a_path_of_another_shape_binds_nothing() {
        assert_eq!(pairs("/a/{x}", "/a/b/c"), None);
        assert_eq!(pairs("/v1/{name}:cancel", "/v1/x"), None);
        assert_eq!(pairs("/a/{x}", "a/b"), None);
    }
}
