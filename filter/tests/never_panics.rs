//! Property tests: the header-map decision (`decision::decide`) takes any request head
//! without panicking, and what it answers is well-formed: a reply is a 4xx/5xx with ESPv2's
//! JSON body and never the "cannot happen" 500, a forward names a real operation and removes
//! only headers the client sent. The matcher's own properties live in its unit tests; the
//! cargo-fuzz target `decision` (fuzz/) explores the same ground for longer.

use proptest::prelude::*;
use wasp_config::FilterConfig;
use wasp_filter::decision::{decide, Decision};
use wasp_filter::gateway::Gateway;
use wasp_filter::head::Head;
use wasp_filter::local_reply::LocalReply;

/// Every kind of template, both path translations, backend auth and a CORS preset.
const CONFIG: &str = r#"{"version": 1, "config_hash": "h", "service_name": "s.example.com",
  "reject_unmatched_preflight": true,
  "operations": [
    {"name": "1.s.List", "method": "GET", "template": "/v1/shelves", "route": "r0"},
    {"name": "1.s.Get", "method": "GET", "template": "/v1/shelves/{shelf}", "route": "r0"},
    {"name": "1.s.Delete", "method": "DELETE", "template": "/v1/shelves/{shelf}", "route": "r0"},
    {"name": "1.s.Book", "method": "GET", "template": "/v1/shelves/{shelf}/books/{book}",
     "route": "r1", "path_translation": {"kind": "CONSTANT_ADDRESS", "path": "/getBook"},
     "backend_auth": {"audience": "https://books.example.com"}},
    {"name": "1.s.Put", "method": "PUT", "template": "/v1/shelves/{shelf}/books/*",
     "route": "r1", "path_translation": {"kind": "CONSTANT_ADDRESS", "path": "/put"}},
    {"name": "1.s.Any", "method": "GET", "template": "/v1/{name=**}", "route": "r0"},
    {"name": "1.s.Cancel", "method": "POST", "template": "/v1/{name}:cancel", "route": "r0"},
    {"name": "1.s.File", "method": "GET", "template": "/files/{path=**}", "route": "r1",
     "path_translation": {"kind": "APPEND_PATH_TO_ADDRESS", "prefix": "/store"},
     "backend_auth": {"audience": "https://files.example.com"}},
    {"name": "1.s.Static", "method": "GET", "template": "/static/**", "route": "r0",
     "allow_all": true, "path_translation": {"kind": "CONSTANT_ADDRESS", "path": "/"}}],
  "routes": [{"id": "r0", "cluster": "a"}, {"id": "r1", "cluster": "b"}],
  "id_token_source": {"cluster": "m", "authority": "169.254.169.254",
    "path": "/computeMetadata/v1/instance/service-accounts/default/identity",
    "timeout_ms": 5000, "refresh_before_expiry_s": 60}}"#;

fn gateway() -> Gateway {
    Gateway::build(FilterConfig::from_json(CONFIG.as_bytes()).unwrap()).unwrap()
}

fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("v1".to_string()),
        Just("shelves".to_string()),
        Just("books".to_string()),
        Just("files".to_string()),
        Just("static".to_string()),
        Just("x:cancel".to_string()),
        Just(":cancel".to_string()),
        Just("".to_string()),
        Just("%2F".to_string()),
        "[ -~]{0,6}",
    ];
    (
        prop::collection::vec(segment, 0..6),
        prop::option::of("[ -~]{0,10}"),
        any::<bool>(),
    )
        .prop_map(|(segments, query, slash)| {
            let mut path = format!("/{}", segments.join("/"));
            if slash {
                path.push('/');
            }
            if let Some(query) = query {
                path.push('?');
                path.push_str(&query);
            }
            path
        })
}

fn header() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("x-http-method-override".to_string()),
        Just("X-HTTP-Method-Override".to_string()),
        Just("authorization".to_string()),
        Just("x-forwarded-authorization".to_string()),
        Just("x-endpoint-api-userinfo".to_string()),
        Just("X-Endpoint-API-Consumer-Type".to_string()),
        Just("x-wasp-route".to_string()),
        Just("X-WASP-anything".to_string()),
        Just(":path".to_string()),
        Just(":method".to_string()),
        "[a-zA-Z:-]{0,12}",
    ];
    let value = prop_oneof![
        Just("GET".to_string()),
        Just("DELETE".to_string()),
        Just("get".to_string()),
        Just("PUT ".to_string()),
        Just("Bearer x.y.z".to_string()),
        "\\PC{0,16}",
    ];
    (name, value)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_request_head_gets_a_well_formed_decision(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"),
            Just("OPTIONS"), Just("get"), Just("")],
        path in prop_oneof![path(), "\\PC{0,30}"],
        extra in prop::collection::vec(header(), 0..6),
        pseudo_first in any::<bool>(),
    ) {
        let gateway = gateway();
        let mut headers = Vec::new();
        let pseudo = [(":method".to_string(), method.to_string()), (":path".to_string(), path)];
        if pseudo_first {
            headers.extend(pseudo.iter().cloned());
        }
        headers.extend(extra);
        if !pseudo_first {
            headers.extend(pseudo.iter().cloned());
        }
        let head = Head::from_headers(&headers, gateway.envoy_sets_external_address, &gateway.generated);
        match decide(&gateway, &head) {
            Decision::Reply(reply) => {
                prop_assert!((400..600).contains(&reply.status()));
                prop_assert_ne!(&reply, &LocalReply::Internal, "{:?}", headers);
                let body: serde_json::Value = serde_json::from_str(&reply.body()).unwrap();
                prop_assert_eq!(body["code"].as_u64(), Some(u64::from(reply.status())));
            }
            Decision::Forward(forward) => {
                let rules = gateway.rules(forward.operation_index);
                prop_assert!(rules.is_some());
                prop_assert_eq!(&rules.unwrap().name, forward.operation_name);
                for (i, name) in forward.headers_to_remove.iter().enumerate() {
                    prop_assert!(headers.iter().any(|(n, _)| n == name));
                    prop_assert!(!forward.headers_to_remove[..i]
                        .iter()
                        .any(|seen| seen.eq_ignore_ascii_case(name)));
                }
                if let Some(new_path) = &forward.path {
                    prop_assert!(new_path.starts_with('/'), "{}", new_path);
                }
            }
        }
    }
}
