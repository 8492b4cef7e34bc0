//! Property tests: the filter-config parser and the path-template parser take any input
//! without panicking, and what they accept is consistent (a config serializes back to
//! itself; a template renders back to itself). The cargo-fuzz targets `filter_config` and
//! `path_template` (fuzz/) explore the same ground for longer.

use proptest::prelude::*;
use serde_json::{json, Value};
use wasp_config::{FilterConfig, PathTemplate, Segment};

fn check_template(text: &str) -> Result<(), TestCaseError> {
    let Ok(template) = PathTemplate::parse(text) else {
        return Ok(());
    };
    let rendered = template.to_string();
    let again = PathTemplate::parse(&rendered);
    prop_assert_eq!(
        again.as_ref(),
        Ok(&template),
        "{:?} -> {:?}",
        text,
        rendered
    );
    let names: Vec<&str> = template.variables().collect();
    for (i, name) in names.iter().enumerate() {
        prop_assert!(!names[..i].contains(name), "{:?} repeats {}", text, name);
    }
    if let Some(pos) = template
        .segments
        .iter()
        .position(|s| matches!(s, Segment::Multi))
    {
        prop_assert_eq!(pos + 1, template.segments.len(), "{:?}: ** not last", text);
    }
    if let Some(verb) = &template.verb {
        let plain = !verb.is_empty() && !verb.contains(['{', '}', '*', '/']);
        prop_assert!(plain, "{:?}: verb {:?}", text, verb);
    }
    Ok(())
}

/// Pieces real templates are made of, and near misses.
fn template_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("v1".to_string()),
        Just("{id}".to_string()),
        Just("{name=*}".to_string()),
        Just("{rest=**}".to_string()),
        Just("*".to_string()),
        Just("**".to_string()),
        Just("".to_string()),
        Just("{".to_string()),
        Just("{a.b_c}".to_string()),
        Just("x:y".to_string()),
        "[a-z{}*=:._%-]{0,6}",
    ];
    (
        prop::collection::vec(piece, 0..6),
        prop::option::of("[a-z:{}*]{0,5}"),
        any::<bool>(),
    )
        .prop_map(|(pieces, verb, slash)| {
            let mut text = format!("/{}", pieces.join("/"));
            if let Some(verb) = verb {
                text.push(':');
                text.push_str(&verb);
            }
            if slash {
                text.push('/');
            }
            text
        })
}

fn config_json() -> impl Strategy<Value = Value> {
    let operation = (
        "[A-Za-z]{1,6}",
        prop_oneof![Just("GET"), Just("POST"), Just("get"), Just("")],
        template_text(),
        prop_oneof![4 => Just("r0"), 4 => Just("r1"), 1 => Just("missing")],
        any::<bool>(),
        prop::option::of(prop_oneof![
            "/[a-z]{0,5}".prop_map(|p| json!({"kind": "CONSTANT_ADDRESS", "path": p})),
            "/?[a-z]{0,5}".prop_map(|p| json!({"kind": "APPEND_PATH_TO_ADDRESS", "prefix": p})),
            Just(json!({"kind": "UNKNOWN"})),
        ]),
    )
        .prop_map(|(name, method, template, route, allow_all, translation)| {
            let mut op = json!({"name": format!("1.s.{name}"), "method": method,
                "template": template, "route": route});
            if allow_all {
                op["allow_all"] = json!(true);
            }
            if let Some(translation) = translation {
                op["path_translation"] = translation;
            }
            op
        });
    (
        prop::collection::vec(operation, 0..5),
        prop_oneof![
            4 => Just(json!(["r0", "r1"])),
            1 => Just(json!(["r0", "r0"])),
            1 => Just(json!([]))
        ],
        prop_oneof![4 => Just(json!(1)), 1 => Just(json!(2)), 1 => Just(json!("1"))],
        any::<bool>(),
    )
        .prop_map(|(operations, route_ids, version, preflight)| {
            let routes: Vec<Value> = route_ids
                .as_array()
                .into_iter()
                .flatten()
                .map(|id| json!({"id": id, "cluster": "c"}))
                .collect();
            json!({"version": version, "config_hash": "h", "service_name": "s",
                "operations": operations, "routes": routes,
                "reject_unmatched_preflight": preflight})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_a_config_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        let _ = FilterConfig::from_json(&bytes);
    }

    #[test]
    fn accepted_configs_round_trip(config in config_json()) {
        let text = config.to_string();
        if let Ok(parsed) = FilterConfig::from_json(text.as_bytes()) {
            let json = serde_json::to_vec(&parsed).unwrap();
            prop_assert_eq!(FilterConfig::from_json(&json), Ok(parsed));
        }
    }

    #[test]
    fn any_text_is_a_template_or_an_error(text in "\\PC{0,60}") {
        check_template(&text)?;
        check_template(&format!("/{text}"))?;
    }

    #[test]
    fn templates_render_back_to_themselves(text in template_text()) {
        check_template(&text)?;
    }
}
