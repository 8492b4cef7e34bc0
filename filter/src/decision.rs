//! What to do with one request, decided from its headers alone. The host
//! adapter only executes the answer.
//!
//! The pipeline, each step a plain function below:
//! 0. [`Head::host_ambiguous`]: two hosts, or `Host` disagreeing with `:authority`, is a 400;
//! 1. [`Head::to_strip`]: client-sent `x-wasp-*`, `X-Forwarded-Authorization`,
//!    method overrides and Envoy's internal headers never reach the backend as sent;
//! 2. [`effective_method`]: `X-HTTP-Method-Override` replaces the method;
//! 3. [`match_operation`]: 404 / 405 / CORS preflight 400, or the operation;
//! 4. backend auth: the audience and the client `Authorization` to move;
//! 5. [`translated_path`]: the backend `:path`.
//!
//! The host then sets the route header (unless the route is Envoy's default) and
//! the operation property, runs the JWT stage ([`crate::jwt_auth`], which may pause
//! the request for keys), attaches the ID token (which may pause it too) and applies
//! the path.

use wasp_config::SecurityRequirement;

use crate::gateway::{Gateway, OperationRules};
use crate::head::Head;
use crate::local_reply::LocalReply;
use crate::matcher::{bind, MatchOutcome, Target};
use crate::method_override::{self, Override};
use crate::path_translation::translate;

/// The filter's verdict on a request's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'g, 'h> {
    /// Answer locally; the request goes no further.
    Reply(LocalReply),
    /// Let the request through to its route, with these changes.
    Forward(Forward<'g, 'h>),
}

/// The changes that send a matched request to its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'g, 'h> {
    /// Value for [`wasp_config::ROUTE_HEADER`]; set after the removals, so a
    /// client-sent copy never survives and a client cannot pick a route.
    pub route_id: &'g str,
    /// Set the route header: the route is not the one Envoy takes without it
    /// ([`wasp_config::OwnRoutes::default_route`]).
    pub pin: bool,
    /// Stored as [`wasp_config::OPERATION_PROPERTY`] for the access log.
    pub operation_name: &'g str,
    /// The operation's index (for [`Gateway::rules`]).
    pub operation_index: usize,
    /// The JWT requirement to check before anything else.
    pub security: Option<&'g SecurityRequirement>,
    /// Distinct client-sent header names to remove, as sent.
    pub headers_to_remove: Vec<&'h str>,
    /// New `:method` from `X-HTTP-Method-Override`.
    pub method: Option<&'h str>,
    /// Attach an ID token.
    pub backend_auth: Option<BackendAuthStep<'g, 'h>>,
    /// New `:path` from path translation.
    pub path: Option<String>,
    /// The path as the client sent it, when [`Forward::path`] replaces it: kept as
    /// `x-envoy-original-path` (as Envoy's own rewrites do) for the access log and backend.
    pub original_path: Option<&'h str>,
    /// Send [`Forward::operation_name`] upstream in this header
    /// (`--enable-operation-name-header`).
    pub operation_name_header: Option<&'g str>,
}

/// Backend auth for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendAuthStep<'g, 'h> {
    pub audience: &'g str,
    /// The client's first `Authorization` value, to become `X-Forwarded-Authorization`.
    pub client_authorization: Option<&'h str>,
}

