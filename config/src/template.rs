//! Path templates as Cloud Endpoints writes them: `/v1/shelves/{shelf}`,
//! `/files/{path=**}`, `/v1/{name}:cancel`, bare `*` and `**`, and variables
//! that span segments as HttpRule allows (`/v1/{name=shelves/*/books/*}`).
//!
//! Both the compiler (to reject a bad spec early) and the filter (to build its
//! matcher) parse templates with this one parser.

use std::fmt;
use std::ops::Range;

/// One `/`-separated piece of a template, as the matcher sees it. Variable
/// names live apart, in [`PathTemplate::variables`], because one variable may
/// cover several segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive).
    Literal(String),
    /// `*` (also `{name}` or `{name=*}`): exactly one non-empty segment.
    Single,
    /// `**` (also `{name=**}`): zero or more segments; only last in a template.
    Multi,
}

/// A named variable and the segments it covers: `{name}` covers one `Single`,
/// `{name=shelves/*}` a `Literal` and a `Single`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variable {
    pub name: String,
    pub segments: Range<usize>,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
    /// The named variables in template order; their ranges never overlap.
    pub variables: Vec<Variable>,
    /// Custom verb after the last segment (`/v1/{name}:cancel` has `cancel`).
    pub verb: Option<String>,
}

