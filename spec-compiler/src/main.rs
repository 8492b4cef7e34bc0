use clap::Parser;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use wasp_spec_compiler::cli::{Cli, Command, CompileArgs};
use wasp_spec_compiler::compile::{compile, Compiled};
use wasp_spec_compiler::config_store::ConfigStore;
use wasp_spec_compiler::deploy::{self, Manifest, Target};
use wasp_spec_compiler::errors::Diagnostic;
use wasp_spec_compiler::read::source::SourceFile;
use wasp_spec_compiler::rollout::{rollback, rollout, Confirmed};

/// A bad spec or option (what the user must fix), as clap also uses.
const EXIT_BAD_INPUT: u8 = 2;
/// The output could not be written.
const EXIT_IO: u8 = 1;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Compile(args) => run_compile(&args, true),
        Command::Validate(args) => run_compile(&args, false),
        Command::Configs(args) => list_configs(&args.store),
        Command::Rollout(args) => {
            let timeout = Duration::from_secs(args.admin.timeout_seconds);
            let result = ConfigStore::open(&args.store.store)
                .map_err(|e| format!("cannot open the store: {e}"))
                .and_then(|store| {
                    rollout(&store, &args.id, args.admin.envoy_admin.as_deref(), timeout)
                });
            finish(&args.id, result)
        }
        Command::Rollback(args) => {
            let timeout = Duration::from_secs(args.admin.timeout_seconds);
            let result = ConfigStore::open(&args.store.store)
                .map_err(|e| format!("cannot open the store: {e}"))
                .and_then(|store| rollback(&store, args.admin.envoy_admin.as_deref(), timeout));
            match result {
                Ok((id, confirmed)) => finish(&id, Ok(confirmed)),
                Err(e) => finish("", Err(e)),
            }
        }
    }
}

fn list_configs(root: &Path) -> ExitCode {
    let listed = ConfigStore::open(root).and_then(|store| Ok((store.list()?, store.current())));
    match listed {
        Ok((configs, current)) => {
            for config in configs {
                let mark = if current.as_deref() == Some(config.id.as_str()) {
                    "*"
                } else {
                    " "
                };
                let created =
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(config.created_unix);
                println!(
                    "{mark} {}  created {}  {} operations",
                    config.id,
                    humantime::format_rfc3339_seconds(created),
                    config.operations
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasp: cannot read the store {}: {e}", root.display());
            ExitCode::from(EXIT_IO)
        }
    }
}

/// The outcome of a rollout or rollback, said once.
fn finish(id: &str, result: Result<Confirmed, String>) -> ExitCode {
    match result {
        Ok(Confirmed::ByEnvoy { elapsed }) => {
            println!(
                "wasp: config {id} is current; Envoy took it in {} ms",
                elapsed.as_millis()
            );
            ExitCode::SUCCESS
        }
        Ok(Confirmed::NotChecked) => {
            println!("wasp: config {id} is current (not confirmed with Envoy: no --envoy-admin)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasp: rollout failed: {e}");
            ExitCode::from(EXIT_IO)
        }
    }
}

/// Compiles; writes the outputs only when `write` (`wasp validate` checks everything and
/// writes nothing, with the same messages and exit codes).
fn run_compile(args: &CompileArgs, write: bool) -> ExitCode {
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
    let options = args.compile_options();
    let mut refused =
        deploy::check_options(&args.deploy, &options, &CompileArgs::default_options());
    if args.store.is_some()
        && matches!(
            args.deploy.target,
            Target::Sidecar | Target::Istio | Target::EnvoyGateway
        )
    {
        refused.push(Diagnostic::option(
            "--store",
            "the store feeds Envoy's files (envoy, compose); on Kubernetes a config is its ConfigMap and a rollout is `kubectl apply`; drop --store",
        ));
    }
    if !refused.is_empty() {
        return report(&refused);
    }
    let compiled = match compile(&files, &options) {
        Ok(c) => c,
        Err(problems) => return report(&problems),
    };
    let manifests = match deploy::render(&args.deploy, &options, &compiled) {
        Ok(rendered) => {
            for warning in &rendered.warnings {
                eprintln!("wasp: warning: {warning}");
            }
            rendered.manifests
        }
        Err(problems) => return report(&problems),
    };
    for warning in &compiled.warnings {
        eprintln!("wasp: warning: {warning}");
    }
    if !write {
        println!(
            "wasp: valid: {} operations, config hash {}; nothing written",
            compiled.config.operations.len(),
            compiled.config.config_hash
        );
        return ExitCode::SUCCESS;
    }
    if let Some(root) = &args.store {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match ConfigStore::open(root).and_then(|store| store.add(&compiled, now)) {
            Ok(id) => println!("wasp: stored config {id} in {}", root.display()),
            Err(e) => {
                eprintln!("wasp: cannot store the config in {}: {e}", root.display());
                return ExitCode::from(EXIT_IO);
            }
        }
    }
    let target = args.deploy.target;
    match write_outputs(&args.out, &compiled, target, &manifests) {
        Ok(written) => {
            let files: Vec<String> = written
                .iter()
                .map(|file| args.out.join(file).display().to_string())
                .collect();
            println!(
                "wasp: wrote {}: {} operations, config hash {}",
                files.join(", "),
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

/// Writes the filter config, the bootstrap (where wasp writes Envoy's), the control
/// config and the target's manifests; returns the file names written.
fn write_outputs(
    out: &Path,
    compiled: &Compiled,
    target: Target,
    manifests: &[Manifest],
) -> std::io::Result<Vec<&'static str>> {
    std::fs::create_dir_all(out)?;
    let mut written = vec!["filter.json"];
    std::fs::write(out.join("filter.json"), &compiled.filter_json)?;
    if target.mesh_owns_envoy() {
        remove_stale(&out.join("envoy.yaml"))?;
    } else {
        std::fs::write(out.join("envoy.yaml"), &compiled.envoy_yaml)?;
        written.push("envoy.yaml");
    }
    match &compiled.control_json {
        Some(json) => {
            std::fs::write(out.join("control.json"), json)?;
            written.push("control.json");
        }
        // A stale control.json from an earlier compile would describe quotas the spec dropped.
        None => remove_stale(&out.join("control.json"))?,
    }
    for manifest in manifests {
        std::fs::write(out.join(manifest.file), &manifest.text)?;
        written.push(manifest.file);
    }
    Ok(written)
}

fn remove_stale(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
