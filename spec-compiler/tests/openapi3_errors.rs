//! OpenAPI 3 mistakes get the same kind of message as 2.0 ones: the file, the JSON pointer
//! of the node and what to change. Each row is a small spec and the one problem it must
//! draw; the rest of the spec is valid, so a row fails when the reader drops the mistake
//! in silence or reports it somewhere else.

use wasp_spec_compiler::compile::{compile, CompileOptions, Compiled};
use wasp_spec_compiler::read::source::SourceFile;

const HEAD: &str = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://api.endpoints.example.com/v1', x-google-endpoint: {}}]\n";

fn options() -> CompileOptions {
    use clap::Parser;
    use wasp_spec_compiler::cli::{Cli, Command};
    match Cli::try_parse_from(["wasp", "compile", "spec.yaml"]).map(|cli| cli.command) {
        Ok(Command::Compile(args)) => args.compile_options(),
        _ => panic!("the default options parse"),
    }
}

fn run(files: &[(&str, &str)]) -> Result<Compiled, Vec<String>> {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile {
            name: name.to_string(),
            bytes: text.as_bytes().to_vec(),
        })
        .collect();
    compile(&files, &options())
        .map_err(|problems| problems.iter().map(ToString::to_string).collect())
}

/// `body` after the servers line must draw exactly one problem, at `pointer`, whose
/// text contains `says`.
fn refused(body: &str, pointer: &str, says: &str) {
    let spec = format!("{HEAD}{body}");
    let shown = match run(&[("api.yaml", &spec)]) {
        Ok(_) => panic!("compiled, but should be refused at {pointer}:\n{spec}"),
        Err(shown) => shown,
    };
    let expected = format!("api.yaml: {pointer}: ");
    assert!(
        shown.len() == 1 && shown[0].starts_with(&expected) && shown[0].contains(says),
        "wanted one problem at {pointer} saying {says:?}, got {shown:#?}\nfor:\n{spec}"
    );
}

const PATHS: &str = "paths:\n  /a:\n    get: {operationId: a}\n";

#[test]
fn schemes_no_stage_can_check_are_refused_with_what_to_use() {
    let with_scheme = |scheme: &str| {
        format!("x-google-api-management: {{}}\ncomponents:\n  securitySchemes:\n    s: {scheme}\n{PATHS}")
    };
    let rows = [
        ("{type: http, scheme: basic}", "/components/securitySchemes/s/type", "Cloud Endpoints does not check passwords"),
        ("{type: http, scheme: bearer}", "/components/securitySchemes/s/type", "x-google-auth"),
        ("{type: mutualTLS}", "/components/securitySchemes/s/type", "--ssl-server-root-cert"),
        ("{type: oauth2, flows: {}}", "/components/securitySchemes/s", "needs x-google-auth"),
        ("{type: apiKey, name: key, in: query, x-google-auth: {issuer: a}}", "/components/securitySchemes/s/x-google-auth", "an apiKey scheme is not"),
        ("{type: oauth2, flows: {}, x-google-auth: {issuer: 'https://i.example.com', jwksUri: 'https://i.example.com/k', jwtLocations: [{cookie: session}]}}", "/components/securitySchemes/s/x-google-auth/jwtLocations/0/cookie", "cookies"),
        ("{$ref: '#/x-schemes/key', x-wasp-note: 1}", "/components/securitySchemes/s/x-wasp-note", "beside a $ref"),
    ];
    for (scheme, pointer, says) in rows {
        let body = with_scheme(scheme).replace(
            "x-google-api-management: {}\n",
            "x-google-api-management: {}\nx-schemes: {key: {type: apiKey, name: key, in: query}}\n",
        );
        refused(&body, pointer, says);
    }
}

#[test]
fn callbacks_and_webhooks_are_not_served_and_the_compiler_says_so() {
    let spec = format!(
        "{HEAD}x-google-api-management: {{}}\nwebhooks:\n  newItem:\n    post: {{operationId: notify}}\npaths:\n  /a:\n    post:\n      operationId: a\n      callbacks:\n        done:\n          '{{$request.body#/url}}':\n            post: {{operationId: callback}}\n"
    );
    let compiled = run(&[("api.yaml", &spec)]).unwrap_or_else(|e| panic!("{e:#?}"));
    // Only the path's operation is served.
    let names: Vec<_> = compiled
        .config
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["1.api_endpoints_example_com.A"]);
    assert_eq!(compiled.warnings.len(), 2, "{:#?}", compiled.warnings);
    assert!(compiled.warnings[0].starts_with("api.yaml: /webhooks: webhooks are not served"));
    assert!(compiled.warnings[1]
        .starts_with("api.yaml: /paths/~1a/post/callbacks: callbacks are not served"));
}