/// Why a template was rejected; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Splits `path` at each `/` outside braces, so `a/{n=b/*}/c` gives three pieces.
fn split_outside_braces(path: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                pieces.push(&path[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push(&path[start..]);
    pieces
}

/// Splits off a custom verb: the first `:` outside braces after the last `/`
/// outside braces.
fn split_verb(path: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    let mut colon = None;
    for (at, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => colon = None,
            ':' if depth == 0 && colon.is_none() => colon = Some(at),
            _ => {}
        }
    }
    match colon {
        Some(at) => (&path[..at], Some(&path[at + 1..])),
        None => (path, None),
    }
}

/// A piece outside any variable, or one segment of a variable's pattern.
fn parse_plain_segment(raw: &str, whole: &str) -> Result<Segment, TemplateError> {
    match raw {
        "*" => Ok(Segment::Single),
        "**" => Ok(Segment::Multi),
        "" => err(format!("path {whole:?} has an empty segment ('//')")),
        _ if raw.contains(['{', '}', '*']) => err(format!(
            "segment {raw:?} in {whole:?} mixes text with a variable or wildcard; \
             a variable must be a whole segment like {{id}}"
        )),
        _ => Ok(Segment::Literal(raw.to_string())),
    }
}

/// Parses one top-level piece, appending its segments (and its variable, if
/// it is one) to the template being built.
fn parse_piece(
    raw: &str,
    whole: &str,
    segments: &mut Vec<Segment>,
    variables: &mut Vec<Variable>,
) -> Result<(), TemplateError> {
    let Some(inner) = raw.strip_prefix('{') else {
        segments.push(parse_plain_segment(raw, whole)?);
        return Ok(());
    };
    let Some(inner) = inner.strip_suffix('}') else {
        return err(format!(
            "segment {raw:?} in {whole:?} opens a variable with '{{' but does not close it \
             with '}}' at the end of the segment"
        ));
    };
    let (name, pattern) = match inner.split_once('=') {
        Some((name, pattern)) => (name, pattern),
        None => (inner, "*"),
    };
    if !valid_name(name) {
        return err(format!(
            "variable name {name:?} in {whole:?} is not valid; use letters, digits, '_' and '.', \
             starting with a letter"
        ));
    }
    if pattern.is_empty() || pattern.contains(['{', '}']) {
        return err(format!(
            "variable {{{name}}} in {whole:?} has pattern {pattern:?}; write segments of text, \
             '*' and '**' joined by '/', like {{{name}=shelves/*}}, or leave it as {{{name}}}"
        ));
    }
    let first = segments.len();
    for part in pattern.split('/') {
        segments.push(parse_plain_segment(part, whole)?);
    }
    variables.push(Variable {
        name: name.to_string(),
        segments: first..segments.len(),
    });
    Ok(())
}

impl PathTemplate {
    /// Parses a template. One trailing `/` is dropped (requests tolerate one
    /// anyway), so `/a/` and `/a` are the same template.
    pub fn parse(text: &str) -> Result<PathTemplate, TemplateError> {
        let Some(rest) = text.strip_prefix('/') else {
            return err(format!("path {text:?} must start with '/'"));
        };
        if text.contains(['?', '#']) {
            return err(format!(
                "path {text:?} must not contain a query ('?') or fragment ('#')"
            ));
        }
        // One trailing `/` goes first, so a verb before it is still found (`/x:get/`).
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (rest, verb) = split_verb(rest);
        let verb = match verb {
            Some(v) if v.is_empty() || v.contains(['{', '}', '*', '/']) => {
                return err(format!(
                    "custom verb {v:?} in {text:?} must be plain text after the last ':'"
                ));
            }
            other => other.map(str::to_string),
        };
        // `/a/:verb` is `/a:verb`.
        let rest = match verb {
            Some(_) => rest.strip_suffix('/').unwrap_or(rest),
            None => rest,
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        if !rest.is_empty() {
            for raw in split_outside_braces(rest) {
                parse_piece(raw, text, &mut segments, &mut variables)?;
            }
        }
        if let Some(index) = segments.iter().position(|s| *s == Segment::Multi) {
            if index + 1 != segments.len() {
                return err(format!(
                    "in {text:?} a '**' wildcard must be the last segment; move it to the end or use '*'"
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for variable in &variables {
            if !names.insert(variable.name.as_str()) {
                return err(format!(
                    "variable {{{}}} appears twice in {text:?}; give each a distinct name",
                    variable.name
                ));
            }
        }
        Ok(PathTemplate {
            segments,
            variables,
            verb,
        })
    }

    /// Names of the variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(|v| v.name.as_str())
    }

    /// The variable whose first segment is `index`, if any.
    pub fn variable_starting_at(&self, index: usize) -> Option<&Variable> {
        self.variables.iter().find(|v| v.segments.start == index)
    }
}

fn write_segment(f: &mut fmt::Formatter<'_>, segment: &Segment) -> fmt::Result {
    match segment {
        Segment::Literal(literal) => f.write_str(literal),
        Segment::Single => f.write_str("*"),
        Segment::Multi => f.write_str("**"),
    }
}

/// The template as a spec would write it; parsing the text gives the same template back.
impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut index = 0;
        let mut last_is_bare_literal = false;
        while let Some(segment) = self.segments.get(index) {
            f.write_str("/")?;
            match self.variable_starting_at(index) {
                Some(variable) => {
                    let covered = self
                        .segments
                        .get(variable.segments.clone())
                        .unwrap_or_default();
                    match covered {
                        [Segment::Single] => write!(f, "{{{}}}", variable.name)?,
                        _ => {
                            write!(f, "{{{}=", variable.name)?;
                            for (i, inner) in covered.iter().enumerate() {
                                if i > 0 {
                                    f.write_str("/")?;
                                }
                                write_segment(f, inner)?;
                            }
                            f.write_str("}")?;
                        }
                    }
                    index = variable.segments.end.max(index + 1);
                    last_is_bare_literal = false;
                }
                None => {
                    write_segment(f, segment)?;
                    index += 1;
                    last_is_bare_literal = matches!(segment, Segment::Literal(_));
                }
            }
        }
        if self.segments.is_empty() {
            f.write_str("/")?;
        }
        // A last literal with a `:` would read as segment + verb unless a `/` follows it
        // (the verb is looked for after the last `/`; `/x/:verb` is `/x:verb`).
        if last_is_bare_literal
            && matches!(self.segments.last(), Some(Segment::Literal(l)) if l.contains(':'))
        {
            f.write_str("/")?;
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }

    fn var(name: &str, segments: Range<usize>) -> Variable {
        Variable {
            name: name.into(),
            segments,
        }
    }

    #[test]
    fn parses_literals_variables_and_wildcards() {
        let t = PathTemplate::parse("/v1/shelves/{shelf}/books/{path=**}").unwrap();
        assert_eq!(
            t.segments,
            vec![
                lit("v1"),
                lit("shelves"),
                Segment::Single,
                lit("books"),
                Segment::Multi
            ]
        );
        assert_eq!(t.variables, vec![var("shelf", 2..3), var("path", 4..5)]);
        assert_eq!(t.variables().collect::<Vec<_>>(), ["shelf", "path"]);
        let t = PathTemplate::parse("/a/*/**").unwrap();
        assert_eq!(t.segments, vec![lit("a"), Segment::Single, Segment::Multi]);
        assert!(t.variables.is_empty());
    }

    #[test]
    fn variables_span_segments() {
        let t = PathTemplate::parse("/v1/{name=shelves/*/books/*}:read").unwrap();
        assert_eq!(
            t.segments,
            vec![
                lit("v1"),
                lit("shelves"),
                Segment::Single,
                lit("books"),
                Segment::Single
            ]
        );
        assert_eq!(t.variables, vec![var("name", 1..5)]);
        assert_eq!(t.verb.as_deref(), Some("read"));
        let t = PathTemplate::parse("/v1/{parent=projects/*}/{rest=x/**}").unwrap();
        assert_eq!(t.variables, vec![var("parent", 1..3), var("rest", 3..5)]);
        assert_eq!(t.segments.last(), Some(&Segment::Multi));
        // A span is the same route as its segments written out.
        assert_eq!(
            PathTemplate::parse("/v1/{name=shelves/*}")
                .unwrap()
                .segments,
            PathTemplate::parse("/v1/shelves/*").unwrap().segments
        );
    }

    #[test]
    fn root_and_trailing_slash() {
        assert_eq!(PathTemplate::parse("/").unwrap().segments, vec![]);
        assert_eq!(
            PathTemplate::parse("/a/").unwrap(),
            PathTemplate::parse("/a").unwrap()
        );
    }

    #[test]
    fn renders_as_written() {
        for text in [
            "/",
            "/v1/{name}:cancel",
            "/files/{path=**}",
            "/a/*/b/**",
            "/x:y/:verb",
            "/v1/{name=shelves/*/books/*}",
            "/v1/{name=x/**}:run",
            "/{a=b:c}",
        ] {
            assert_eq!(PathTemplate::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(PathTemplate::parse("/{x=*}").unwrap().to_string(), "/{x}");
    }

    #[test]
    fn custom_verb() {
        let t = PathTemplate::parse("/v1/{name}:cancel").unwrap();
        assert_eq!(t.verb.as_deref(), Some("cancel"));
        assert_eq!(t.segments, vec![lit("v1"), Segment::Single]);
        // A colon inside braces is not a verb.
        assert!(PathTemplate::parse("/v1/{a:b}").is_err());
        let t = PathTemplate::parse("/v1/{a=b:c/*}").unwrap();
        assert_eq!(t.verb, None);
        assert_eq!(t.segments, vec![lit("v1"), lit("b:c"), Segment::Single]);
    }

    #[test]
    fn rejects_bad_templates_with_a_reason() {
        for (bad, says) in [
            ("hello", "must start with '/'"),
            ("/a//b", "empty segment"),
            ("/a/{x", "does not close it"),
            ("/a/{x=b/*", "does not close it"),
            ("/a/x{y}", "mixes text"),
            ("/a/{1x}", "not valid"),
            ("/a/**/b", "must be the last segment"),
            ("/a/{x=**}/b", "must be the last segment"),
            ("/a/{x=b/**/c}", "must be the last segment"),
            ("/a/{x}/{x}", "appears twice"),
            ("/a/{x=}", "has pattern \"\""),
            ("/a/{x={y}}", "has pattern"),
            ("/a/{x=b//c}", "empty segment"),
            ("/a/{x=b*}", "mixes text"),
            ("/a?q=1", "query"),
            ("/a:", "custom verb"),
        ] {
            let e = PathTemplate::parse(bad).unwrap_err();
            assert!(e.0.contains(says), "{bad}: {}", e.0);
        }
    }
}
