//! Assembles a running control service from its options: key database, control configs,
//! quota backend (Redis when given a URL, memory otherwise), then serves HTTP.

use crate::admin;
use crate::config_reload::ConfigFiles;
use crate::control::ControlService;
use crate::http::{routes, AppState};
use crate::quota::{MemoryWindows, QuotaWindows, RedisWindows};
use crate::report_minutes::ReportMinutes;
use crate::reports::ReportLog;
use crate::store::KeyStore;
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `wasp-control serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub db: PathBuf,
    pub configs: Vec<PathBuf>,
    pub redis: Option<String>,
    pub admin_token: Option<String>,
    pub control_token: Option<String>,
    /// Seconds between checks of the config files for changes; 0: only SIGHUP and
    /// `POST /admin/config/reload`.
    pub reload_interval_secs: u64,
    /// Days per-minute report rows are kept in the key database; 0: reports in memory only.
    pub report_retention_days: u32,
    /// Seconds a key lookup is reused (the bound on a revocation's delay); 0: none.
    pub key_cache_seconds: u64,
}

/// Builds the shared state; fails fast on a bad config, database or Redis URL.
pub async fn build_state(options: &ServeOptions) -> anyhow::Result<AppState> {
    let (config_files, configs) =
        ConfigFiles::open(options.configs.clone()).map_err(anyhow::Error::msg)?;
    let keys = KeyStore::open(&options.db)
        .with_context(|| format!("cannot open key database {}", options.db.display()))?;
    let windows: Arc<dyn QuotaWindows> = match &options.redis {
        Some(url) => Arc::new(RedisWindows::connect(url).await?),
        None => Arc::new(MemoryWindows::new()),
    };
    let reports = match options.report_retention_days {
        0 => ReportLog::new(),
        days => ReportLog::durable(
            ReportMinutes::open(&options.db, days)
                .with_context(|| format!("cannot keep reports in {}", options.db.display()))?,
        ),
    };
    let control = ControlService::new(configs, Arc::new(keys), windows, Arc::new(reports))
        .map_err(anyhow::Error::msg)?
        .with_key_cache(std::time::Duration::from_secs(options.key_cache_seconds));
    Ok(AppState {
        control,
        config_files: Arc::new(config_files),
        control_token: options.control_token.clone(),
        admin_token: options.admin_token.clone(),
    })
}

/// Serves until `shutdown` completes; reloads the config files every `reload_interval_secs`
/// (0: never on a timer) and on SIGHUP.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    reload_interval_secs: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(state);
    tokio::spawn(reload_loop(Arc::clone(&state), reload_interval_secs));
    let app = routes().merge(admin::routes()).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

/// Reloads on the timer and on SIGHUP, logging what each reload that did something did.
async fn reload_loop(state: Arc<AppState>, interval_secs: u64) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut timer = tokio::time::interval(std::time::Duration::from_secs(interval_secs.max(1)));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            _ = timer.tick(), if interval_secs > 0 => false,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        #[cfg(not(unix))]
        let forced = {
            if interval_secs == 0 {
                std::future::pending::<()>().await;
            }
            timer.tick().await;
            false
        };
        state.config_files.reload(&state.control, forced).log();
    }
}
