//! Picking up new control configs (`control.json` from `wasp compile`) without a restart:
//! the files are read again on a poll interval, on SIGHUP, or on `POST /admin/config/reload`.
//! A new set that reads and indexes cleanly replaces the served one at once; keys (in the
//! database) and quota windows (counted per metric, consumer and minute) are untouched, so a
//! changed limit applies to the current minute's count. A set that does not read, or names a
//! service twice, is refused: the old configs keep serving and the error is kept for
//! `GET /admin/config` and logged.

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use wasp_config::control::ControlConfig;

use crate::control::ControlService;

/// What one file held when it was read: its bytes, or why it could not be read.
type FileRead = Result<Vec<u8>, String>;

fn read_file(path: &std::path::Path) -> FileRead {
    std::fs::read(path).map_err(|e| format!("cannot read control config {}: {e}", path.display()))
}

/// The configs in what was read; errors name the file.
fn parse_all(paths: &[PathBuf], reads: &[FileRead]) -> Result<Vec<ControlConfig>, String> {
    paths
        .iter()
        .zip(reads)
        .map(|(path, read)| {
            let bytes = read.as_ref().map_err(Clone::clone)?;
            ControlConfig::from_json(bytes).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// The config files a control service serves, and what their last reload did.
pub struct ConfigFiles {
    paths: Vec<PathBuf>,
    state: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    /// What the files held at the last load (applied or refused): a poll that reads the
    /// same applies nothing.
    reads: Vec<FileRead>,
    status: ReloadStatus,
}

/// What `GET /admin/config` shows.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Reloads that replaced the configs since start.
    pub applied: u64,
    /// Reloads refused since start.
    pub refused: u64,
    /// Why the last refused reload was refused, until one is applied again.
    pub last_error: Option<String>,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reload {
    /// The files are as last seen.
    Unchanged,
    /// These services are served now.
    Applied { services: Vec<String> },
    /// Nothing changed; the old configs keep serving.
    Refused { error: String },
}

impl Reload {
    /// One line for a reload that changed something or was refused.
    pub fn log(&self) {
        match self {
            Reload::Unchanged => {}
            Reload::Applied { services } => {
                println!(
                    "wasp-control: control configs reloaded: serving {}",
                    services.join(", ")
                );
            }
            Reload::Refused { error } => {
                eprintln!(
                    "wasp-control: new control configs refused, the old ones keep serving: {error}"
                );
            }
        }
    }
}

impl ConfigFiles {
    /// Reads the files once: the configs to start with, and what a poll compares against
    /// (so the first poll is `Unchanged`). Fails, naming the file, when one does not read.
    pub fn open(paths: Vec<PathBuf>) -> Result<(ConfigFiles, Vec<ControlConfig>), String> {
        let reads: Vec<FileRead> = paths.iter().map(|path| read_file(path)).collect();
        let configs = parse_all(&paths, &reads)?;
        let files = ConfigFiles {
            paths,
            state: Mutex::new(Loaded {
                reads,
                status: ReloadStatus::default(),
            }),
        };
        Ok((files, configs))
    }

    pub fn status(&self) -> ReloadStatus {
        self.lock().status.clone()
    }

    /// Reads the files again and applies what they hold when it changed (or always, with
    /// `force`); what is applied is exactly what was compared.
    pub fn reload(&self, control: &ControlService, force: bool) -> Reload {
        let reads: Vec<FileRead> = self.paths.iter().map(|path| read_file(path)).collect();
        let mut state = self.lock();
        if !force && reads == state.reads {
            return Reload::Unchanged;
        }
        let outcome =
            parse_all(&self.paths, &reads).and_then(|configs| control.replace_configs(configs));
        state.reads = reads;
        match outcome {
            Ok(services) => {
                state.status.applied = state.status.applied.saturating_add(1);
                state.status.last_error = None;
                Reload::Applied { services }
            }
            Err(error) => {
                state.status.refused = state.status.refused.saturating_add(1);
                state.status.last_error = Some(error.clone());
                Reload::Refused { error }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::MemoryWindows;
    use crate::reports::ReportLog;
    use crate::sqlite_store::SqliteStore;
    use std::sync::Arc;
    use wasp_config::control::CONTROL_SCHEMA_VERSION;

    fn config(service: &str) -> String {
        serde_json::json!({
            "version": CONTROL_SCHEMA_VERSION, "service_name": service,
            "producer_project_id": "p", "metrics": [], "limits": [], "operations": [],
        })
        .to_string()
    }

    #[test]
    fn changed_files_apply_bad_ones_are_refused_and_the_old_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        std::fs::write(&a, config("one")).unwrap();
        std::fs::write(&b, config("two")).unwrap();
        let (files, configs) = ConfigFiles::open(vec![a.clone(), b.clone()]).unwrap();
        let control = ControlService::new(
            configs,
            Arc::new(SqliteStore::open(&dir.path().join("k.db")).unwrap()),
            Arc::new(MemoryWindows::new()),
            Arc::new(ReportLog::new()),
        )
        .unwrap();
        assert_eq!(files.reload(&control, false), Reload::Unchanged);

        std::fs::write(&b, config("three")).unwrap();
        assert_eq!(
            files.reload(&control, false),
            Reload::Applied {
                services: vec!["one".into(), "three".into()]
            }
        );

        // Two files for one service: refused, "one" and "three" still served.
        std::fs::write(&b, config("one")).unwrap();
        let Reload::Refused { error } = files.reload(&control, false) else {
            panic!("a duplicate service is refused");
        };
        assert!(error.contains("configured twice"), "{error}");
        std::fs::write(&b, "not json").unwrap();
        let Reload::Refused { error } = files.reload(&control, false) else {
            panic!("a file that does not read is refused");
        };
        assert!(error.contains("b.json"), "{error}");
        assert_eq!(control.service_names(), ["one", "three"]);
        let status = files.status();
        assert_eq!((status.applied, status.refused), (1, 2));
        assert!(status.last_error.is_some());
        // Forced, the same bad files are read (and refused) again.
        assert!(matches!(
            files.reload(&control, true),
            Reload::Refused { .. }
        ));
    }
}
