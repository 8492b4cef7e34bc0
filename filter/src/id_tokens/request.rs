//! The call that fetches one token: the metadata server's identity or access-token
//! endpoint, or IAM Credentials' `generateIdToken` when the source names an IAM account.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wasp_config::{IamIdTokens, IdTokenSource, ACCESS_TOKEN_KEY};

/// Everything but RFC 3986 unreserved characters is encoded, so an audience
/// that is a URL (`https://b.run.app/x?y`) stays one query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One callout to make: where, with which headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall<'s> {
    pub cluster: &'s str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// How the answer reads.
    pub answer: AnswerKind,
}

/// The shape of the answer a [`TokenCall`] gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// The metadata server's raw JWT.
    RawJwt,
    /// The metadata server's `{"access_token", "expires_in"}`.
    AccessToken,
    /// IAM's `{"token": "<jwt>"}`.
    IamToken,
}

/// What fetching `key` takes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlan<'s> {
    Call(TokenCall<'s>),
    /// IAM mints the token, and the access token that authorises the call is not
    /// ready yet: fetch that first.
    NeedsAccessToken,
}

/// The call for `key` (an audience, or [`ACCESS_TOKEN_KEY`]); `access_token` is the
/// metadata server's current access token, needed only for IAM.
pub fn plan<'s>(source: &'s IdTokenSource, key: &str, access_token: Option<&str>) -> CallPlan<'s> {
    match (&source.iam, key == ACCESS_TOKEN_KEY) {
        (Some(iam), false) => match access_token {
            Some(access_token) => CallPlan::Call(iam_call(iam, key, access_token)),
            None => CallPlan::NeedsAccessToken,
        },
        (_, is_access_token) => CallPlan::Call(TokenCall {
            cluster: &source.cluster,
            headers: metadata_headers(source, key),
            body: None,
            answer: if is_access_token {
                AnswerKind::AccessToken
            } else {
                AnswerKind::RawJwt
            },
        }),
    }
}

/// The metadata call's headers: Envoy needs `:method`, `:path` and `:authority`;
/// the metadata server refuses requests without `Metadata-Flavor: Google`.
fn metadata_headers(source: &IdTokenSource, key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".to_string()),
        (":path", path(source, key)),
        (":authority", source.authority.clone()),
        ("metadata-flavor", "Google".to_string()),
    ]
}

/// `POST .../serviceAccounts/<account>:generateIdToken`, as ESPv2's IAM token info
/// writes it: the audience, `includeEmail: true` and the delegation chain.
fn iam_call<'s>(iam: &'s IamIdTokens, audience: &str, access_token: &str) -> TokenCall<'s> {
    let body = serde_json::json!({
        "audience": audience,
        "includeEmail": true,
        "delegates": iam.delegates,
    });
    TokenCall {
        cluster: &iam.cluster,
        headers: vec![
            (":method", "POST".to_string()),
            (":path", iam.path.clone()),
            (":authority", iam.authority.clone()),
            ("content-type", "application/json".to_string()),
            ("authorization", format!("Bearer {access_token}")),
        ],
        body: Some(body.to_string().into_bytes()),
        answer: AnswerKind::IamToken,
    }
}

/// `<path>?audience=<encoded>&format=standard`; for [`ACCESS_TOKEN_KEY`], the access-token path.
fn path(source: &IdTokenSource, audience: &str) -> String {
    if audience == ACCESS_TOKEN_KEY {
        return source.access_token_path.clone();
    }
    let separator = if source.path.contains('?') { '&' } else { '?' };
    format!(
        "{}{separator}audience={}&format=standard",
        source.path,
        utf8_percent_encode(audience, QUERY_VALUE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_identity_path_with_encoded_audience() {
        let source = IdTokenSource::gcp("metadata");
        assert_eq!(
            path(&source, "https://backend-abc.a.run.app/shelves?x=1&y=é"),
            "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https%3A%2F%2Fbackend-abc.a.run.app%2Fshelves%3Fx%3D1%26y%3D%C3%A9&format=standard"
        );
        let CallPlan::Call(call) = plan(&source, "a-b_c.d~e", None) else {
            panic!("the metadata server needs no access token");
        };
        assert_eq!(call.cluster, "metadata");
        assert_eq!(call.body, None);
        assert_eq!(call.answer, AnswerKind::RawJwt);
        let headers = call.headers;
        assert_eq!(headers[0], (":method", "GET".to_string()));
        assert!(headers[1]
            .1
            .ends_with("?audience=a-b_c.d~e&format=standard"));
        assert_eq!(
            headers[2],
            (":authority", "metadata.google.internal".to_string())
        );
        assert_eq!(headers[3], ("metadata-flavor", "Google".to_string()));
    }

    #[test]
    fn the_access_token_has_its_own_path_and_no_audience() {
        let source = IdTokenSource::gcp("metadata");
        assert_eq!(
            path(&source, ACCESS_TOKEN_KEY),
            "/computeMetadata/v1/instance/service-accounts/default/token"
        );
    }

    #[test]
    fn a_path_with_a_query_gets_more_parameters() {
        let mut source = IdTokenSource::gcp("metadata");
        source.path = "/identity?key=1".into();
        assert_eq!(
            path(&source, "a"),
            "/identity?key=1&audience=a&format=standard"
        );
    }

    fn iam() -> IdTokenSource {
        IdTokenSource {
            iam: Some(IamIdTokens {
                cluster: "iam".into(),
                authority: "iamcredentials.googleapis.com".into(),
                path: "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateIdToken"
                    .into(),
                delegates: vec!["projects/-/serviceAccounts/d@p.iam.gserviceaccount.com".into()],
            }),
            ..IdTokenSource::gcp("metadata")
        }
    }

    #[test]
    fn iam_mints_with_the_access_token_it_waits_for() {
        let source = iam();
        assert_eq!(
            plan(&source, "https://b.example.com", None),
            CallPlan::NeedsAccessToken
        );
        let CallPlan::Call(call) = plan(&source, "https://b.example.com", Some("ya29.x")) else {
            panic!("the access token is there");
        };
        assert_eq!(call.cluster, "iam");
        assert_eq!(call.answer, AnswerKind::IamToken);
        assert_eq!(call.headers[0], (":method", "POST".to_string()));
        assert!(call.headers[1].1.ends_with(":generateIdToken"));
        assert!(call
            .headers
            .contains(&("authorization", "Bearer ya29.x".to_string())));
        let body: serde_json::Value = serde_json::from_slice(&call.body.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "audience": "https://b.example.com",
                "includeEmail": true,
                "delegates": ["projects/-/serviceAccounts/d@p.iam.gserviceaccount.com"],
            })
        );
    }

    #[test]
    fn the_access_token_itself_still_comes_from_the_metadata_server() {
        let source = iam();
        let CallPlan::Call(call) = plan(&source, ACCESS_TOKEN_KEY, None) else {
            panic!("the access token needs no access token");
        };
        assert_eq!(call.cluster, "metadata");
        assert_eq!(call.answer, AnswerKind::AccessToken);
    }
}