/// Decides for a request given the facts of its head.
pub fn decide<'g, 'h>(gateway: &'g Gateway, head: &Head<'h>) -> Decision<'g, 'h> {
    if head.host_ambiguous {
        return Decision::Reply(LocalReply::AmbiguousHost);
    }
    let sent_path = head.path;
    let (method, method_changed) = match effective_method(head.method, head.method_override) {
        Ok(method) => method,
        Err(reply) => return Decision::Reply(reply),
    };
    let target = match match_operation(gateway, method, sent_path) {
        Ok(target) => target,
        Err(reply) => return Decision::Reply(reply),
    };
    let Some(rules) = gateway.rules(target.index) else {
        return Decision::Reply(LocalReply::Internal);
    };
    let path = match translated_path(rules, sent_path) {
        Ok(path) => path,
        Err(reply) => return Decision::Reply(reply),
    };
    Decision::Forward(Forward {
        route_id: &target.route,
        pin: gateway.default_route.as_deref() != Some(target.route.as_str()),
        operation_name: &target.operation,
        operation_index: target.index,
        security: rules.security.as_ref(),
        headers_to_remove: head.to_strip.clone(),
        method: method_changed.then_some(method),
        backend_auth: rules.audience.as_deref().map(|audience| BackendAuthStep {
            audience,
            client_authorization: head.authorization,
        }),
        operation_name_header: gateway
            .send_operation_name
            .then_some(gateway.generated.operation_name.as_str()),
        // Without the query: it may carry an API key that `--remove-api-key` takes out.
        original_path: path
            .is_some()
            .then(|| sent_path.split('?').next().unwrap_or_default()),
        path,
    })
}

/// Step 2: the method used for matching and sent upstream, and whether it
/// differs from the one sent.
fn effective_method<'h>(
    sent: &'h str,
    override_value: Option<&'h str>,
) -> Result<(&'h str, bool), LocalReply> {
    match method_override::read(override_value) {
        Override::Absent => Ok((sent, false)),
        Override::To(method) => Ok((method, method != sent)),
        Override::Invalid => Err(LocalReply::InvalidMethodOverride),
    }
}

/// Step 3: the operation, or the reply for a request that matches none.
fn match_operation<'g>(
    gateway: &'g Gateway,
    method: &str,
    path: &str,
) -> Result<&'g Target, LocalReply> {
    match gateway.matcher.find(method, path) {
        MatchOutcome::Found(target) => Ok(target),
        // Envoy's CORS filter answers every valid preflight before this filter.
        _ if method == "OPTIONS" && gateway.reject_unmatched_preflight => {
            Err(LocalReply::PreflightRejected)
        }
        MatchOutcome::MethodNotAllowed { template } => Err(LocalReply::MethodNotAllowed {
            template: template.to_string(),
        }),
        MatchOutcome::NotFound => Err(LocalReply::NotFound),
    }
}

