//! `X-HTTP-Method-Override`, as ESPv2's header sanitizer applies it: before
//! anything else, so matching, 404/405 and auth all follow the new method, and
//! the backend receives it as `:method` with the override header removed.

/// The request header a client uses to tunnel a method (lower case, as Envoy
/// hands header names to the filter).
pub const HEADER: &str = "x-http-method-override";

/// What the override header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override<'h> {
    /// No override header: the request keeps its method.
    Absent,
    /// Use this method for matching and send it upstream as `:method`.
    To(&'h str),
    /// The value is not an HTTP method token (RFC 9110 `token`). ESPv2 copies
    /// any value; we refuse values that would corrupt the upstream request line
    /// (a space or separator in `:method`).
    Invalid,
}

/// Reads the override from the first `x-http-method-override` value, if sent.
pub fn read(value: Option<&str>) -> Override<'_> {
    match value {
        None => Override::Absent,
        Some(method) if is_token(method) => Override::To(method),
        Some(_) => Override::Invalid,
    }
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_header_keeps_the_method() {
        assert_eq!(read(None), Override::Absent);
    }

    #[test]
    fn any_token_is_taken_as_sent() {
        // Not upper-cased: matching is case-sensitive, as in ESPv2.
        assert_eq!(read(Some("PATCH")), Override::To("PATCH"));
        assert_eq!(read(Some("delete")), Override::To("delete"));
        assert_eq!(read(Some("X-CUSTOM")), Override::To("X-CUSTOM"));
    }

    #[test]
    fn values_that_are_not_tokens_are_invalid() {
        for bad in ["", "GET /admin", "PUT\t", "a,b", "(GET)", "é"] {
            assert_eq!(read(Some(bad)), Override::Invalid, "{bad:?}");
        }
    }
}
