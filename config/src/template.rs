//! Path templates as Cloud Endpoints writes them: `/v1/shelves/{shelf}`,
//! `/files/{path=**}`, `/v1/{name}:cancel`, bare `*` and `**`.
//!
//! Both the compiler (to reject a bad spec early) and the filter (to build its
//! matcher) parse templates with this one parser.

use std::fmt;

/// One `/`-separated piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive).
    Literal(String),
    /// `{name}`, `{name=*}` or `*`: exactly one non-empty segment.
    Single(Option<String>),
    /// `{name=**}` or `**`: zero or more segments; only last in a template.
    Multi(Option<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
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

/// Splits off a custom verb: a `:` in the last segment outside any braces.
fn split_verb(path: &str) -> (&str, Option<&str>) {
    let last_start = path.rfind('/').map_or(0, |i| i + 1);
    let mut depth = 0usize;
    for (offset, c) in path[last_start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                let at = last_start + offset;
                return (&path[..at], Some(&path[at + 1..]));
            }
            _ => {}
        }
    }
    (path, None)
}

fn parse_segment(raw: &str) -> Result<Segment, TemplateError> {
    if raw == "*" {
        return Ok(Segment::Single(None));
    }
    if raw == "**" {
        return Ok(Segment::Multi(None));
    }
    if let Some(inner) = raw.strip_prefix('{') {
        let Some(inner) = inner.strip_suffix('}') else {
            return err(format!(
                "segment {raw:?} opens a variable with '{{' but does not close it with '}}'"
            ));
        };
        let (name, pattern) = match inner.split_once('=') {
            Some((name, pattern)) => (name, Some(pattern)),
            None => (inner, None),
        };
        if !valid_name(name) {
            return err(format!(
                "variable name {name:?} is not valid; use letters, digits, '_' and '.', starting with a letter"
            ));
        }
        let name = Some(name.to_string());
        return match pattern {
            None | Some("*") => Ok(Segment::Single(name)),
            Some("**") => Ok(Segment::Multi(name)),
            Some(other) => err(format!(
                "variable pattern {other:?} is not supported; use {{name}}, {{name=*}} or {{name=**}}"
            )),
        };
    }
    if raw.contains(['{', '}', '*']) {
        return err(format!(
            "segment {raw:?} mixes text with a variable or wildcard; a variable must be a whole segment like {{id}}"
        ));
    }
    Ok(Segment::Literal(raw.to_string()))
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
        if !rest.is_empty() {
            for raw in rest.split('/') {
                if raw.is_empty() {
                    return err(format!("path {text:?} has an empty segment ('//')"));
                }
                segments.push(parse_segment(raw)?);
            }
        }
        let mut names = std::collections::HashSet::new();
        for (index, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Multi(_) if index + 1 != segments.len() => {
                    return err(format!(
                        "in {text:?} a '**' wildcard must be the last segment; move it to the end or use '*'"
                    ));
                }
                Segment::Single(Some(name)) | Segment::Multi(Some(name))
                    if !names.insert(name.as_str()) =>
                {
                    return err(format!(
                        "variable {{{name}}} appears twice in {text:?}; give each a distinct name"
                    ));
                }
                _ => {}
            }
        }
        Ok(PathTemplate { segments, verb })
    }

    /// Names of the variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Single(Some(n)) | Segment::Multi(Some(n)) => Some(n.as_str()),
            _ => None,
        })
    }
}

/// The template as a spec would write it; parsing the text gives the same template back.
impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => write!(f, "/{literal}")?,
                Segment::Single(None) => f.write_str("/*")?,
                Segment::Single(Some(name)) => write!(f, "/{{{name}}}")?,
                Segment::Multi(None) => f.write_str("/**")?,
                Segment::Multi(Some(name)) => write!(f, "/{{{name}=**}}")?,
            }
        }
        if self.segments.is_empty() {
            f.write_str("/")?;
        }
        // A last literal with a `:` would read as segment + verb unless a `/` follows it
        // (the verb is looked for after the last `/`; `/x/:verb` is `/x:verb`).
        if matches!(self.segments.last(), Some(Segment::Literal(l)) if l.contains(':')) {
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

    #[test]
    fn parses_literals_variables_and_wildcards() {
        let t = PathTemplate::parse("/v1/shelves/{shelf}/books/{path=**}").unwrap();
        assert_eq!(
            t.segments,
            vec![
                lit("v1"),
                lit("shelves"),
                Segment::Single(Some("shelf".into())),
                lit("books"),
                Segment::Multi(Some("path".into()))
            ]
        );
        assert_eq!(t.variables().collect::<Vec<_>>(), ["shelf", "path"]);
        let t = PathTemplate::parse("/a/*/**").unwrap();
        assert_eq!(
            t.segments,
            vec![lit("a"), Segment::Single(None), Segment::Multi(None)]
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
        ] {
            assert_eq!(PathTemplate::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn custom_verb() {
        let t = PathTemplate::parse("/v1/{name}:cancel").unwrap();
        assert_eq!(t.verb.as_deref(), Some("cancel"));
        assert_eq!(
            t.segments,
            vec![lit("v1"), Segment::Single(Some("name".into()))]
        );
        // A colon inside braces is not a verb.
        assert!(PathTemplate::parse("/v1/{a:b}").is_err());
    }

    #[test]
    fn rejects_bad_templates_with_a_reason() {
        for bad in [
            "hello",
            "/a//b",
            "/a/{x",
            "/a/x{y}",
            "/a/{1x}",
            "/a/**/b",
            "/a/{x}/{x}",
            "/a/{x=foo/*}",
            "/a?q=1",
            "/a:",
        ] {
            let e = PathTemplate::parse(bad).unwrap_err();
            assert!(!e.0.is_empty(), "{bad}");
        }
    }
}
