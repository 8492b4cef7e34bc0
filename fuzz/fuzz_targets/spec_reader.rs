//! The spec compiler's reader and the whole compile: any bytes as a spec file (YAML or JSON,
//! told apart by content) never panic, and whatever compiles is a config the filter accepts,
//! builds and can route every operation of.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasp_config::FilterConfig;
use wasp_filter::gateway::Gateway;
use wasp_fuzz::{check_operations_reachable, compile_options};
use wasp_spec_compiler::compile::{compile, CompileOptions};
use wasp_spec_compiler::read::read_specs;
use wasp_spec_compiler::read::source::SourceFile;

/// The defaults, and the options `make demo` uses (Service Control, a CORS preset).
fn options() -> &'static [CompileOptions; 2] {
    static OPTIONS: OnceLock<[CompileOptions; 2]> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        [
            compile_options(&[]),
            compile_options(&[
                "--service-control-url",
                "http://127.0.0.1:8790",
                "--producer-project-id",
                "fuzz-project",
                "--cors-preset",
                "basic",
            ]),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    // No extension: the reader sniffs the syntax, so one corpus holds both.
    let file = SourceFile {
        name: "spec".into(),
        bytes: data.to_vec(),
    };
    let (specs, problems) = read_specs(std::slice::from_ref(&file));
    if specs.is_empty() || !problems.is_empty() {
        return;
    }
    for options in options() {
        let Ok(compiled) = compile(std::slice::from_ref(&file), options) else {
            continue;
        };
        let config = match FilterConfig::from_json(compiled.filter_json.as_bytes()) {
            Ok(config) => config,
            Err(e) => panic!("the filter refuses the compiler's output: {e}"),
        };
        assert_eq!(config, compiled.config, "filter.json does not round-trip");
        let gateway = match Gateway::build(config.clone()) {
            Ok(gateway) => gateway,
            Err(e) => panic!("the filter cannot build the compiler's output: {e}"),
        };
        check_operations_reachable(&gateway.matcher, &config.operations);
    }
});