#[test]
fn a_webhooks_only_document_is_refused_as_having_nothing_to_serve() {
    for paths in ["", "paths: {}\n"] {
        refused(
            &format!("webhooks:\n  newItem:\n    post: {{operationId: notify}}\n{paths}"),
            "/webhooks",
            "defines only webhooks",
        );
    }
}

#[test]
fn refs_that_do_not_resolve_name_where_they_stand() {
    let scheme = "x-google-api-management: {}\ncomponents:\n  securitySchemes:\n";
    let rows = [
        (
            format!("{scheme}    s: {{$ref: '#/components/nothing'}}\n{PATHS}"),
            "/components/securitySchemes/s/$ref",
            "does not resolve: api.yaml has nothing at /components/nothing",
        ),
        (
            format!("{scheme}    s: {{$ref: 'common.yaml#/s'}}\n{PATHS}"),
            "/components/securitySchemes/s/$ref",
            "not one of the files given",
        ),
        (
            format!("{scheme}    s: {{$ref: 'https://example.com/s.yaml'}}\n{PATHS}"),
            "/components/securitySchemes/s/$ref",
            "refers outside the given files",
        ),
        (
            "x-google-api-management: {}\npaths:\n  /a: {$ref: '#/x-items/a'}\n".to_string(),
            "/paths/~1a/$ref",
            "does not resolve",
        ),
    ];
    for (body, pointer, says) in rows {
        refused(&body, pointer, says);
    }
}

#[test]
fn literal_examples_holding_a_ref_key_are_data_not_refs() {
    let spec = format!(
        "{HEAD}x-google-api-management: {{}}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{type: object, default: {{$ref: not-a-ref}}}}\n              example: {{$ref: '#/nowhere'}}\n              examples:\n                one: {{value: {{$ref: '#/nowhere'}}}}\n"
    );
    run(&[("api.yaml", &spec)]).unwrap_or_else(|e| panic!("{e:#?}"));
}

#[test]
fn openapi_2_0_fields_in_a_3_x_document_name_their_3_x_place() {
    let rows = [
        (
            "host: api.example.com\n",
            "/host",
            "the host in the url of the server marked x-google-endpoint",
        ),
        ("basePath: /v1\n", "/basePath", "the path in the url"),
        (
            "securityDefinitions: {}\n",
            "/securityDefinitions",
            "components.securitySchemes",
        ),
        (
            "x-google-management: {}\n",
            "/x-google-management",
            "x-google-api-management",
        ),
        (
            "x-google-endpoints: [{name: api.example.com, allowCors: true}]\n",
            "/x-google-endpoints",
            "allowCors in x-google-api-management",
        ),
        (
            "x-google-api-name: shop\n",
            "/x-google-api-name",
            "x-google-api-management.apiName",
        ),
    ];
    for (field, pointer, says) in rows {
        refused(
            &format!("x-google-api-management: {{}}\n{field}{PATHS}"),
            pointer,
            says,
        );
    }
}

