//! Addresses as logs and errors show them: a URL's password replaced by `***`.

/// `rediss://user:secret@host:6380/0` -> `rediss://user:***@host:6380/0`; a URL without a
/// password is returned as it is.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(
            without_password("postgres://wasp:s3cret@db:5432/wasp?sslmode=require"),
            "postgres://wasp:***@db:5432/wasp?sslmode=require"
        );
        assert_eq!(
            without_password("redis://:pw@h:6379"),
            "redis://:***@h:6379"
        );
        assert_eq!(
            without_password("redis://user@h:6379"),
            "redis://user@h:6379"
        );
        assert_eq!(without_password("keys.db"), "keys.db");
    }
}
