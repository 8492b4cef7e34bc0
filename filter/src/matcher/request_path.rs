//! A request's `:path` cut into what templates are compared against.
//!
//! The query string and any fragment are ignored, exactly one trailing `/` is
//! tolerated, and a custom verb (`/v1/x:cancel`) is a suffix of the last segment.
//! Because a segment may contain `:` without meaning a verb, a path can have
//! several [`Reading`]s: the plain one and one per configured verb it ends with.

/// A request path split into segments (borrowed from the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestPath<'p> {
    segments: Vec<&'p str>,
    /// One trailing `/` was cut off (`/a/` has segments `["a"]` and this set).
    trailing_slash: bool,
}

/// One way to read a path: its segments, with the verb (if any) cut off the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading<'r> {
    /// Every segment but the last.
    head: &'r [&'r str],
    /// The last segment without its verb; `None` when there is no segment left
    /// (`/` or `/a/:verb`, whose verb sits right after a `/`).
    last: Option<&'r str>,
    /// The custom verb this reading assumes, without the `:`.
    pub verb: Option<&'r str>,
    /// A `/` follows the last segment, so a `**` may match zero segments there.
    slash_after_last: bool,
}

impl<'p> RequestPath<'p> {
    /// Splits a `:path`; `None` when it is not an origin-form path (no leading `/`).
    pub fn parse(raw: &'p str) -> Option<RequestPath<'p>> {
        let path = raw.split(['?', '#']).next().unwrap_or_default();
        let rest = path.strip_prefix('/')?;
        let (rest, trailing_slash) = match rest.strip_suffix('/') {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        let segments = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        Some(RequestPath {
            segments,
            trailing_slash,
        })
    }

    /// The plain reading first, then one per `:` in the last segment whose
    /// suffix is a verb the configuration knows (`is_known_verb`), so paths with
    /// many colons cost nothing extra unless they can match a verb template.
    pub fn readings<'r>(
        &'r self,
        is_known_verb: impl Fn(&str) -> bool + 'r,
    ) -> impl Iterator<Item = Reading<'r>> + 'r {
        let (last, head) = match self.segments.split_last() {
            Some((last, head)) => (Some(*last), head),
            None => (None, &[][..]),
        };
        let plain = Reading {
            head,
            last,
            verb: None,
            slash_after_last: self.trailing_slash,
        };
        let with_verbs = last
            .map(move |last| {
                last.match_indices(':').filter_map(move |(at, _)| {
                    let (base, colon_verb) = last.split_at_checked(at)?;
                    let verb = colon_verb.strip_prefix(':')?;
                    if verb.is_empty() || !is_known_verb(verb) {
                        return None;
                    }
                    let reading = if base.is_empty() {
                        // `/a/:verb`: the verb follows a `/`, so `a` is the last segment.
                        let (last, head) = match head.split_last() {
                            Some((previous, rest)) => (Some(*previous), rest),
                            None => (None, head),
                        };
                        Reading {
                            head,
                            last,
                            verb: Some(verb),
                            slash_after_last: true,
                        }
                    } else {
                        Reading {
                            head,
                            last: Some(base),
                            verb: Some(verb),
                            slash_after_last: false,
                        }
                    };
                    Some(reading)
                })
            })
            .into_iter()
            .flatten();
        std::iter::once(plain).chain(with_verbs)
    }
}

impl<'r> Reading<'r> {
    /// Number of segments.
    pub fn len(&self) -> usize {
        self.head.len() + usize::from(self.last.is_some())
    }

    /// The segment at `index`, if the path has that many.
    pub fn get(&self, index: usize) -> Option<&'r str> {
        match self.head.get(index) {
            Some(segment) => Some(segment),
            None if index == self.head.len() => self.last,
            None => None,
        }
    }

    /// Whether a `/` follows the first `index` segments, i.e. whether a `**`
    /// placed after them can match (`/c/**` needs the `/` after `c`).
    pub fn slash_after(&self, index: usize) -> bool {
        index == 0 || index < self.len() || (index == self.len() && self.slash_after_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(reading: &Reading) -> Vec<String> {
        (0..reading.len())
            .map(|i| reading.get(i).unwrap().to_string())
            .collect()
    }

    fn plain(raw: &str) -> (Vec<String>, bool) {
        let path = RequestPath::parse(raw).unwrap();
        let reading = path.readings(|_| true).next().unwrap();
        (segments(&reading), reading.slash_after_last)
    }

    #[test]
    fn drops_query_fragment_and_one_trailing_slash() {
        assert_eq!(plain("/a/b?x=/c"), (vec!["a".into(), "b".into()], false));
        assert_eq!(plain("/a/b#frag"), (vec!["a".into(), "b".into()], false));
        assert_eq!(plain("/a/b/"), (vec!["a".into(), "b".into()], true));
        assert_eq!(
            plain("/a/b//"),
            (vec!["a".into(), "b".into(), "".into()], true)
        );
        assert_eq!(plain("/"), (vec![], false));
        assert_eq!(plain("/?q"), (vec![], false));
        assert_eq!(plain("//"), (vec![], true));
    }

    #[test]
    fn rejects_paths_without_a_leading_slash() {
        assert_eq!(RequestPath::parse("*"), None);
        assert_eq!(RequestPath::parse("http://h/a"), None);
        assert_eq!(RequestPath::parse(""), None);
    }

    #[test]
    fn verb_readings_only_for_known_verbs() {
        let path = RequestPath::parse("/v1/x:a:b").unwrap();
        let all: Vec<_> = path
            .readings(|_| true)
            .map(|r| (segments(&r), r.verb))
            .collect();
        assert_eq!(
            all,
            vec![
                (vec!["v1".to_string(), "x:a:b".to_string()], None),
                (vec!["v1".to_string(), "x".to_string()], Some("a:b")),
                (vec!["v1".to_string(), "x:a".to_string()], Some("b")),
            ]
        );
        let only_b: Vec<_> = path.readings(|v| v == "b").map(|r| r.verb).collect();
        assert_eq!(only_b, vec![None, Some("b")]);
    }

    #[test]
    fn verb_right_after_a_slash_belongs_to_the_previous_segment() {
        let path = RequestPath::parse("/a/:run").unwrap();
        let reading = path.readings(|_| true).nth(1).unwrap();
        assert_eq!(
            (segments(&reading), reading.verb),
            (vec!["a".to_string()], Some("run"))
        );
        assert!(reading.slash_after(1));
        let root = RequestPath::parse("/:run").unwrap();
        let reading = root.readings(|_| true).nth(1).unwrap();
        assert_eq!((reading.len(), reading.verb), (0, Some("run")));
    }

    #[test]
    fn slash_after_follows_the_raw_path() {
        let path = RequestPath::parse("/c").unwrap();
        let reading = path.readings(|_| false).next().unwrap();
        assert!(reading.slash_after(0));
        assert!(!reading.slash_after(1));
        let path = RequestPath::parse("/c/").unwrap();
        assert!(path.readings(|_| false).next().unwrap().slash_after(1));
    }
}
