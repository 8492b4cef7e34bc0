//! One compile, as a pure function: spec files + options -> filter config and
//! bootstrap text, or every problem found. No file system access here.
//!
//! The stages, each in its own module and each reading only what the one before made:
//! options checked (`plan::Flags`) and files read (`read`, into `model`) -> the service
//! planned (`plan`) -> its files rendered (`render`).

use crate::errors::{Diagnostic, Diagnostics};
use crate::hash::config_hash;
use crate::model::Spec;
use crate::plan::{plan_service, Flags};
use crate::read::read_specs;
use crate::read::source::SourceFile;
use crate::render::render;

pub use crate::options::{CompileOptions, GCP_METADATA_URL};
pub use crate::render::Compiled;

pub fn compile(files: &[SourceFile], options: &CompileOptions) -> Result<Compiled, Diagnostics> {
    let (flags, mut problems) = Flags::check(options);
    let (specs, found) = read_specs(files);
    problems.extend(found);
    if flags.as_ref().is_some_and(|f| f.cors.is_some()) {
        problems.extend(specs.iter().filter_map(cors_conflict));
    }
    // Cross-file checks only make sense once every file reads cleanly.
    let (Some(flags), true) = (flags, problems.is_empty()) else {
        return Err(problems);
    };
    let plan = plan_service(&specs, &flags, options)?;
    let config_hash = config_hash(files, &hashed_options(options));
    render(&specs, plan, &flags, options, config_hash)
}

/// `allowCors` and `--cors-preset` answer preflights in opposite ways.
fn cors_conflict(spec: &Spec) -> Option<Diagnostic> {
    let at = spec.allow_cors.as_ref()?;
    Some(Diagnostic::new(
        &spec.file,
        at,
        "allowCors: true sends preflights to the backend, --cors-preset lets wasp answer them; choose one: remove allowCors or drop the --cors-* options",
    ))
}

/// Every option that changes the output, for the config hash.
fn hashed_options(options: &CompileOptions) -> Vec<(&'static str, String)> {
    let b = &options.bootstrap;
    vec![
        // A new compiler may compile the same inputs differently.
        ("wasp", env!("CARGO_PKG_VERSION").to_string()),
        ("backend", options.backend.clone()),
        ("metadata_url", options.metadata_url.clone()),
        ("backend_auth_iam", options.backend_auth_iam.hashed()),
        (
            "backend_address_override",
            options.backend_address_override.to_string(),
        ),
        ("cors", options.cors.hashed()),
        ("edge", options.edge.hashed()),
        (
            "operation_name_header",
            options.operation_name_header.to_string(),
        ),
        (
            "generated_header_prefix",
            options.generated_header_prefix.clone(),
        ),
        ("listen", b.listen.to_string()),
        ("admin", b.admin.to_string()),
        ("wasm", b.wasm.clone()),
        ("paths", format!("{:?}", b.paths)),
        ("root_certs", b.root_certs.clone()),
        (
            "backend_client_tls",
            format!(
                "{:?} {:?}",
                b.backend_client_cert_dir, b.backend_cipher_suites
            ),
        ),
        ("client_address", format!("{:?}", b.client_address)),
        ("access_log", format!("{:?}", b.access_log)),
        ("telemetry", b.telemetry.hashed()),
        (
            "backend_dns_lookup_family",
            format!("{:?}", b.backend_dns_lookup_family),
        ),
        ("jwt", format!("{:?}", options.jwt)),
        ("ignore_jwt_scopes", options.ignore_jwt_scopes.to_string()),
        (
            "producer_project_id",
            options.producer_project_id.clone().unwrap_or_default(),
        ),
        ("service_control", options.service_control.hashed()),
        ("cluster_naming", format!("{:?}", options.cluster_naming)),
        ("own_routes", options.own_routes.to_string()),
    ]
}