/// Step 5: the backend `:path`, if the operation translates it.
pub fn translated_path(rules: &OperationRules, path: &str) -> Result<Option<String>, LocalReply> {
    let Some(translation) = &rules.path_translation else {
        return Ok(None);
    };
    let bindings = match &rules.bound_template {
        // The matcher chose this template for this path, so it binds.
        Some(template) => bind(template, path).ok_or(LocalReply::Internal)?,
        None => Vec::new(),
    };
    Ok(Some(translate(translation, &bindings, path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_headers;

    /// Decides from every header, as under a control plane's routes.
    fn decide<'g, 'h>(g: &'g Gateway, headers: &'h [(String, String)]) -> Decision<'g, 'h> {
        super::decide(
            g,
            &Head::from_headers(headers, g.envoy_sets_external_address, &g.generated),
        )
    }
    use wasp_config::{
        BackendAuth, FilterConfig, IdTokenSource, Operation, PathTranslation, Route,
    };

    fn op(name: &str, method: &str, template: &str) -> Operation {
        crate::test_support::operation(name, method, template)
    }

    fn gateway(operations: Vec<Operation>, reject_unmatched_preflight: bool) -> Gateway {
        Gateway::build(FilterConfig {
            config_hash: "h".into(),
            service_name: "s".into(),
            operations,
            routes: vec![Route {
                id: "r1".into(),
                cluster: "c".into(),
            }],
            id_token_source: Some(IdTokenSource::gcp("metadata")),
            reject_unmatched_preflight,
            ..FilterConfig::default()
        })
        .unwrap()
    }

    fn shelves() -> Gateway {
        gateway(
            vec![op("1.api.GetShelf", "GET", "/v1/shelves/{shelf}")],
            false,
        )
    }

    fn head(method: &str, path: &str, more: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
        ];
        headers.extend(more.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        headers
    }

    fn forward<'g, 'h>(decision: Decision<'g, 'h>) -> Forward<'g, 'h> {
        match decision {
            Decision::Forward(forward) => forward,
            Decision::Reply(reply) => panic!("expected a forward, got {reply:?}"),
        }
    }

    #[test]
    fn strip_list_is_distinct_and_case_insensitive() {
        let headers = head(
            "GET",
            "/",
            &[
                ("X-Forwarded-Authorization", "a"),
                ("x-forwarded-authorization", "b"),
                ("x-http-method-override", "PUT"),
                ("x-wasp-route", "r"),
                ("X-Endpoint-API-UserInfo", "forged"),
                ("x-endpoint-api-userinfo", "forged"),
                ("X-Endpoint-API-Consumer-Number", "123"),
                ("x-endpoint-api-consumer-type", "PROJECT"),
                ("authorization", "kept"),
                ("x-forwarded-for", "kept"),
            ],
        );
        assert_eq!(
            client_headers::to_strip(&headers, false, &Default::default()),
            vec![
                "X-Forwarded-Authorization",
                "x-http-method-override",
                "x-wasp-route",
                "X-Endpoint-API-UserInfo",
                "X-Endpoint-API-Consumer-Number",
                "x-endpoint-api-consumer-type",
            ]
        );
    }

    #[test]
    fn effective_method_reports_whether_it_changed() {
        assert_eq!(effective_method("POST", None), Ok(("POST", false)));
        assert_eq!(effective_method("POST", Some("PUT")), Ok(("PUT", true)));
        assert_eq!(effective_method("PUT", Some("PUT")), Ok(("PUT", false)));
        assert_eq!(
            effective_method("POST", Some("")),
            Err(LocalReply::InvalidMethodOverride)
        );
    }

    #[test]
    fn matched_request_forwards_with_internal_headers_removed() {
        let g = shelves();
        let headers = head(
            "GET",
            "/v1/shelves/7",
            &[
                ("x-wasp-route", "r9"),
                ("X-Wasp-Other", "1"),
                ("x-wasp-route", "r8"),
                ("x-wasper", "kept"),
                ("x-api-key", "k"),
            ],
        );
        assert_eq!(
            decide(&g, &headers),
            Decision::Forward(Forward {
                route_id: "r1",
                pin: true,
                operation_name: "1.api.GetShelf",
                operation_index: 0,
                headers_to_remove: vec!["x-wasp-route", "X-Wasp-Other"],
                method: None,
                backend_auth: None,
                security: None,
                path: None,
                original_path: None,
                operation_name_header: None,
            })
        );
    }

    #[test]
    fn only_operations_off_the_default_route_are_pinned() {
        let mut other = op("1.api.Other", "GET", "/other");
        other.route = "r2".into();
        let config = FilterConfig {
            config_hash: "h".into(),
            service_name: "s".into(),
            operations: vec![op("1.api.GetShelf", "GET", "/v1/shelves/{shelf}"), other],
            routes: ["r1", "r2"]
                .map(|id| Route {
                    id: id.into(),
                    cluster: "c".into(),
                })
                .to_vec(),
            own_routes: Some(wasp_config::OwnRoutes {
                default_route: "r1".into(),
            }),
            ..FilterConfig::default()
        };
        let g = Gateway::build(config).unwrap();
        let shelf = head("GET", "/v1/shelves/7", &[]);
        let f = forward(decide(&g, &shelf));
        assert_eq!((f.route_id, f.pin), ("r1", false));
        // A client's route header goes whichever route the operation has.
        let forged = head("GET", "/v1/shelves/7", &[("x-wasp-route", "r2")]);
        let f = forward(decide(&g, &forged));
        assert_eq!((f.route_id, f.pin), ("r1", false));
        assert_eq!(f.headers_to_remove, vec!["x-wasp-route"]);
        let other = head("GET", "/other", &[]);
        let f = forward(decide(&g, &other));
        assert_eq!((f.route_id, f.pin), ("r2", true));
    }

    #[test]
    fn an_ambiguous_host_is_refused_before_matching() {
        let g = shelves();
        let with = |more: &[(&str, &str)]| match decide(&g, &head("GET", "/nowhere", more)) {
            Decision::Reply(reply) => Decision::Reply(reply),
            Decision::Forward(_) => panic!("forwarded {more:?}"),
        };
        let refused = Decision::Reply(LocalReply::AmbiguousHost);
        // Repeated Host headers arrive joined with a comma.
        assert_eq!(with(&[(":authority", "a.example,b.example")]), refused);
        assert_eq!(with(&[(":authority", "a"), (":authority", "a")]), refused);
        assert_eq!(with(&[(":authority", "a"), ("host", "b")]), refused);
        assert_eq!(with(&[("host", "b")]), refused);
        // One host, or Host repeating :authority (any case), goes on to matching.
        let not_found = Decision::Reply(LocalReply::NotFound);
        assert_eq!(with(&[(":authority", "a.example:8080")]), not_found);
        assert_eq!(with(&[(":authority", "A"), ("host", "a")]), not_found);
        assert_eq!(with(&[]), not_found);
    }

    #[test]
    fn header_names_shorter_than_the_prefix_or_not_ascii_are_kept() {
        let g = shelves();
        let headers = head(
            "GET",
            "/v1/shelves/7",
            &[("x-", ""), ("x-wasp", ""), ("é-wasp-route-x", "")],
        );
        assert!(forward(decide(&g, &headers)).headers_to_remove.is_empty());
    }

    #[test]
    fn client_forwarded_authorization_is_always_stripped() {
        let g = shelves();
        let headers = head(
            "GET",
            "/v1/shelves/7",
            &[("x-forwarded-authorization", "Bearer forged")],
        );
        let f = forward(decide(&g, &headers));
        assert_eq!(f.headers_to_remove, vec!["x-forwarded-authorization"]);
        assert_eq!(f.backend_auth, None);
    }

    #[test]
    fn unmatched_requests_get_local_replies() {
        let g = shelves();
        assert_eq!(
            decide(&g, &head("GET", "/v2/x", &[])),
            Decision::Reply(LocalReply::NotFound)
        );
        assert_eq!(
            decide(
                &g,
                &head("POST", "/v1/shelves/7", &[("x-wasp-route", "r1")])
            ),
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: "/v1/shelves/{shelf}".into()
            })
        );
        // Without a CORS preset OPTIONS is an ordinary method.
        assert_eq!(
            decide(&g, &head("OPTIONS", "/v1/shelves/7", &[])),
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: "/v1/shelves/{shelf}".into()
            })
        );
    }

    #[test]
    fn method_override_is_matched_and_sent_upstream() {
        let g = gateway(
            vec![
                op("1.api.Get", "GET", "/items/{id}"),
                op("1.api.Delete", "DELETE", "/items/{id}"),
            ],
            false,
        );
        let headers = head("POST", "/items/1", &[("x-http-method-override", "DELETE")]);
        let f = forward(decide(&g, &headers));
        assert_eq!(f.operation_name, "1.api.Delete");
        assert_eq!(f.method, Some("DELETE"));
        assert_eq!(f.headers_to_remove, vec!["x-http-method-override"]);
        // 404/405 follow the overridden method too.
        let headers = head("GET", "/items/1", &[("x-http-method-override", "PATCH")]);
        assert_eq!(
            decide(&g, &headers),
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: "/items/{id}".into()
            })
        );
        // The same method: nothing to rewrite, the header still goes.
        let headers = head("GET", "/items/1", &[("X-HTTP-Method-Override", "GET")]);
        let f = forward(decide(&g, &headers));
        assert_eq!((f.operation_name, f.method), ("1.api.Get", None));
        assert_eq!(f.headers_to_remove, vec!["X-HTTP-Method-Override"]);
        let headers = head("GET", "/items/1", &[("x-http-method-override", "GET /x")]);
        assert_eq!(
            decide(&g, &headers),
            Decision::Reply(LocalReply::InvalidMethodOverride)
        );
    }

    #[test]
    fn unmatched_options_get_the_cors_400_when_a_preset_is_on() {
        let mut ops = vec![op("1.api.GetShelf", "GET", "/v1/shelves/{shelf}")];
        ops.push(op("1.api.Preflight", "OPTIONS", "/v1/books"));
        let g = gateway(ops, true);
        for path in ["/v1/shelves/7", "/nowhere"] {
            assert_eq!(
                decide(&g, &head("OPTIONS", path, &[("origin", "https://x")])),
                Decision::Reply(LocalReply::PreflightRejected),
                "{path}"
            );
        }
        // An operation that defines OPTIONS still gets it; other methods keep 404/405.
        assert_eq!(
            forward(decide(&g, &head("OPTIONS", "/v1/books", &[]))).operation_name,
            "1.api.Preflight"
        );
        assert_eq!(
            decide(&g, &head("GET", "/nowhere", &[])),
            Decision::Reply(LocalReply::NotFound)
        );
        // An override to OPTIONS is an OPTIONS request.
        assert_eq!(
            decide(
                &g,
                &head("POST", "/x", &[("x-http-method-override", "OPTIONS")])
            ),
            Decision::Reply(LocalReply::PreflightRejected)
        );
    }

    #[test]
    fn backend_auth_takes_the_audience_and_the_first_client_authorization() {
        let mut auth = op("1.api.Get", "GET", "/a");
        auth.backend_auth = Some(BackendAuth {
            audience: "https://backend.run.app".into(),
        });
        let g = gateway(vec![auth], false);
        let headers = head(
            "GET",
            "/a",
            &[
                ("authorization", "Bearer one"),
                ("Authorization", "Bearer two"),
                ("x-forwarded-authorization", "x"),
            ],
        );
        let f = forward(decide(&g, &headers));
        assert_eq!(
            f.backend_auth,
            Some(BackendAuthStep {
                audience: "https://backend.run.app",
                client_authorization: Some("Bearer one"),
            })
        );
        assert_eq!(f.headers_to_remove, vec!["x-forwarded-authorization"]);
        let headers = head("GET", "/a", &[]);
        let f = forward(decide(&g, &headers));
        assert_eq!(f.backend_auth.unwrap().client_authorization, None);
    }

    #[test]
    fn paths_are_translated_after_matching() {
        let mut constant = op("1.api.Hello", "GET", "/hello/{name}");
        constant.path_translation = Some(PathTranslation::ConstantAddress {
            path: "/helloGET".into(),
        });
        let mut append = op("1.api.Files", "GET", "/files/{path=**}");
        append.path_translation = Some(PathTranslation::AppendPathToAddress {
            prefix: "/api".into(),
        });
        let g = gateway(vec![constant, append], false);
        assert_eq!(
            forward(decide(&g, &head("GET", "/hello/world?lang=en", &[])))
                .path
                .as_deref(),
            Some("/helloGET?lang=en&name=world")
        );
        // The client's path, without its query, is kept for the access log.
        assert_eq!(
            forward(decide(&g, &head("GET", "/hello/world?key=k", &[]))).original_path,
            Some("/hello/world")
        );
        assert_eq!(
            forward(decide(&g, &head("GET", "/files/a/b/", &[])))
                .path
                .as_deref(),
            Some("/api/files/a/b/")
        );
        // An override changes the operation, and so the translation.
        assert_eq!(
            decide(
                &g,
                &head("GET", "/hello/world", &[("x-http-method-override", "PUT")])
            ),
            Decision::Reply(LocalReply::MethodNotAllowed {
                template: "/hello/{name}".into()
            })
        );
    }
}
