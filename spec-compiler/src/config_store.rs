//! Immutable API configs, as API Gateway keeps them: every compile that passes is stored under
//! its content hash (`<store>/configs/<id>/`), never rewritten, and one of them is current
//! (`<store>/current/`), which is where a running Envoy reads its listener and clusters from
//! (filesystem LDS and CDS, watched by Envoy). Making another config current replaces those
//! files atomically (write, then rename), so Envoy swaps its listener for new connections while
//! requests in flight finish on the old one; no restart, caches of the worker VMs kept.
//!
//! Layout:
//! - `configs/<id>/lds.yaml`, `cds.yaml`: the config's listener and clusters as xDS
//!   DiscoveryResponses; `filter.json`, `control.json` (when any), `envoy.yaml` (the bootstrap
//!   that reads `current/`), `meta.json` (id, when, operations).
//! - `current/control.json`: the current config's control config, for
//!   `wasp-control serve --config <store>/current/control.json`, which reloads it by itself.
//! - `current/lds/lds.yaml`, `current/cds/cds.yaml`, `current/id`: what Envoy serves (one
//!   watched directory per resource type, so replacing one file never re-delivers the
//!   other). `cds.yaml` is the new config's clusters plus those of every config made current
//!   in the last [`KEEP_CLUSTERS_SECS`] and of the one current before: Envoy drains an old
//!   listener's connections for up to its `--drain-time-s` (600 s by default), and a request
//!   on one must never meet a removed cluster.
//! - `history`: `<id> <unix time>` per config made current, oldest first (rollback walks it
//!   back; the times say which old clusters are kept).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::compile::Compiled;

const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// How long the clusters of a config stay after it stopped being current: Envoy's default
/// drain time (600 s) and a margin.
pub const KEEP_CLUSTERS_SECS: u64 = 900;

/// Under `current/`.
const LDS_FILE: &str = "lds/lds.yaml";
const CDS_FILE: &str = "cds/cds.yaml";

/// One stored config, as `wasp configs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    pub id: String,
    pub created_unix: u64,
    pub operations: usize,
}

/// A config directory tree on disk.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    root: PathBuf,
}

