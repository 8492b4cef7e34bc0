//! Assembles a running control service from its options: key database, control configs,
//! quota backend (Redis when given a URL, memory otherwise), then serves HTTP.

use crate::control::ControlService;
use crate::http::{router, AppState};
use crate::quota::{MemoryWindows, QuotaWindows, RedisWindows};
use crate::reports::ReportLog;
use crate::store::KeyStore;
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasp_config::control::ControlConfig;

/// Everything `wasp-control serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub db: PathBuf,
    pub configs: Vec<PathBuf>,
    pub redis: Option<String>,
    pub admin_token: Option<String>,
    pub control_token: Option<String>,
}

/// Reads one control config; errors name the file.
pub fn load_config(path: &std::path::Path) -> anyhow::Result<ControlConfig> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read control config {}", path.display()))?;
    ControlConfig::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Builds the shared state; fails fast on a bad config, database or Redis URL.
pub async fn build_state(options: &ServeOptions) -> anyhow::Result<AppState> {
    let configs = options
        .configs
        .iter()
        .map(|path| load_config(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let keys = KeyStore::open(&options.db)
        .with_context(|| format!("cannot open key database {}", options.db.display()))?;
    let windows: Arc<dyn QuotaWindows> = match &options.redis {
        Some(url) => Arc::new(RedisWindows::connect(url).await?),
        None => Arc::new(MemoryWindows::new()),
    };
    let control = ControlService::new(configs, Arc::new(keys), windows, Arc::new(ReportLog::new()))
        .map_err(anyhow::Error::msg)?;
    Ok(AppState {
        control,
        control_token: options.control_token.clone(),
        admin_token: options.admin_token.clone(),
    })
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(Arc::new(state)))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}
