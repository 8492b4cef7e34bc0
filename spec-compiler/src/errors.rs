//! Errors a user sees: each names the file, the JSON pointer and what to change.

use crate::pointer::Pointer;
use std::fmt;

/// One problem in one input, with the fix in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec file as given on the command line, or `--flag` for an option.
    pub file: String,
    /// Where in the document; empty for the whole document or an option.
    pub pointer: Pointer,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &str, pointer: &Pointer, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            pointer: pointer.clone(),
            message: message.into(),
        }
    }

    /// A problem with a command-line option rather than a spec file.
    pub fn option(flag: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(flag, &Pointer::root(), message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.as_str().is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.pointer, self.message)
        }
    }
}

/// Every problem found in one run; the compiler collects them rather than
/// stopping at the first so a user can fix a spec in one pass.
pub type Diagnostics = Vec<Diagnostic>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_pointer_and_fix() {
        let d = Diagnostic::new(
            "api.yaml",
            &Pointer::root().child("paths").child("/hello"),
            "bad; do this",
        );
        assert_eq!(d.to_string(), "api.yaml: /paths/~1hello: bad; do this");
        assert_eq!(
            Diagnostic::option("--backend", "x").to_string(),
            "--backend: x"
        );
    }
}
