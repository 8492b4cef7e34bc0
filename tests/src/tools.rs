//! The three real artifacts every integration test needs, found through the
//! environment the Makefile exports. A missing one is a failure, never a skip:
//! a test suite that passes because nothing ran would hide a broken build.

use std::path::PathBuf;

/// Paths of the Envoy binary, the filter module and the `wasp` compiler.
#[derive(Debug, Clone)]
pub struct Tools {
    pub envoy: PathBuf,
    pub wasm: PathBuf,
    pub wasp: PathBuf,
}

impl Tools {
    /// Reads `WASP_ENVOY`, `WASP_WASM` and `WASP_BIN`; panics with the fix when
    /// one is unset or names a file that does not exist.
    pub fn from_env() -> Tools {
        Tools {
            envoy: required_file("WASP_ENVOY", "the Envoy 1.40 binary"),
            wasm: required_file(
                "WASP_WASM",
                "the wasp filter module (target/wasp_filter.wasm)",
            ),
            wasp: required_file("WASP_BIN", "the wasp compiler (target/release/wasp)"),
        }
    }
}

/// The repository's root (the tests crate sits in it): examples, scripts, `envoy/`.
pub fn repo_root() -> PathBuf {
    let tests_crate = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    match tests_crate.parent() {
        Some(root) => root.to_path_buf(),
        None => tests_crate.join(".."),
    }
}

fn required_file(var: &str, what: &str) -> PathBuf {
    let Some(value) = std::env::var_os(var) else {
        panic!("{var} is not set; it must name {what}. Run the integration tests with `make test` (or `make integration`), which builds everything and sets it.");
    };
    let path = PathBuf::from(value);
    if !path.is_file() {
        panic!(
            "{var}={} does not exist; it must name {what}. Run `make test` (or `make integration`), which builds it first.",
            path.display()
        );
    }
    path
}

/// The `wasp-control` binary (`WASP_CONTROL`, exported by the Makefile as
/// `target/release/wasp-control`). Read only by the tests that run the control
/// service, so the other tests keep needing just the three artifacts above.
pub fn control_binary() -> PathBuf {
    required_file(
        "WASP_CONTROL",
        "the control service (target/release/wasp-control)",
    )
}

/// `redis-server` (on PATH or where Debian puts it), which `scripts/ensure-redis.sh`
/// installs (`make test` and `make integration` run it).
pub fn redis_server() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let debian = [PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")];
    on_path
        .into_iter()
        .chain(debian)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("redis-server is not installed; run scripts/ensure-redis.sh (make test does)")
        })
}

/// The directory holding PostgreSQL's `initdb`, `pg_ctl` and `postgres`: the newest
/// Debian cluster version's `/usr/lib/postgresql/<version>/bin`, else where `initdb` on
/// PATH really lives. `scripts/ensure-postgres.sh` installs them (`make test` and
/// `make integration` run it).
pub fn postgres_bin_dir() -> PathBuf {
    let version = |name: &str| -> Option<Vec<u32>> {
        name.split('.').map(|part| part.parse().ok()).collect()
    };
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let number = version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((number, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin);
    let on_path = || {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("initdb"))
            .find(|candidate| candidate.is_file())
            .and_then(|initdb| std::fs::canonicalize(initdb).ok())
            .and_then(|initdb| initdb.parent().map(|dir| dir.to_path_buf()))
    };
    debian.or_else(on_path).unwrap_or_else(|| {
        panic!("PostgreSQL (initdb, pg_ctl, postgres) is not installed; run scripts/ensure-postgres.sh (make test does)")
    })
}
