use proptest::prelude::*;
use wasp_config::Operation;

use super::reference::{expected, Expected};
use super::{MatchOutcome, Matcher};

fn op(method: &str, template: &str) -> Operation {
    Operation {
        name: format!("{method} {template}"),
        method: method.into(),
        template: template.into(),
        route: "r0".into(),
        allow_all: false,
        path_translation: None,
        backend_auth: None,
        security: None,
    }
}

fn allow_all(method: &str, template: &str) -> Operation {
    Operation {
        allow_all: true,
        ..op(method, template)
    }
}

/// The outcome as plain strings: `GET /a/{x}` (operation name), `405 /a` or `404`.
fn outcome(matcher: &Matcher, method: &str, path: &str) -> String {
    match matcher.find(method, path) {
        MatchOutcome::Found(target) => target.operation.clone(),
        MatchOutcome::MethodNotAllowed { template } => format!("405 {template}"),
        MatchOutcome::NotFound => "404".into(),
    }
}

fn matcher(ops: &[Operation]) -> Matcher {
    Matcher::build(ops).unwrap()
}

#[test]
fn wildcards_may_be_told_to_refuse_colons() {
    let ops = [
        op("GET", "/v1/{name}"),
        op("GET", "/v1/{name}:cancel"),
        op("GET", "/files/{path=**}"),
    ];
    let open = matcher(&ops);
    assert_eq!(outcome(&open, "GET", "/v1/a:b"), "GET /v1/{name}");
    assert_eq!(
        outcome(&open, "GET", "/files/x/a:b"),
        "GET /files/{path=**}"
    );
    let strict = matcher(&ops).refusing_colons_in_wildcards(true);
    assert_eq!(outcome(&strict, "GET", "/v1/a:b"), "404");
    assert_eq!(outcome(&strict, "GET", "/v1/a"), "GET /v1/{name}");
    // A custom verb is not part of the segment.
    assert_eq!(
        outcome(&strict, "GET", "/v1/a:cancel"),
        "GET /v1/{name}:cancel"
    );
    assert_eq!(outcome(&strict, "GET", "/files/x/a:b"), "404");
    assert_eq!(
        outcome(&strict, "GET", "/files/x/y"),
        "GET /files/{path=**}"
    );
}

#[test]
fn literal_beats_single_beats_double_wildcard() {
    // ESPv2's own vector: exact-match, then {single_wildcard=*}, then {double_wildcard=**}.
    let m = matcher(&[
        op("POST", "/allow-all/{double_wildcard=**}"),
        op("POST", "/allow-all/{single_wildcard=*}"),
        op("POST", "/allow-all/exact-match"),
    ]);
    assert_eq!(
        outcome(&m, "POST", "/allow-all/exact-match"),
        "POST /allow-all/exact-match"
    );
    assert_eq!(
        outcome(&m, "POST", "/allow-all/other"),
        "POST /allow-all/{single_wildcard=*}"
    );
    assert_eq!(
        outcome(&m, "POST", "/allow-all/a/b"),
        "POST /allow-all/{double_wildcard=**}"
    );
}

#[test]
fn precedence_is_decided_from_the_left() {
    let m = matcher(&[
        op("GET", "/{x}/b/c"),
        op("GET", "/a/{y}/{z}"),
        op("GET", "/a/**"),
    ]);
    // Position 0 decides: literal `a` beats `{x}` even though `{x}/b/c` has more literals.
    assert_eq!(outcome(&m, "GET", "/a/b/c"), "GET /a/{y}/{z}");
    assert_eq!(outcome(&m, "GET", "/z/b/c"), "GET /{x}/b/c");
    assert_eq!(outcome(&m, "GET", "/a/b/c/d"), "GET /a/**");
}