fn io_error(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

impl ConfigStore {
    /// The store at `root` (created on first write). Paths written into Envoy's bootstrap are
    /// absolute, so Envoy may run from any directory.
    pub fn open(root: &Path) -> std::io::Result<ConfigStore> {
        std::fs::create_dir_all(root)?;
        Ok(ConfigStore {
            root: root.canonicalize()?,
        })
    }

    pub fn config_dir(&self, id: &str) -> PathBuf {
        self.root.join("configs").join(id)
    }

    fn current_dir(&self) -> PathBuf {
        self.root.join("current")
    }

    /// The bootstrap Envoy starts with: the compiled one without its static listener and
    /// clusters, reading them from `current/` instead.
    pub fn bootstrap_path(&self) -> PathBuf {
        self.root.join("envoy.yaml")
    }

    /// Stores `compiled` under its config hash; an id already stored is left as it is
    /// (configs are immutable, and the same hash means the same inputs). Returns the id.
    pub fn add(&self, compiled: &Compiled, now_unix: u64) -> std::io::Result<String> {
        let id = compiled.config.config_hash.clone();
        let dir = self.config_dir(&id);
        if dir.join("meta.json").is_file() {
            return Ok(id);
        }
        let bootstrap: Value = serde_norway::from_str(&compiled.envoy_yaml)
            .map_err(|e| io_error(format!("the compiled bootstrap does not read back: {e}")))?;
        let resources = |key: &str, type_url: &str| -> Vec<Value> {
            bootstrap["static_resources"][key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|resource| {
                    let mut typed = json!({ "@type": type_url });
                    if let (Some(typed), Some(fields)) =
                        (typed.as_object_mut(), resource.as_object())
                    {
                        typed.extend(fields.clone());
                    }
                    typed
                })
                .collect()
        };
        let lds = json!({ "version_info": id, "resources": resources("listeners", LISTENER_TYPE) });
        let cds = json!({ "version_info": id, "resources": resources("clusters", CLUSTER_TYPE) });
        let staging = self.root.join("configs").join(format!(".{id}.partial"));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        write_yaml(&staging.join("lds.yaml"), &lds)?;
        write_yaml(&staging.join("cds.yaml"), &cds)?;
        write_yaml(
            &staging.join("envoy.yaml"),
            &self.dynamic_bootstrap(&bootstrap),
        )?;
        std::fs::write(staging.join("filter.json"), &compiled.filter_json)?;
        if let Some(control) = &compiled.control_json {
            std::fs::write(staging.join("control.json"), control)?;
        }
        let meta = json!({
            "id": id,
            "created_unix": now_unix,
            "operations": compiled.config.operations.len(),
        });
        std::fs::write(staging.join("meta.json"), meta.to_string())?;
        // A config appears whole or not at all.
        std::fs::rename(&staging, &dir)?;
        Ok(id)
    }

    fn dynamic_bootstrap(&self, compiled: &Value) -> Value {
        let watched = |kind: &str| {
            let dir = self.current_dir().join(kind);
            json!({
                "path_config_source": {
                    "path": dir.join(format!("{kind}.yaml")).display().to_string(),
                    "watched_directory": { "path": dir.display().to_string() },
                },
                "resource_api_version": "V3",
            })
        };
        let mut bootstrap = compiled.clone();
        if let Some(fields) = bootstrap.as_object_mut() {
            fields.remove("static_resources");
            fields.insert(
                "dynamic_resources".into(),
                json!({ "lds_config": watched("lds"), "cds_config": watched("cds") }),
            );
        }
        bootstrap
    }

    /// Every stored config, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<StoredConfig>> {
        let mut configs = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.join("configs")) else {
            return Ok(configs);
        };
        for entry in entries {
            let path = entry?.path().join("meta.json");
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let meta: Value = serde_json::from_slice(&bytes)
                .map_err(|e| io_error(format!("{}: {e}", path.display())))?;
            configs.push(StoredConfig {
                id: meta["id"].as_str().unwrap_or_default().to_string(),
                created_unix: meta["created_unix"].as_u64().unwrap_or(0),
                operations: meta["operations"].as_u64().unwrap_or(0) as usize,
            });
        }
        configs.sort_by(|a, b| (a.created_unix, &a.id).cmp(&(b.created_unix, &b.id)));
        Ok(configs)
    }

    /// The id Envoy serves now, if any.
    pub fn current(&self) -> Option<String> {
        std::fs::read_to_string(self.current_dir().join("id"))
            .ok()
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
    }

    /// Ids made current, oldest first.
    pub fn history(&self) -> Vec<String> {
        self.dated_history().into_iter().map(|(id, _)| id).collect()
    }

    /// `(id, unix time it was made current)`, oldest first (0 when no time was kept).
    fn dated_history(&self) -> Vec<(String, u64)> {
        std::fs::read_to_string(self.root.join("history"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let id = fields.next()?.to_string();
                Some((id, fields.next().and_then(|t| t.parse().ok()).unwrap_or(0)))
            })
            .collect()
    }

    /// The id a rollback returns to: the one made current before the current one.
    pub fn previous(&self) -> Option<String> {
        let current = self.current()?;
        let history = self.history();
        let at = history.iter().rposition(|id| *id == current)?;
        history
            .get(..at)?
            .iter()
            .rev()
            .find(|id| **id != current)
            .cloned()
    }

    /// What `current/` holds, to put back if Envoy refuses the next one.
    pub fn snapshot(&self) -> CurrentFiles {
        let read = |file: &str| std::fs::read(self.current_dir().join(file)).ok();
        CurrentFiles {
            lds: read(LDS_FILE),
            cds: read(CDS_FILE),
            id: read("id"),
            control: read("control.json"),
            history: std::fs::read(self.root.join("history")).ok(),
            bootstrap: std::fs::read(self.bootstrap_path()).ok(),
        }
    }

    /// Writes the clusters of `id`, with those of the configs a draining listener may still
    /// route to (the current one, and every one current in the last [`KEEP_CLUSTERS_SECS`]),
    /// into `current/cds.yaml`. Step one of a rollout: clusters before the listener whose
    /// routes name them.
    pub fn write_clusters(&self, id: &str, now_unix: u64) -> std::io::Result<()> {
        let dir = self.config_dir(id);
        let mut cds = read_yaml(&dir.join("cds.yaml"))?;
        let history = self.dated_history();
        // A config stopped being current when the next entry was made current.
        let mut recent: Vec<String> = history
            .windows(2)
            .filter(|pair| pair[1].1.saturating_add(KEEP_CLUSTERS_SECS) >= now_unix)
            .map(|pair| pair[0].0.clone())
            .collect();
        recent.extend(self.current());
        recent.retain(|old| old != id);
        recent.dedup();
        for old in recent {
            if let Ok(old) = read_yaml(&self.config_dir(&old).join("cds.yaml")) {
                merge_clusters(&mut cds, &old);
            }
        }
        write_atomically(&self.current_dir().join(CDS_FILE), &to_yaml(&cds)?)
    }

    /// Step two: the listener of `id`, then the record of what is current.
    pub fn write_listener(&self, id: &str, now_unix: u64) -> std::io::Result<()> {
        let dir = self.config_dir(id);
        let lds = std::fs::read(dir.join("lds.yaml"))?;
        write_atomically(&self.current_dir().join(LDS_FILE), &lds)?;
        write_atomically(&self.current_dir().join("id"), id.as_bytes())?;
        // wasp-control polls this file; a config without one leaves the last in place (a
        // control service with no config would refuse every call).
        if let Ok(control) = std::fs::read(dir.join("control.json")) {
            write_atomically(&self.current_dir().join("control.json"), &control)?;
        }
        let mut history = std::fs::read_to_string(self.root.join("history")).unwrap_or_default();
        history.push_str(&format!("{id} {now_unix}\n"));
        std::fs::write(self.root.join("history"), history)?;
        std::fs::copy(dir.join("envoy.yaml"), self.bootstrap_path())?;
        Ok(())
    }

    /// Puts back what [`ConfigStore::snapshot`] saw (a refused rollout).
    pub fn restore(&self, files: &CurrentFiles) -> std::io::Result<()> {
        let current = self.current_dir();
        for (path, bytes) in [
            (current.join(CDS_FILE), &files.cds),
            (current.join(LDS_FILE), &files.lds),
            (current.join("id"), &files.id),
            (current.join("control.json"), &files.control),
            (self.root.join("history"), &files.history),
            (self.bootstrap_path(), &files.bootstrap),
        ] {
            match bytes {
                Some(bytes) => write_atomically(&path, bytes)?,
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }
}

/// The files of `current/` at one moment.
#[derive(Debug, Clone)]
pub struct CurrentFiles {
    lds: Option<Vec<u8>>,
    cds: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    control: Option<Vec<u8>>,
    history: Option<Vec<u8>>,
    bootstrap: Option<Vec<u8>>,
}

/// Adds `old`'s clusters that `new` does not name.
fn merge_clusters(new: &mut Value, old: &Value) {
    let names: Vec<String> = new["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let extra: Vec<Value> = old["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| !names.iter().any(|m| m == n))
        })
        .cloned()
        .collect();
    if let Some(resources) = new["resources"].as_array_mut() {
        resources.extend(extra);
    }
}

