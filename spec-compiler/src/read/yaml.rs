//! The one place that reads YAML/JSON values for the spec readers: typed field access
//! that reports a wrong type with the pointer, what was found and an example of what to
//! write, and collects every problem of a file instead of stopping at the first.

use crate::errors::{Diagnostic, Diagnostics};
use crate::pointer::Pointer;
use serde_norway::{Mapping, Value};

/// What a YAML/JSON value is, for messages like "must be a mapping, not a list".
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A value as a message shows it: a string quoted, anything else described.
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => describe(other).to_string(),
    }
}

/// Reads one file, collecting its problems (fatal) and warnings (printed, not fatal).
pub struct Reader {
    file: String,
    pub problems: Diagnostics,
    pub warnings: Diagnostics,
}

impl Reader {
    pub fn new(file: &str) -> Reader {
        Reader {
            file: file.to_string(),
            problems: Diagnostics::new(),
            warnings: Diagnostics::new(),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn problem(&mut self, at: &Pointer, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(&self.file, at, message));
    }

    pub fn warn(&mut self, at: &Pointer, message: impl Into<String>) {
        self.warnings.push(Diagnostic::new(&self.file, at, message));
    }

    /// Whether nothing fatal was found so far.
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// `value` as a mapping, or a problem naming `what` and an example.
    pub fn mapping<'v>(
        &mut self,
        value: &'v Value,
        at: &Pointer,
        what: &str,
        example: &str,
    ) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            other => {
                let example = match example {
                    "" => " (key: value pairs)".to_string(),
                    e => format!(" such as {e}"),
                };
                self.problem(
                    at,
                    format!("{what} must be a mapping{example}, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// `value` as a list, or a problem naming `what` and an example.
    pub fn list<'v>(
        &mut self,
        value: &'v Value,
        at: &Pointer,
        what: &str,
        example: &str,
    ) -> Option<&'v [Value]> {
        match value {
            Value::Sequence(items) => Some(items),
            other => {
                let example = match example {
                    "" => String::new(),
                    e => format!(" such as {e}"),
                };
                self.problem(
                    at,
                    format!("{what} must be a list{example}, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// The string field `key`: `None` when absent, or when not a string (reported).
    pub fn string<'v>(
        &mut self,
        map: &'v Mapping,
        key: &str,
        at: &Pointer,
        example: &str,
    ) -> Option<&'v str> {
        match map.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.problem(
                    &at.child(key),
                    format!(
                        "{key} must be a string such as {example}, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    /// A required non-empty string field: absent, empty or not a string is reported.
    pub fn required_string(
        &mut self,
        map: &Mapping,
        key: &str,
        at: &Pointer,
        example: &str,
    ) -> Option<String> {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.problem(
                    &at.child(key),
                    format!(
                        "{key} must be a non-empty string such as {example}, not {}",
                        describe(other)
                    ),
                );
                None
            }
            None => {
                self.problem(at, format!("this entry has no {key}; add {key}: {example}"));
                None
            }
        }
    }

    /// The boolean field `key`: `Some(None)` when absent, `None` when not a boolean (reported).
    pub fn bool(&mut self, map: &Mapping, key: &str, at: &Pointer) -> Option<Option<bool>> {
        match map.get(key) {
            None => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(other) => {
                self.problem(
                    &at.child(key),
                    format!("{key} must be true or false, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// Reports every key of `map` that is not in `known` (extensions `x-*` are allowed
    /// when `extensions` is set). Returns whether all keys were known.
    pub fn known_keys(
        &mut self,
        map: &Mapping,
        at: &Pointer,
        what: &str,
        known: &[&str],
        extensions: bool,
    ) -> bool {
        let mut ok = true;
        for key in map.keys() {
            match key {
                Value::String(k) if known.contains(&k.as_str()) => {}
                Value::String(k) if extensions && k.starts_with("x-") => {}
                Value::String(k) => {
                    ok = false;
                    self.problem(
                        &at.child(k),
                        format!(
                            "{k:?} is not a field of {what}; use only {}",
                            known.join(", ")
                        ),
                    );
                }
                other => {
                    ok = false;
                    self.problem(
                        at,
                        format!(
                            "a key of {what} is {}; use only {}",
                            describe(other),
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        ok
    }

    /// The string keys of `map` with their values; other keys are reported.
    pub fn entries<'v>(
        &mut self,
        map: &'v Mapping,
        at: &Pointer,
        what: &str,
    ) -> Vec<(&'v str, &'v Value)> {
        let mut found = Vec::with_capacity(map.len());
        for (key, value) in map {
            match key {
                Value::String(k) => found.push((k.as_str(), value)),
                other => self.problem(
                    at,
                    format!("a key of {what} is {}; use a string", describe(other)),
                ),
            }
        }
        found
    }

    /// `value` when nothing fatal was found, else every problem.
    pub fn finish<T>(self, value: Option<T>) -> Result<(T, Diagnostics), Diagnostics> {
        match value {
            Some(value) if self.problems.is_empty() => Ok((value, self.warnings)),
            _ => Err(self.problems),
        }
    }

    /// Moves another reader's findings (a referenced file's) into this one.
    pub fn absorb(&mut self, other: Reader) {
        self.problems.extend(other.problems);
        self.warnings.extend(other.warnings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(yaml: &str) -> Mapping {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn wrong_types_are_reported_with_the_pointer_and_an_example() {
        let m = map("a: 1\nb: [x]\nc: yes\n");
        let mut r = Reader::new("f.yaml");
        let at = Pointer::root().child("top");
        assert_eq!(r.string(&m, "a", &at, "x"), None);
        assert_eq!(r.string(&m, "missing", &at, "x"), None);
        assert!(r.mapping(&m["b"], &at.child("b"), "b", "{k: v}").is_none());
        assert_eq!(r.bool(&m, "c", &at), None);
        assert_eq!(r.bool(&m, "missing", &at), Some(None));
        let shown: Vec<_> = r.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "f.yaml: /top/a: a must be a string such as x, not a number",
                "f.yaml: /top/b: b must be a mapping such as {k: v}, not a list",
                "f.yaml: /top/c: c must be true or false, not a string",
            ]
        );
        assert!(r.finish(Some(())).is_err());
    }

    #[test]
    fn unknown_keys_are_named_and_extensions_allowed_when_asked() {
        let m = map("address: a\nadress: b\nx-mine: 1\n");
        let mut r = Reader::new("f.yaml");
        assert!(!r.known_keys(&m, &Pointer::root(), "a backend", &["address"], true));
        assert_eq!(r.problems.len(), 1);
        assert_eq!(
            r.problems[0].to_string(),
            "f.yaml: /adress: \"adress\" is not a field of a backend; use only address"
        );
    }
}
