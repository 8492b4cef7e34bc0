//! Assembles a running control service from its options: database (SQLite or Postgres),
//! control configs, quota backend (Redis or Redis Cluster when given URLs, memory
//! otherwise), then serves HTTP.

use crate::admin;
use crate::config_reload::ConfigFiles;
use crate::control::ControlService;
use crate::database::{Database, DatabaseAddress};
use crate::http::{routes, AppState};
use crate::quota::{MemoryWindows, QuotaWindows};
use crate::redis_windows::{RedisOptions, RedisWindows};
use crate::report_minutes::ReportMinutes;
use crate::reports::ReportLog;
use anyhow::Context;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Everything `wasp-control serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub db: DatabaseAddress,
    pub configs: Vec<PathBuf>,
    /// Where the quota windows live; `None`: in this process.
    pub redis: Option<RedisOptions>,
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
    crate::tls::install_crypto();
    let (config_files, configs) =
        ConfigFiles::open(options.configs.clone()).map_err(anyhow::Error::msg)?;
    let database = Database::open(&options.db)
        .await
        .with_context(|| format!("cannot open the database {}", options.db.describe()))?;
    let windows: Arc<dyn QuotaWindows> = match &options.redis {
        Some(redis) => Arc::new(RedisWindows::connect(redis).await?),
        None => Arc::new(MemoryWindows::new()),
    };
    let reports = match options.report_retention_days {
        0 => ReportLog::new(),
        days => ReportLog::durable(ReportMinutes::new(database.minutes, days)),
    };
    let control = ControlService::new(configs, database.keys, windows, Arc::new(reports))
        .map_err(anyhow::Error::msg)?
        .with_key_cache(std::time::Duration::from_secs(options.key_cache_seconds));
    Ok(AppState {
        control,
        config_files: Arc::new(config_files),
        control_token: options.control_token.clone(),
        admin_token: options.admin_token.clone(),
    })
}

/// Serves plain HTTP (HTTP/1.1 and h2c) until `shutdown` completes; reloads the config
/// files every `reload_interval_secs` (0: never on a timer) and on SIGHUP.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    reload_interval_secs: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(state, reload_interval_secs);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

/// The same over TLS ([`crate::tls`]): each accepted connection is handshaken, then served
/// as HTTP/2 or HTTP/1.1 by its ALPN. On `shutdown` the listener closes and open
/// connections finish their requests (at most [`DRAIN`]).
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    reload_interval_secs: u64,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(state, reload_interval_secs);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // A client that never finishes its handshake holds no task for long; one whose
            // certificate is refused is dropped here, before any request.
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await else {
                return;
            };
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let connection = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long open connections may finish their requests after shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// The routes, with the reload loop started beside them.
fn app(state: AppState, reload_interval_secs: u64) -> axum::Router {
    let state = Arc::new(state);
    tokio::spawn(reload_loop(Arc::clone(&state), reload_interval_secs));
    routes().merge(admin::routes()).with_state(state)
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