fn to_yaml(value: &Value) -> std::io::Result<Vec<u8>> {
    serde_norway::to_string(value)
        .map(String::into_bytes)
        .map_err(|e| io_error(format!("cannot write YAML: {e}")))
}

fn write_yaml(path: &Path, value: &Value) -> std::io::Result<()> {
    std::fs::write(path, to_yaml(value)?)
}

fn read_yaml(path: &Path) -> std::io::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    serde_norway::from_str(&text).map_err(|e| io_error(format!("{}: {e}", path.display())))
}

/// Envoy reads a watched file when it is moved into place, never half-written.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = path.with_file_name(format!(".{name}.next"));
    std::fs::write(&staging, bytes)?;
    std::fs::rename(&staging, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_configs_clusters_stay_one_rollout_longer() {
        let mut new = json!({ "resources": [{ "name": "a" }, { "name": "b" }] });
        let old = json!({ "resources": [{ "name": "b", "old": true }, { "name": "gone" }] });
        merge_clusters(&mut new, &old);
        assert_eq!(
            new["resources"],
            json!([{ "name": "a" }, { "name": "b" }, { "name": "gone" }]),
            "the new config's own definition of b wins"
        );
    }

    #[test]
    fn clusters_of_configs_a_draining_listener_may_use_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        for (id, cluster) in [("a", "ca"), ("b", "cb"), ("c", "cc"), ("d", "cd")] {
            let config = store.config_dir(id);
            std::fs::create_dir_all(&config).unwrap();
            let cds = json!({ "resources": [{ "name": cluster }] });
            write_yaml(&config.join("cds.yaml"), &cds).unwrap();
        }
        // a was current until 1000 (long ago), b until 5000, c is current since 5000.
        std::fs::write(dir.path().join("history"), "a 100\nb 1000\nc 5000\n").unwrap();
        write_atomically(&store.current_dir().join("id"), b"c").unwrap();
        store.write_clusters("d", 5000 + 60).unwrap();
        let cds = read_yaml(&store.current_dir().join(CDS_FILE)).unwrap();
        let names: Vec<&str> = cds["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["cd", "cb", "cc"],
            "a stopped long ago; b a minute ago"
        );
    }

    #[test]
    fn rollback_walks_the_history_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        assert_eq!(store.previous(), None);
        std::fs::write(dir.path().join("history"), "a\nb\nc\nb\n").unwrap();
        write_atomically(&store.current_dir().join("id"), b"b").unwrap();
        assert_eq!(store.current().as_deref(), Some("b"));
        assert_eq!(store.previous().as_deref(), Some("c"));
        write_atomically(&store.current_dir().join("id"), b"a").unwrap();
        assert_eq!(store.previous(), None, "nothing before the first");
    }

    #[test]
    fn a_refused_rollout_puts_every_file_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        write_atomically(&store.current_dir().join(LDS_FILE), b"old listener").unwrap();
        std::fs::write(dir.path().join("history"), "a\n").unwrap();
        let before = store.snapshot();
        write_atomically(&store.current_dir().join(LDS_FILE), b"new listener").unwrap();
        write_atomically(&store.current_dir().join("id"), b"b").unwrap();
        std::fs::write(dir.path().join("history"), "a\nb\n").unwrap();
        store.restore(&before).unwrap();
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(read(store.current_dir().join(LDS_FILE)), "old listener");
        assert_eq!(store.current(), None, "there was no id before");
        assert_eq!(read(dir.path().join("history")), "a\n");
    }
}
