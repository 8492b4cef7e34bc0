//! What to do with one request, decided from its method, path and header names.
//! The host adapter only executes the answer.

use wasp_config::INTERNAL_HEADER_PREFIX;

use crate::local_reply::LocalReply;
use crate::matcher::{MatchOutcome, Matcher};

/// The filter's verdict on a request's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'m> {
    /// Answer locally; the request goes no further.
    Reply(LocalReply),
    /// Let the request through to the route `route_id`.
    Forward(Forward<'m>),
}

/// The header changes that send a matched request to its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'m> {
    /// Value for [`wasp_config::ROUTE_HEADER`]; set after the removals, so a
    /// client-sent copy never survives and a client cannot pick a route.
    pub route_id: &'m str,
    /// Stored as [`wasp_config::OPERATION_PROPERTY`] for the access log.
    pub operation_name: &'m str,
    /// Every distinct client-sent header name with the internal prefix, as sent.
    pub headers_to_remove: Vec<String>,
}

/// Decides for a request. `header_names` are all request header names (pseudo
/// headers included, duplicates allowed).
pub fn decide<'m, 'h>(
    matcher: &'m Matcher,
    method: &str,
    path: &str,
    header_names: impl IntoIterator<Item = &'h str>,
) -> Decision<'m> {
    match matcher.find(method, path) {
        MatchOutcome::Found(target) => Decision::Forward(Forward {
            route_id: &target.route,
            operation_name: &target.operation,
            headers_to_remove: internal_headers(header_names),
        }),
        MatchOutcome::MethodNotAllowed { template } => {
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: template.to_string(),
            })
        }
        MatchOutcome::NotFound => Decision::Reply(LocalReply::NotFound),
    }
}

/// Distinct header names that start with the internal prefix, compared without
/// case (HTTP header names are case-insensitive).
fn internal_headers<'h>(names: impl IntoIterator<Item = &'h str>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for name in names {
        let internal = name
            .get(..INTERNAL_HEADER_PREFIX.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(INTERNAL_HEADER_PREFIX));
        if internal && !found.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            found.push(name.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasp_config::Operation;

    fn matcher() -> Matcher {
        Matcher::build(&[Operation {
            name: "1.hello.GetShelf".into(),
            method: "GET".into(),
            template: "/v1/shelves/{shelf}".into(),
            route: "r1".into(),
            allow_all: false,
            path_translation: None,
            backend_auth: None,
        }])
        .unwrap()
    }

    #[test]
    fn matched_request_forwards_with_internal_headers_removed() {
        let m = matcher();
        let names = [
            ":method",
            ":path",
            "x-wasp-route",
            "X-Wasp-Other",
            "x-wasp-route",
            "x-wasper",
            "x-api-key",
        ];
        let decision = decide(&m, "GET", "/v1/shelves/7", names);
        assert_eq!(
            decision,
            Decision::Forward(Forward {
                route_id: "r1",
                operation_name: "1.hello.GetShelf",
                headers_to_remove: vec!["x-wasp-route".into(), "X-Wasp-Other".into()],
            })
        );
    }

    #[test]
    fn header_names_shorter_than_the_prefix_or_not_ascii_are_kept() {
        let m = matcher();
        let Decision::Forward(forward) = decide(
            &m,
            "GET",
            "/v1/shelves/7",
            ["x-", "x-wasp", "é-wasp-route-x"],
        ) else {
            panic!("expected a forward");
        };
        assert!(forward.headers_to_remove.is_empty());
    }

    #[test]
    fn unmatched_requests_get_local_replies() {
        let m = matcher();
        assert_eq!(
            decide(&m, "GET", "/v2/x", []),
            Decision::Reply(LocalReply::NotFound)
        );
        assert_eq!(
            decide(&m, "POST", "/v1/shelves/7", ["x-wasp-route"]),
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: "/v1/shelves/{shelf}".into()
            })
        );
    }
}
