use clap::Parser;
use std::path::Path;
use std::process::ExitCode;
use wasp_spec_compiler::bootstrap::{BootstrapOptions, ClientAddress};
use wasp_spec_compiler::cli::{Cli, Command, CompileArgs};
use wasp_spec_compiler::compile::{compile, CompileOptions, Compiled};
use wasp_spec_compiler::errors::Diagnostic;
use wasp_spec_compiler::jwt_providers::JwtOptions;
use wasp_spec_compiler::source::SourceFile;

/// A bad spec or option (what the user must fix), as clap also uses.
const EXIT_BAD_INPUT: u8 = 2;
/// The output could not be written.
const EXIT_IO: u8 = 1;

fn main() -> ExitCode {
    let Command::Compile(args) = Cli::parse().command;
    run_compile(&args)
}

fn run_compile(args: &CompileArgs) -> ExitCode {
    let mut files = Vec::with_capacity(args.specs.len());
    let mut unreadable = Vec::new();
    for path in &args.specs {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => files.push(SourceFile { name, bytes }),
            Err(e) => unreadable.push(Diagnostic::option(
                &name,
                format!("cannot read the spec file ({e}); check the path"),
            )),
        }
    }
    if !unreadable.is_empty() {
        return report(&unreadable);
    }
    let options = CompileOptions {
        backend: args.backend.clone(),
        metadata_url: args.metadata_url.clone(),
        cors: args.cors.clone(),
        bootstrap: BootstrapOptions {
            listen: args.listen,
            admin: args.admin,
            wasm: args.wasm.clone(),
            disallow_escaped_slashes: args.disallow_escaped_slashes,
            root_certs: args.root_certs.clone(),
            client_address: ClientAddress {
                use_remote_address: args.envoy_use_remote_address,
                xff_num_trusted_hops: args.envoy_xff_num_trusted_hops,
            },
        },
        jwt: JwtOptions {
            jwks_cache_seconds: args.jwks_cache_seconds,
            clock_skew_seconds: args.jwt_clock_skew_seconds,
            extra_origins: args.jwks_origin.clone(),
            require_exp: args.jwt_require_exp,
            max_lifetime_seconds: args.jwt_max_lifetime_seconds,
            unavailable_keys_503: args.jwks_unavailable_status == "503",
        },
        ignore_jwt_scopes: args.ignore_jwt_scopes,
        producer_project_id: args.producer_project_id.clone(),
        service_control: args.service_control.clone(),
    };
    let compiled = match compile(&files, &options) {
        Ok(c) => c,
        Err(problems) => return report(&problems),
    };
    match write_outputs(&args.out, &compiled) {
        Ok(()) => {
            let control = match compiled.control_json {
                Some(_) => format!(" and {}", args.out.join("control.json").display()),
                None => String::new(),
            };
            println!(
                "wasp: wrote {}, {}{control}: {} operations, config hash {}",
                args.out.join("filter.json").display(),
                args.out.join("envoy.yaml").display(),
                compiled.config.operations.len(),
                compiled.config.config_hash
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasp: cannot write to {}: {e}", args.out.display());
            ExitCode::from(EXIT_IO)
        }
    }
}

fn report(problems: &[Diagnostic]) -> ExitCode {
    for problem in problems {
        eprintln!("{problem}");
    }
    eprintln!("wasp: {} problem(s); nothing written", problems.len());
    ExitCode::from(EXIT_BAD_INPUT)
}

fn write_outputs(out: &Path, compiled: &Compiled) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("filter.json"), &compiled.filter_json)?;
    std::fs::write(out.join("envoy.yaml"), &compiled.envoy_yaml)?;
    let control = out.join("control.json");
    match &compiled.control_json {
        Some(json) => std::fs::write(control, json),
        // A stale control.json from an earlier compile would describe quotas the spec dropped.
        None => match std::fs::remove_file(control) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}
