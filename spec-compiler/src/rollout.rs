//! `wasp rollout` / `wasp rollback`: makes a stored config current and, given Envoy's admin
//! address, confirms Envoy took it. Clusters go first (the new routes name them), then the
//! listener; each step waits for Envoy's `update_success` or `update_rejected` counter of
//! that resource type. A refused step puts the previous files back, so the old config keeps
//! serving (Envoy kept it anyway) and a restart does not pick up the refused one.

use std::time::{Duration, Instant};

use wasp_config::FilterConfig;

use crate::config_store::ConfigStore;

/// What happened, for the command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Envoy accepted clusters and listener, and the listener finished warming.
    ByEnvoy { elapsed: Duration },
    /// No admin address: the files are in place; Envoy reads them when it starts or next sees them.
    NotChecked,
}

/// Envoy's xDS counters for one resource type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    success: u64,
    rejected: u64,
}

/// Makes `id` current. `admin`: Envoy's admin base URL (`http://127.0.0.1:9901`).
pub fn rollout(
    store: &ConfigStore,
    id: &str,
    admin: Option<&str>,
    timeout: Duration,
) -> Result<Confirmed, String> {
    let dir = store.config_dir(id);
    let filter = std::fs::read(dir.join("filter.json")).map_err(|e| {
        format!("config {id} is not in the store ({e}); `wasp configs list` shows the ids")
    })?;
    FilterConfig::from_json(&filter)
        .map_err(|e| format!("config {id} does not validate, it stays out: {e}"))?;
    let before = store.snapshot();
    let started = Instant::now();
    let step = |kind: &str, write: &dyn Fn() -> std::io::Result<()>| -> Result<(), String> {
        let baseline = match admin {
            Some(admin) => Some(counters(admin, kind)?),
            None => None,
        };
        write().map_err(|e| format!("cannot write the {kind} of {id}: {e}"))?;
        let (Some(admin), Some(baseline)) = (admin, baseline) else {
            return Ok(());
        };
        match wait_for_update(admin, kind, baseline, started + timeout) {
            Ok(()) => Ok(()),
            Err(why) => {
                let _ = store.restore(&before);
                Err(why)
            }
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    step("cds", &|| store.write_clusters(id, now))?;
    step("lds", &|| store.write_listener(id, now))?;
    let Some(admin) = admin else {
        return Ok(Confirmed::NotChecked);
    };
    while warming(admin)? > 0 {
        if Instant::now() > started + timeout {
            return Err(format!(
                "Envoy took config {id} but its listener is still warming after {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Confirmed::ByEnvoy {
        elapsed: started.elapsed(),
    })
}

/// Returns to the config made current before the current one.
pub fn rollback(
    store: &ConfigStore,
    admin: Option<&str>,
    timeout: Duration,
) -> Result<(String, Confirmed), String> {
    let previous = store
        .previous()
        .ok_or("no earlier config to roll back to (`wasp configs list` shows the history)")?;
    rollout(store, &previous, admin, timeout).map(|confirmed| (previous, confirmed))
}

fn stat_prefix(kind: &str) -> &'static str {
    match kind {
        "cds" => "cluster_manager.cds.",
        _ => "listener_manager.lds.",
    }
}

fn stats(admin: &str) -> Result<String, String> {
    let url = format!("{}/stats", admin.trim_end_matches('/'));
    ureq::get(&url)
        .call()
        .map_err(|e| format!("cannot read Envoy's stats at {url}: {e}"))?
        .into_body()
        .read_to_string()
        .map_err(|e| format!("cannot read Envoy's stats at {url}: {e}"))
}

fn stat(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn counters(admin: &str, kind: &str) -> Result<Counters, String> {
    let text = stats(admin)?;
    let prefix = stat_prefix(kind);
    Ok(Counters {
        success: stat(&text, &format!("{prefix}update_success")),
        rejected: stat(&text, &format!("{prefix}update_rejected")),
    })
}

fn warming(admin: &str) -> Result<u64, String> {
    Ok(stat(
        &stats(admin)?,
        "listener_manager.total_listeners_warming",
    ))
}

fn wait_for_update(
    admin: &str,
    kind: &str,
    baseline: Counters,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let now = counters(admin, kind)?;
        if now.rejected > baseline.rejected {
            return Err(format!(
                "Envoy refused the new {} (its log says why); the previous config keeps serving",
                if kind == "cds" {
                    "clusters"
                } else {
                    "listener"
                }
            ));
        }
        if now.success > baseline.success {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "Envoy did not take the new {kind} in time (is it running with {}?); the previous files are back",
                "the store's envoy.yaml"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_envoys_plain_stats() {
        let text = "cluster_manager.cds.update_rejected: 1\ncluster_manager.cds.update_success: 4\nlistener_manager.lds.update_success: 2\nlistener_manager.total_listeners_warming: 0\n";
        assert_eq!(stat(text, "cluster_manager.cds.update_success"), 4);
        assert_eq!(stat(text, "cluster_manager.cds.update_rejected"), 1);
        assert_eq!(stat(text, "listener_manager.lds.update_rejected"), 0);
        assert_eq!(stat(text, "listener_manager.total_listeners_warming"), 0);
    }
}