#[test]
fn extensions_out_of_their_place_are_refused_not_dropped() {
    let management = "x-google-api-management:\n  metrics: {reads: {}}\n  quota: {limits: {read-limit: {metric: reads, values: 5}}}\n";
    let rows = [
        (format!("{management}paths:\n  /a:\n    x-google-quota: {{reads: 1}}\n    get: {{operationId: a}}\n"), "/paths/~1a/x-google-quota", "not read at the path level"),
        (format!("{management}paths:\n  /a:\n    security: []\n    get: {{operationId: a}}\n"), "/paths/~1a/security", "not read at the path level"),
        (format!("{management}paths:\n  /a:\n    get: {{operationId: a, x-google-quota: {{metricCosts: {{reads: 1}}}}}}\n"), "/paths/~1a/get/x-google-quota/metricCosts", "without metricCosts"),
        (format!("{management}paths:\n  /a:\n    servers: [{{url: 'https://b.example.com', x-google-endpoint: {{}}}}]\n    get: {{operationId: a}}\n"), "/paths/~1a/servers/0/x-google-endpoint", "top-level servers only"),
        (format!("x-google-api-management:\n  metrics: {{'': {{}}}}\n{PATHS}"), "/x-google-api-management/metrics/", "empty key"),
        (format!("x-google-api-management:\n  metrics: {{reads: {{displayname: Reads}}}}\n{PATHS}"), "/x-google-api-management/metrics/reads/displayname", "not a field of a metric"),
        (format!("x-google-api-management:\n  quota: {{limits: {{l: {{metric: reads, values: {{STANDARD: 5}}}}}}}}\n  metrics: {{reads: {{}}}}\n{PATHS}"), "/x-google-api-management/quota/limits/l/values", "values is the number itself"),
        (format!("x-google-api-management:\n  backends: {{b: {{address: 'https://b.example.com'}}}}\nx-google-backend: b\n{PATHS}"), "/x-google-api-management/backends/b", "neither jwtAudience nor disableAuth"),
        (format!("x-google-api-management: {{}}\nx-google-backend: {{address: 'https://b.example.com'}}\n{PATHS}"), "/x-google-backend", "not a block"),
        (format!("x-google-api-management: {{}}\nx-google-backend: nowhere\n{PATHS}"), "/x-google-backend", "not defined in x-google-api-management.backends"),
        (format!("x-google-api-management: {{}}\nx-google-allow: all\n{PATHS}"), "/x-google-allow", "not available in OpenAPI 3"),
        (format!("x-google-api-management: {{mcp: true}}\n{PATHS}"), "/x-google-api-management/mcp", "not supported by wasp"),
        ("x-google-api-management: {}\npaths:\n  /a:\n    post: {operationId: a, x-google-model-router: r}\n".to_string(), "/paths/~1a/post/x-google-model-router", "not supported by wasp"),
    ];
    for (body, pointer, says) in rows {
        refused(&body, pointer, says);
    }
}

#[test]
fn the_marked_server_names_the_service_once_and_literally() {
    let spec = |servers: &str| {
        format!("openapi: 3.0.4\ninfo: {{title: t, version: '1'}}\nservers: {servers}\nx-google-api-management: {{}}\n{PATHS}")
    };
    let rows = [
        ("[{url: 'https://api.example.com'}]", "/servers", "no server is marked with x-google-endpoint"),
        ("[{url: 'https://a.example.com', x-google-endpoint: {}}, {url: 'https://b.example.com', x-google-endpoint: {}}]", "/servers/1/x-google-endpoint", "only one server may carry x-google-endpoint"),
        ("[{url: 'https://api.example.com:8443/v1', x-google-endpoint: {}}]", "/servers/0/url", "has a port"),
        ("[{url: 'https://{env}.example.com', x-google-endpoint: {}}]", "/servers/0/url", "server variables"),
        ("[{url: '/v1', x-google-endpoint: {}}]", "/servers/0/url", "gives no service name"),
        ("[{url: 'https://api.example.com', x-google-endpoint: {allowCors: true}}]", "/servers/0/x-google-endpoint/allowCors", "belongs in x-google-api-management"),
    ];
    for (servers, pointer, says) in rows {
        let text = spec(servers);
        let shown = run(&[("api.yaml", &text)]).err().unwrap_or_default();
        let expected = format!("api.yaml: {pointer}: ");
        assert!(
            shown.len() == 1 && shown[0].starts_with(&expected) && shown[0].contains(says),
            "wanted {pointer} saying {says:?}, got {shown:#?}"
        );
    }
}

#[test]
fn a_json_document_compiles_like_the_same_yaml() {
    let yaml = format!("{HEAD}x-google-api-management: {{}}\n{PATHS}");
    let json = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.endpoints.example.com/v1", "x-google-endpoint": {}}],
        "x-google-api-management": {},
        "paths": {"/a": {"get": {"operationId": "a"}}}}"#;
    let from_yaml = run(&[("api.yaml", &yaml)]).unwrap_or_else(|e| panic!("{e:#?}"));
    let from_json = run(&[("api.json", json)]).unwrap_or_else(|e| panic!("{e:#?}"));
    let strip = |c: &Compiled| c.filter_json.replace(&c.config.config_hash, "<hash>");
    assert_eq!(strip(&from_yaml), strip(&from_json));
    assert_eq!(
        from_json.config.operations[0].name,
        "1.api_endpoints_example_com.A"
    );
}

#[test]
fn an_unsupported_version_says_which_are_read() {
    let spec = format!("openapi: 4.0.0\n{}", &HEAD["openapi: 3.1.0\n".len()..]);
    let shown = run(&[(
        "api.yaml",
        &format!("{spec}x-google-api-management: {{}}\n{PATHS}"),
    )])
    .err()
    .unwrap_or_default();
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("api.yaml: /openapi: OpenAPI \"4.0.0\" is not supported")),
        "{shown:#?}"
    );
}
