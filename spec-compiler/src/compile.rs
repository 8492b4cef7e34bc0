//! One compile, as a pure function: spec files + options -> filter config and
//! bootstrap text, or every problem found. No file system access here.

use crate::backend::Backend;
use crate::bootstrap::{bootstrap, BootstrapOptions, Upstream};
use crate::errors::{Diagnostic, Diagnostics};
use crate::hash::config_hash;
use crate::operations::collect_operations;
use crate::source::{parse_document, SourceFile};
use crate::spec::read_spec;
use wasp_config::{FilterConfig, Route, SCHEMA_VERSION};

/// Id of the single route every operation uses until per-operation backends.
const DEFAULT_ROUTE_ID: &str = "r0";

/// Everything besides the spec files that shapes the output.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// `--backend` as given.
    pub backend: String,
    pub bootstrap: BootstrapOptions,
}

/// The compiled outputs, ready to write.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub config: FilterConfig,
    /// Compact JSON of `config`; also embedded in `envoy_yaml`.
    pub filter_json: String,
    pub envoy_yaml: String,
}

pub fn compile(files: &[SourceFile], options: &CompileOptions) -> Result<Compiled, Diagnostics> {
    let mut problems = Diagnostics::new();
    let backend = Backend::parse(&options.backend)
        .map_err(|e| problems.push(Diagnostic::option("--backend", e)))
        .ok();

    let mut specs = Vec::with_capacity(files.len());
    for file in files {
        match parse_document(file) {
            Ok(document) => match read_spec(&file.name, &document) {
                Ok(spec) => specs.push(spec),
                Err(found) => problems.extend(found),
            },
            Err(problem) => problems.push(problem),
        }
    }
    // Cross-file checks only make sense once every file reads cleanly.
    let (Some(backend), true) = (backend, problems.is_empty()) else {
        return Err(problems);
    };
    let service = collect_operations(&specs, DEFAULT_ROUTE_ID)?;

    let route = Route {
        id: DEFAULT_ROUTE_ID.to_string(),
        cluster: backend.cluster_name(),
    };
    let b = &options.bootstrap;
    let hashed_options = [
        // A new compiler may compile the same inputs differently.
        ("wasp", env!("CARGO_PKG_VERSION").to_string()),
        ("backend", options.backend.clone()),
        ("listen", b.listen.to_string()),
        ("admin", b.admin.to_string()),
        ("wasm", b.wasm.clone()),
        (
            "disallow_escaped_slashes",
            b.disallow_escaped_slashes.to_string(),
        ),
        ("root_certs", b.root_certs.clone()),
    ];
    let config = FilterConfig {
        version: SCHEMA_VERSION,
        config_hash: config_hash(files, &hashed_options),
        service_name: service.service_name,
        operations: service.operations,
        routes: vec![route.clone()],
        id_token_source: None,
        reject_unmatched_preflight: false,
    };
    let filter_json = serde_json::to_string(&config)
        .map_err(|e| internal(format!("cannot serialize the filter config: {e}")))?;
    // The filter will refuse what its own parser refuses; find out now.
    FilterConfig::from_json(filter_json.as_bytes()).map_err(|e| {
        internal(format!(
            "the compiled filter config does not read back: {e}"
        ))
    })?;

    let upstreams = [Upstream {
        route: &route,
        backend: &backend,
    }];
    let document = bootstrap(b, &filter_json, &upstreams);
    let envoy_yaml = serde_norway::to_string(&document)
        .map_err(|e| internal(format!("cannot write the Envoy bootstrap: {e}")))?;
    Ok(Compiled {
        config,
        filter_json,
        envoy_yaml,
    })
}

/// A bug in wasp, not in the spec.
fn internal(message: String) -> Diagnostics {
    vec![Diagnostic::option(
        "wasp (internal error)",
        format!("{message}; please report this with the spec that caused it"),
    )]
}