#[test]
fn falls_back_to_a_less_specific_template_that_has_the_method() {
    let m = matcher(&[
        op("GET", "/v1/shelves/{shelf}"),
        op("DELETE", "/v1/{name=**}"),
    ]);
    assert_eq!(
        outcome(&m, "DELETE", "/v1/shelves/1"),
        "DELETE /v1/{name=**}"
    );
    assert_eq!(
        outcome(&m, "GET", "/v1/shelves/1"),
        "GET /v1/shelves/{shelf}"
    );
    // No template with PUT: the most specific matching template is named.
    assert_eq!(
        outcome(&m, "PUT", "/v1/shelves/1"),
        "405 /v1/shelves/{shelf}"
    );
}

#[test]
fn unknown_path_is_404_and_wrong_method_is_405_with_the_template_as_written() {
    let m = matcher(&[
        op("GET", "/v1/shelves"),
        op("POST", "/v1/shelves/{shelf=*}/books/"),
    ]);
    assert_eq!(outcome(&m, "GET", "/v1/nope"), "404");
    assert_eq!(outcome(&m, "DELETE", "/v1/shelves"), "405 /v1/shelves");
    assert_eq!(
        outcome(&m, "GET", "/v1/shelves/7/books"),
        "405 /v1/shelves/{shelf=*}/books/"
    );
}

#[test]
fn case_sensitive_query_and_fragment_ignored() {
    let m = matcher(&[op("GET", "/echo/{id}/path")]);
    assert_eq!(
        outcome(&m, "GET", "/echo/123/path?x=/y#z"),
        "GET /echo/{id}/path"
    );
    assert_eq!(outcome(&m, "GET", "/echo/123/PATH/"), "404");
    assert_eq!(outcome(&m, "GET", "/Echo/123/path"), "404");
    // Methods are matched as Envoy matches `:method`: exactly.
    assert_eq!(outcome(&m, "get", "/echo/123/path"), "405 /echo/{id}/path");
}

#[test]
fn exactly_one_trailing_slash_is_tolerated() {
    let m = matcher(&[op("GET", "/a/b"), op("GET", "/")]);
    assert_eq!(outcome(&m, "GET", "/a/b/"), "GET /a/b");
    assert_eq!(outcome(&m, "GET", "/a/b//"), "404");
    assert_eq!(outcome(&m, "GET", "/"), "GET /");
    assert_eq!(outcome(&m, "GET", "/a"), "404");
}

#[test]
fn single_wildcard_needs_one_non_empty_segment() {
    let m = matcher(&[op("GET", "/a/{x}/c")]);
    assert_eq!(outcome(&m, "GET", "/a/b/c"), "GET /a/{x}/c");
    assert_eq!(outcome(&m, "GET", "/a//c"), "404");
    assert_eq!(outcome(&m, "GET", "/a/b/b/c"), "404");
}

#[test]
fn double_wildcard_needs_the_slash_before_it() {
    let m = matcher(&[op("GET", "/c/**")]);
    assert_eq!(outcome(&m, "GET", "/c/"), "GET /c/**");
    assert_eq!(outcome(&m, "GET", "/c/x/y"), "GET /c/**");
    assert_eq!(outcome(&m, "GET", "/c"), "404");
    assert_eq!(outcome(&m, "GET", "/cx/y"), "404");
    let root = matcher(&[op("GET", "/**")]);
    assert_eq!(outcome(&root, "GET", "/"), "GET /**");
    assert_eq!(outcome(&root, "GET", "/any/thing"), "GET /**");
}

#[test]
fn exact_template_beats_double_wildcard_matching_nothing() {
    let m = matcher(&[op("GET", "/c/**"), op("GET", "/c")]);
    assert_eq!(outcome(&m, "GET", "/c/"), "GET /c");
    assert_eq!(outcome(&m, "GET", "/c/d"), "GET /c/**");
}

