//! One compile, as a pure function: spec files + options -> filter config and
//! bootstrap text, or every problem found. No file system access here.

use crate::backend::Backend;
use crate::bootstrap::{bootstrap, BootstrapOptions, Plan};
use crate::cors::CorsFlags;
use crate::errors::{Diagnostic, Diagnostics};
use crate::hash::config_hash;
use crate::operations::{collect_operations, OperationBackend};
use crate::pointer::Pointer;
use crate::routes::RouteTable;
use crate::source::{parse_document, SourceFile};
use crate::spec::{read_spec, Spec, SpecOperation};
use crate::x_google_backend::{resolve, DEFAULT_DEADLINE_MS};
use wasp_config::{FilterConfig, IdTokenSource, SCHEMA_VERSION};

/// Envoy cluster of the metadata server that mints backend ID tokens.
pub const METADATA_CLUSTER: &str = "wasp-metadata";

/// Everything besides the spec files that shapes the output.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// `--backend` as given.
    pub backend: String,
    /// `--metadata-url` as given.
    pub metadata_url: String,
    pub cors: CorsFlags,
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
    let metadata = Backend::parse(&options.metadata_url)
        .map_err(|e| problems.push(Diagnostic::option("--metadata-url", e)))
        .ok();
    let cors = match options.cors.policy() {
        Ok(policy) => policy,
        Err(found) => {
            problems.extend(found);
            None
        }
    };

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
    if cors.is_some() {
        for spec in specs.iter().filter(|s| s.allow_cors) {
            problems.push(Diagnostic::new(
                &spec.file,
                &Pointer::root().child("x-google-endpoints"),
                "allowCors: true sends preflights to the backend, --cors-preset lets wasp answer them; choose one: remove allowCors or drop the --cors-* options",
            ));
        }
    }
    // Cross-file checks only make sense once every file reads cleanly.
    let (Some(backend), Some(metadata), true) = (backend, metadata, problems.is_empty()) else {
        return Err(problems);
    };

    let mut table = RouteTable::new();
    // A sidecar on loopback keeps the client's Host; a remote --backend gets its own.
    let flag_host = (!backend.is_loopback()).then(|| backend.authority());
    // r0: the --backend with the default deadline, present in every config.
    table.route_to(&backend, DEFAULT_DEADLINE_MS, flag_host.clone());
    let service = collect_operations(&specs, &mut |spec: &Spec, op: Option<&SpecOperation>| {
        // An operation's own x-google-backend replaces the top-level one.
        let rule = op
            .and_then(|o| o.backend.as_ref())
            .or(spec.backend.as_ref());
        let resolved = resolve(rule);
        let route = match &resolved.address {
            // x-google-backend addresses are remote backends: Host is theirs.
            Some(address) => {
                table.route_to(address, resolved.deadline_ms, Some(address.authority()))
            }
            None => {
                let mut flag = backend.clone();
                flag.http2 = resolved.http2;
                table.route_to(&flag, resolved.deadline_ms, flag_host.clone())
            }
        };
        OperationBackend {
            route,
            path_translation: resolved.path_translation,
            backend_auth: resolved.backend_auth,
        }
    })?;
    let needs_tokens = service.operations.iter().any(|o| o.backend_auth.is_some());
    let id_token_source = needs_tokens.then(|| IdTokenSource {
        authority: metadata.authority(),
        ..IdTokenSource::gcp(METADATA_CLUSTER)
    });

    let b = &options.bootstrap;
    let hashed_options = [
        // A new compiler may compile the same inputs differently.
        ("wasp", env!("CARGO_PKG_VERSION").to_string()),
        ("backend", options.backend.clone()),
        ("metadata_url", options.metadata_url.clone()),
        ("cors", options.cors.hashed()),
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
        routes: table.filter_routes(),
        id_token_source,
        // Envoy's CORS filter answers matching preflights; the filter turns
        // every other OPTIONS no operation matches into ESPv2's 400.
        reject_unmatched_preflight: cors.is_some(),
        providers: Vec::new(),
        jwks_clusters: Vec::new(),
    };
    let filter_json = serde_json::to_string(&config)
        .map_err(|e| internal(format!("cannot serialize the filter config: {e}")))?;
    // The filter will refuse what its own parser refuses; find out now.
    FilterConfig::from_json(filter_json.as_bytes()).map_err(|e| {
        internal(format!(
            "the compiled filter config does not read back: {e}"
        ))
    })?;

    let plan = Plan {
        routes: table.routes(),
        clusters: table.clusters(),
        cors: cors.as_ref(),
        metadata: needs_tokens.then_some(&metadata),
    };
    let document = bootstrap(b, &filter_json, &plan);
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
