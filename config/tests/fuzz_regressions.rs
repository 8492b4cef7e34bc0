//! Inputs the cargo-fuzz targets (fuzz/) found, kept as tests.

use wasp_config::PathTemplate;

/// fuzz target `path_template`, input `GET /v0/x:get/`: one trailing `/` is dropped (`/a/`
/// and `/a` are the same template), with a custom verb too. Before the fix `/v0/x:get/`
/// parsed as the literal `x:get` without a verb, and `/v1/{name}:cancel/` was refused
/// ("opens a variable with '{' but does not close it").
#[test]
fn a_trailing_slash_after_a_custom_verb_is_dropped() {
    assert_eq!(
        PathTemplate::parse("/v0/x:get/"),
        PathTemplate::parse("/v0/x:get")
    );
    assert_eq!(
        PathTemplate::parse("/v1/{name}:cancel/"),
        PathTemplate::parse("/v1/{name}:cancel")
    );
}

/// fuzz target `path_template`: a last literal that contains `:` followed by a verb, as in
/// `/item/:cancelp1/:cancel`, is a valid template; `/x/:verb` is `/x:verb`.
#[test]
fn a_verb_after_a_slash_and_a_literal_with_a_colon() {
    let t = PathTemplate::parse("/item/:cancelp1/:cancel").unwrap();
    assert_eq!(t.verb.as_deref(), Some("cancel"));
    assert_eq!(t.segments.len(), 2);
    assert_eq!(
        PathTemplate::parse("/a/:cancel").unwrap(),
        PathTemplate::parse("/a:cancel").unwrap()
    );
}
