//! What a spec or an option may name a header: RFC 9110's token, one check for every place
//! (API-key and JWT header locations, the header options, the generated-header prefix).

/// Non-empty RFC 9110 `tchar`s.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_only() {
        for good in ["x-api-key", "X_Custom", "a%b", "~!#"] {
            assert!(is_header_name(good), "{good}");
        }
        for bad in ["", "x api", "x:y", "é", "a/b", "(x)"] {
            assert!(!is_header_name(bad), "{bad}");
        }
    }
}
