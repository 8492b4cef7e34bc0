//! Addresses as logs and errors show them: a URL's password replaced by `***`.

/// `rediss://user:secret@host:6380/0` -> `rediss://user:***@host:6380/0`; a `password=`
/// query parameter (which the Postgres driver also reads) likewise. Text that is not a URL
/// (a file path) is returned as it is; a URL that does not parse (a raw `/` in a password,
/// say) is shown as its scheme alone, since where the secret ends cannot be told.
pub fn without_password(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return match text.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => text.to_string(),
        };
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "password" {
                "***".to_string()
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    if pairs.iter().any(|(name, _)| name == "password") {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
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
            without_password("postgres://wasp@db/wasp?password=s3cret&sslmode=require"),
            "postgres://wasp@db/wasp?password=***&sslmode=require"
        );
        assert_eq!(
            without_password("redis://:pw@h:6379"),
            "redis://:***@h:6379"
        );
        assert_eq!(
            without_password("redis://user@h:6379"),
            "redis://user@h:6379"
        );
        assert_eq!(
            without_password("rediss://wasp:pa%2Fss@localhost:6380/0"),
            "rediss://wasp:***@localhost:6380/0"
        );
        assert_eq!(
            without_password("postgres://u:pa/ss@h/db"),
            "postgres://***"
        );
        assert_eq!(without_password("keys.db"), "keys.db");
    }
}
