//! Runs the real `wasp compile` on a spec written into a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::tools::Tools;

/// A compiled spec: the temporary directory holding the spec, `filter.json`
/// and `envoy.yaml`. The directory is deleted when this is dropped.
pub struct Compiled {
    pub dir: TempDir,
    pub spec: PathBuf,
    pub envoy_yaml: PathBuf,
    pub filter_json: PathBuf,
}

/// What one `wasp compile` run printed and returned.
pub struct CompileRun {
    pub dir: TempDir,
    pub spec: PathBuf,
    pub output: Output,
}

impl CompileRun {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Writes `spec_text` to `<tmp>/openapi.yaml` and runs
/// `wasp compile <spec> --backend <backend> --listen 127.0.0.1:0 --admin 127.0.0.1:0 --wasm $WASP_WASM --out <tmp>`.
pub fn run_compile(tools: &Tools, spec_text: &str, backend: &str) -> CompileRun {
    run_compile_with(tools, &CompileInput::new(spec_text), backend)
}

/// Everything one `wasp compile` run reads: spec files (the first is
/// `openapi.yaml`) and extra command-line options.
#[derive(Debug, Clone, Default)]
pub struct CompileInput {
    /// `(file name, text)`, written into the temporary directory in this order.
    pub files: Vec<(String, String)>,
    /// Options after the spec files (`--cors-preset basic`, ...).
    pub args: Vec<String>,
}

impl CompileInput {
    pub fn new(spec_text: &str) -> CompileInput {
        CompileInput {
            files: vec![("openapi.yaml".into(), spec_text.into())],
            args: Vec::new(),
        }
    }

    /// Adds another spec file (compiled together with the first).
    pub fn file(mut self, name: &str, text: &str) -> CompileInput {
        self.files.push((name.into(), text.into()));
        self
    }

    /// Adds command-line options.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> CompileInput {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }
}

/// Runs `wasp compile` on `input` against `backend` in a new temporary directory.
pub fn run_compile_with(tools: &Tools, input: &CompileInput, backend: &str) -> CompileRun {
    let dir = tempfile::Builder::new()
        .prefix("wasp-test-")
        .tempdir()
        .expect("create a temporary directory");
    let mut specs = Vec::new();
    for (name, text) in &input.files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write the spec");
        specs.push(path);
    }
    let output = Command::new(&tools.wasp)
        .arg("compile")
        .args(&specs)
        .args(["--backend", backend])
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--wasm")
        .arg(&tools.wasm)
        .arg("--out")
        .arg(dir.path())
        .args(&input.args)
        .output()
        .expect("run the wasp compiler");
    let spec = specs.swap_remove(0);
    CompileRun { dir, spec, output }
}

/// Compiles a spec that must be valid; panics with the compiler's stderr otherwise.
pub fn compile(tools: &Tools, spec_text: &str, backend: &str) -> Compiled {
    compile_with(tools, &CompileInput::new(spec_text), backend)
}

/// [`compile`] for several files and extra options.
pub fn compile_with(tools: &Tools, input: &CompileInput, backend: &str) -> Compiled {
    let run = run_compile_with(tools, input, backend);
    assert!(
        run.output.status.success(),
        "wasp compile failed ({}):\n{}",
        run.output.status,
        run.stderr()
    );
    let envoy_yaml = run.dir.path().join("envoy.yaml");
    let filter_json = run.dir.path().join("filter.json");
    for file in [&envoy_yaml, &filter_json] {
        assert!(
            file.is_file(),
            "wasp compile succeeded but did not write {}",
            file.display()
        );
    }
    Compiled {
        spec: run.spec,
        dir: run.dir,
        envoy_yaml,
        filter_json,
    }
}

impl Compiled {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
