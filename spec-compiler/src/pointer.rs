//! JSON pointers (RFC 6901) into a spec document, so every error can say
//! exactly where in the file the problem is.

use std::fmt;

/// A JSON pointer such as `/paths/~1hello/get/operationId`. The empty pointer
/// is the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pointer(String);

impl Pointer {
    /// The whole document.
    pub fn root() -> Pointer {
        Pointer(String::new())
    }

    /// The pointer to `token` inside this one; `~` and `/` are escaped as the
    /// RFC requires (`/hello` becomes `~1hello`).
    pub fn child(&self, token: &str) -> Pointer {
        let mut text = String::with_capacity(self.0.len() + token.len() + 1);
        text.push_str(&self.0);
        text.push('/');
        for c in token.chars() {
            match c {
                '~' => text.push_str("~0"),
                '/' => text.push_str("~1"),
                other => text.push(other),
            }
        }
        Pointer(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slash_and_tilde() {
        let p = Pointer::root()
            .child("paths")
            .child("/a~b/{c}")
            .child("get");
        assert_eq!(p.as_str(), "/paths/~1a~0b~1{c}/get");
        assert_eq!(Pointer::root().as_str(), "");
    }
}
