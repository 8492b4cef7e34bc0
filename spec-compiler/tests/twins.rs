//! A 2.0 spec and its OpenAPI 3 translation compile to the same outputs: every spec in
//! tests/specs/ and examples/ has its 3.x twin (tests/specs/openapi3/, the examples'
//! openapi3.yaml), and each pair gives the same filter config, Envoy bootstrap, control
//! config and warnings under the same options. Only the config hash differs (it hashes
//! the files' bytes).

use clap::Parser;
use std::path::{Path, PathBuf};
use wasp_spec_compiler::cli::{Cli, Command};
use wasp_spec_compiler::compile::{compile, CompileOptions, Compiled};
use wasp_spec_compiler::read::source::SourceFile;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options(args: &[&str]) -> CompileOptions {
    let mut argv = vec!["wasp", "compile", "spec.yaml"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Compile(args) => args.compile_options(),
        _ => unreachable!(),
    }
}

fn files(paths: &[&str]) -> Vec<SourceFile> {
    paths
        .iter()
        .map(|path| SourceFile {
            name: path.to_string(),
            bytes: std::fs::read(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}")),
        })
        .collect()
}

fn compiled(paths: &[&str], options: &CompileOptions) -> Compiled {
    match compile(&files(paths), options) {
        Ok(compiled) => compiled,
        Err(problems) => panic!(
            "{paths:?} does not compile:\n{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The outputs with the config hash (which hashes the files' bytes) taken out.
fn outputs(compiled: &Compiled) -> (String, String, Option<String>, Vec<String>) {
    let hash = &compiled.config.config_hash;
    assert_eq!(hash.len(), 16, "{hash}");
    let unhashed = |text: &str| text.replace(hash.as_str(), "<hash>");
    (
        unhashed(&compiled.filter_json),
        unhashed(&compiled.envoy_yaml),
        compiled.control_json.clone(),
        compiled.warnings.clone(),
    )
}

fn assert_twins(swagger2: &[&str], openapi3: &[&str], args: &[&str]) {
    let options = options(args);
    let (two, three) = (compiled(swagger2, &options), compiled(openapi3, &options));
    assert!(
        !two.config.operations.is_empty(),
        "{swagger2:?} has no operations"
    );
    let (two, three) = (outputs(&two), outputs(&three));
    assert_eq!(
        two.0, three.0,
        "filter.json of {swagger2:?} and {openapi3:?}"
    );
    assert_eq!(
        two.1, three.1,
        "envoy.yaml of {swagger2:?} and {openapi3:?}"
    );
    assert_eq!(
        two.2, three.2,
        "control.json of {swagger2:?} and {openapi3:?}"
    );
    assert_eq!(two.3, three.3, "warnings of {swagger2:?} and {openapi3:?}");
}

const SERVICE_CONTROL: [&str; 4] = [
    "--service-control-url",
    "http://127.0.0.1:8790",
    "--producer-project-id",
    "wasp-demo",
];

#[test]
fn the_hello_example_and_its_openapi3_twin_compile_alike() {
    assert_twins(
        &["examples/hello/openapi.yaml"],
        &["examples/hello/openapi3.yaml"],
        &SERVICE_CONTROL,
    );
}

#[test]
fn the_matching_and_base_path_specs_and_their_twins_compile_alike() {
    for name in ["matching", "base_path"] {
        assert_twins(
            &[&format!("tests/specs/{name}.yaml")],
            &[&format!("tests/specs/openapi3/{name}.yaml")],
            &[],
        );
    }
}

#[test]
fn every_shared_feature_compiles_alike_in_both_formats() {
    assert_twins(
        &["tests/specs/shop.yaml"],
        &["tests/specs/openapi3/shop.yaml"],
        &SERVICE_CONTROL,
    );
    // The same pair without Service Control differs only where it must: both refuse the
    // API keys and quotas for the same operations.
    let bare = options(&[]);
    let refused = |paths: &[&str]| -> Vec<String> {
        let problems = compile(&files(paths), &bare).unwrap_err();
        problems.iter().map(|p| p.message.clone()).collect()
    };
    assert_eq!(
        refused(&["tests/specs/shop.yaml"]),
        refused(&["tests/specs/openapi3/shop.yaml"])
    );
}

#[test]
fn several_files_with_refs_between_them_compile_like_their_2_0_twins() {
    assert_twins(
        &["tests/specs/producer.yaml", "tests/specs/consumer.yaml"],
        &[
            "tests/specs/openapi3/producer.yaml",
            "tests/specs/openapi3/consumer.yaml",
            "tests/specs/openapi3/common.yaml",
        ],
        &SERVICE_CONTROL,
    );
}

#[test]
fn allow_all_has_no_openapi3_twin_and_says_so() {
    let spec = "openapi: 3.0.4\ninfo: {title: AllowAll, version: '1'}\nservers: [{url: 'https://allowall.endpoints.example.com', x-google-endpoint: {}}]\nx-google-api-management: {}\nx-google-allow: all\npaths:\n  /hello:\n    get: {operationId: hello}\n";
    let problems = compile(
        &[SourceFile {
            name: "allow_all.yaml".into(),
            bytes: spec.as_bytes().to_vec(),
        }],
        &options(&[]),
    )
    .unwrap_err();
    let shown: Vec<_> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "allow_all.yaml: /x-google-allow: x-google-allow is not available in OpenAPI 3"
        ),
        "{shown:?}"
    );
}