#[test]
fn custom_verbs_match_the_last_segment_suffix() {
    let m = matcher(&[
        op("POST", "/v1/{name}:cancel"),
        op("GET", "/v1/{name}"),
        op("POST", "/v1/ops:batch"),
    ]);
    assert_eq!(
        outcome(&m, "POST", "/v1/op-7:cancel"),
        "POST /v1/{name}:cancel"
    );
    assert_eq!(outcome(&m, "POST", "/v1/ops:batch"), "POST /v1/ops:batch");
    // Without the verb the same path is the plain template's (and `{name}` may contain ':').
    assert_eq!(outcome(&m, "GET", "/v1/op-7"), "GET /v1/{name}");
    assert_eq!(outcome(&m, "GET", "/v1/op-7:other"), "GET /v1/{name}");
    assert_eq!(outcome(&m, "POST", "/v1/op-7"), "405 /v1/{name}");
    // `{name}` needs a non-empty name before the verb; `:cancel` alone is just a segment.
    assert_eq!(outcome(&m, "POST", "/v1/:cancel"), "405 /v1/{name}");
    assert_eq!(outcome(&m, "GET", "/v1/op-7:cancel"), "GET /v1/{name}");
}

#[test]
fn under_allow_all_other_methods_get_the_405_naming_the_catch_all() {
    let m = matcher(&[
        op("GET", "/v1/shelves"),
        allow_all("GET", "/**"),
        allow_all("POST", "/**"),
    ]);
    assert_eq!(outcome(&m, "GET", "/unknown/x"), "GET /**");
    assert_eq!(outcome(&m, "PATCH", "/unknown/x"), "405 /**");
    assert_eq!(outcome(&m, "POST", "/v1/shelves"), "POST /**");
    assert_eq!(outcome(&m, "PATCH", "/v1/shelves"), "405 /v1/shelves");
}

#[test]
fn first_operation_in_spec_order_wins_a_duplicate() {
    let m = matcher(&[
        op("GET", "/a/{x}"),
        Operation {
            name: "second".into(),
            ..op("GET", "/a/{y}")
        },
    ]);
    assert_eq!(outcome(&m, "GET", "/a/1"), "GET /a/{x}");
    assert_eq!(outcome(&m, "PUT", "/a/1"), "405 /a/{x}");
}

#[test]
fn non_origin_paths_are_not_found() {
    let m = matcher(&[op("OPTIONS", "/**")]);
    assert_eq!(outcome(&m, "OPTIONS", "*"), "404");
    assert_eq!(outcome(&m, "GET", ""), "404");
}

#[test]
fn bad_template_is_rejected_with_the_operation_name() {
    let err = Matcher::build(&[op("GET", "/a/**/b")]).unwrap_err();
    assert!(err.starts_with("operation GET /a/**/b:"), "{err}");
}

/// `count` operations shaped like a real API: per resource a collection, an item,
/// a nested collection and a custom verb, across several methods.
fn api(count: usize) -> Vec<Operation> {
    let shapes = [
        ("GET", "/v1/res{i}"),
        ("POST", "/v1/res{i}"),
        ("GET", "/v1/res{i}/{id}"),
        ("DELETE", "/v1/res{i}/{id}"),
        ("GET", "/v1/res{i}/{id}/items/{item=**}"),
        ("POST", "/v1/res{i}/{id}:archive"),
    ];
    (0..count)
        .map(|n| {
            let (method, shape) = shapes[n % shapes.len()];
            let resource = n / shapes.len();
            op(method, &shape.replace("{i}", &resource.to_string()))
        })
        .collect()
}

#[test]
fn ten_and_ten_thousand_operations_give_the_same_correct_answers() {
    for count in [10, 10_000] {
        let ops = api(count);
        let m = matcher(&ops);
        assert_eq!(outcome(&m, "GET", "/v1/res0"), "GET /v1/res0", "{count}");
        assert_eq!(
            outcome(&m, "GET", "/v1/res1/42"),
            "GET /v1/res1/{id}",
            "{count}"
        );
        assert_eq!(
            outcome(&m, "DELETE", "/v1/res0/42/"),
            "DELETE /v1/res0/{id}",
            "{count}"
        );
        assert_eq!(
            outcome(&m, "GET", "/v1/res0/42/items/a/b"),
            "GET /v1/res0/{id}/items/{item=**}",
            "{count}"
        );
        assert_eq!(
            outcome(&m, "POST", "/v1/res0/42:archive"),
            "POST /v1/res0/{id}:archive",
            "{count}"
        );
        assert_eq!(outcome(&m, "PUT", "/v1/res1"), "405 /v1/res1", "{count}");
        assert_eq!(outcome(&m, "GET", "/v1/nothing/here"), "404", "{count}");
        // Every operation is reachable at both sizes; at 10 the linear scan agrees too.
        for op in &ops {
            let path = op.template.replace("{id}", "7").replace("{item=**}", "x/y");
            assert_eq!(outcome(&m, &op.method, &path), op.name, "{count}");
            if count == 10 {
                assert_eq!(
                    expected(&ops, &op.method, &path),
                    Expected::Found {
                        operation: op.name.clone()
                    }
                );
            }
        }
    }
}

