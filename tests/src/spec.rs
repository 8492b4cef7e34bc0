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
    let dir = tempfile::Builder::new()
        .prefix("wasp-test-")
        .tempdir()
        .expect("create a temporary directory");
    let spec = dir.path().join("openapi.yaml");
    std::fs::write(&spec, spec_text).expect("write the spec");
    let output = Command::new(&tools.wasp)
        .arg("compile")
        .arg(&spec)
        .args(["--backend", backend])
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .arg("--wasm")
        .arg(&tools.wasm)
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run the wasp compiler");
    CompileRun { dir, spec, output }
}

/// Compiles a spec that must be valid; panics with the compiler's stderr otherwise.
pub fn compile(tools: &Tools, spec_text: &str, backend: &str) -> Compiled {
    let run = run_compile(tools, spec_text, backend);
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
