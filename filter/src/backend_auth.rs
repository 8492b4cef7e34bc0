//! Backend auth's header changes (ESPv2 `backend_auth` filter): the backend gets
//! `Authorization: Bearer <ID token>`, and a client `Authorization` moves to
//! `X-Forwarded-Authorization`.
//!
//! A client-sent `X-Forwarded-Authorization` is removed from every request earlier
//! (with the other headers only the gateway may set, in `client_headers`), so the
//! backend only ever sees the value the filter put there. ESPv2 leaves a client copy
//! alone when the request has no `Authorization`; here it never reaches the backend
//! unchanged.

/// Header the backend reads the client's credentials from.
pub const FORWARDED_AUTHORIZATION: &str = "x-forwarded-authorization";

pub const AUTHORIZATION: &str = "authorization";

/// Headers to set (replacing any value) for a request with backend auth.
pub fn headers(id_token: &str, client_authorization: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(2);
    if let Some(client) = client_authorization {
        headers.push((FORWARDED_AUTHORIZATION, client.to_string()));
    }
    headers.push((AUTHORIZATION, format!("Bearer {id_token}")));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_authorization_moves_to_forwarded_authorization() {
        assert_eq!(
            headers("id.tok.en", Some("Bearer client-jwt")),
            vec![
                ("x-forwarded-authorization", "Bearer client-jwt".to_string()),
                ("authorization", "Bearer id.tok.en".to_string()),
            ]
        );
    }

    #[test]
    fn without_client_authorization_only_the_token_is_set() {
        assert_eq!(
            headers("id.tok.en", None),
            vec![("authorization", "Bearer id.tok.en".to_string())]
        );
    }

    #[test]
    fn an_empty_client_value_is_still_forwarded_as_sent() {
        assert_eq!(
            headers("t", Some(""))[0],
            ("x-forwarded-authorization", String::new())
        );
    }
}