// === property test: trie == linear scan ===

fn segment_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string),
        2 => Just("{x}".to_string()),
        1 => Just("*".to_string()),
    ]
}

fn template_strategy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(segment_strategy(), 0..4),
        prop::option::of(prop::sample::select(vec!["**", "{rest=**}"])),
        prop::option::of(prop::sample::select(vec!["v", "w", "v:w"])),
        any::<bool>(),
    )
        .prop_map(|(segments, multi, verb, trailing)| {
            let mut text = String::new();
            for (i, segment) in segments.iter().enumerate() {
                // Variable names must be unique within a template.
                text.push('/');
                text.push_str(&segment.replace("{x}", &format!("{{x{i}}}")));
            }
            if let Some(multi) = multi {
                text.push('/');
                text.push_str(multi);
            }
            if text.is_empty() || (trailing && verb.is_none()) {
                text.push('/');
            }
            if let Some(verb) = verb {
                text.push(':');
                text.push_str(verb);
            }
            text
        })
}

fn path_strategy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", "c", "d", "", "a:v", "b:w", ":v", "c:v:w"]),
            0..6,
        ),
        prop::sample::select(vec!["", "/", "//", "?q=/a", "/#f", ":v", ":w"]),
    )
        .prop_map(|(segments, suffix)| format!("/{}{suffix}", segments.join("/")))
}

fn operations_strategy() -> impl Strategy<Value = Vec<Operation>> {
    prop::collection::vec(
        (
            template_strategy(),
            prop::sample::select(vec!["GET", "POST"]),
            prop::bool::weighted(0.2),
        ),
        1..12,
    )
    .prop_map(|ops| {
        ops.into_iter()
            .enumerate()
            .map(|(i, (template, method, allow_all))| Operation {
                name: format!("op{i}"),
                method: method.into(),
                template,
                route: "r0".into(),
                allow_all,
                path_translation: None,
                backend_auth: None,
                security: None,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trie_agrees_with_the_linear_scan(
        ops in operations_strategy(),
        paths in prop::collection::vec(path_strategy(), 1..8),
        method in prop::sample::select(vec!["GET", "POST", "PUT"]),
    ) {
        let m = Matcher::build(&ops).unwrap();
        for path in &paths {
            let got = match m.find(method, path) {
                MatchOutcome::Found(target) => Expected::Found { operation: target.operation.clone() },
                MatchOutcome::MethodNotAllowed { template } => Expected::MethodNotAllowed { template: template.into() },
                MatchOutcome::NotFound => Expected::NotFound,
            };
            prop_assert_eq!(got, expected(&ops, method, path), "path {}", path);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// CONSTANT_ADDRESS relies on it: the template the matcher picks for a
    /// path always binds that path, and the target's index names its operation.
    #[test]
    fn the_chosen_template_binds_the_path(
        ops in operations_strategy(),
        paths in prop::collection::vec(path_strategy(), 1..8),
        method in prop::sample::select(vec!["GET", "POST"]),
    ) {
        let m = Matcher::build(&ops).unwrap();
        for path in &paths {
            if let MatchOutcome::Found(target) = m.find(method, path) {
                let op = &ops[target.index];
                prop_assert_eq!(&op.name, &target.operation);
                let template = wasp_config::PathTemplate::parse(&op.template).unwrap();
                prop_assert!(
                    super::bind(&template, path).is_some(),
                    "template {} path {}", op.template, path
                );
            }
        }
    }
}
