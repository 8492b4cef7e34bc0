//! `wasp-control` command line: `keys create|list|revoke` work on the database directly
//! (no server needed; a running server sees the change on its next lookup), `serve` runs
//! the HTTP service.

use crate::database::{Database, DatabaseAddress};
use crate::redis_windows::RedisOptions;
use crate::server::{build_state, serve, serve_tls, ServeOptions};
use crate::store::{KeyInfo, KeyStore};
use crate::tls::TlsFiles;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "wasp-control",
    version,
    about = "Self-hosted Service Control for wasp: API keys, quotas, reports"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Serve Service Control (check, allocateQuota, report) and the admin API over HTTP.
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// Where keys and reports live: a SQLite file (created if missing), or a Postgres URL
    /// (postgres://user:password@host:5432/db[?sslmode=require]) shared by replicas.
    #[arg(
        long,
        visible_alias = "database",
        env = "WASP_CONTROL_DB",
        default_value = "wasp-control.db"
    )]
    pub db: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a consumer project; the key is printed once.
    Create {
        /// Consumer project id the key belongs to.
        #[arg(long)]
        project: String,
        /// Project number (kept per project; a random 12-digit one when omitted).
        #[arg(long)]
        project_number: Option<i64>,
        #[command(flatten)]
        db: DbArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secret).
    List {
        #[command(flatten)]
        db: DbArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; checks with it fail from then on.
    Revoke {
        /// The key id (`k...`), as `keys list` shows it.
        id: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Control config JSON written by `wasp compile` (one per service; repeatable).
    #[arg(long = "config", required = true, num_args = 1..)]
    pub configs: Vec<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub listen: String,
    /// Keep quota windows in Redis so replicas share limits: redis://host:6379/0, or
    /// rediss:// for TLS; a password or ACL user goes in the URL (rediss://user:pw@host:6380).
    /// With --redis-cluster, the URLs are seed nodes of a Redis Cluster (repeatable or
    /// comma-separated: percent-encode a comma in a password as %2C).
    #[arg(long, env = "WASP_CONTROL_REDIS", value_delimiter = ',')]
    pub redis: Vec<String>,
    /// The --redis URLs are nodes of a Redis Cluster (slots discovered, MOVED/ASK followed).
    #[arg(long, requires = "redis")]
    pub redis_cluster: bool,
    /// PEM CA bundle that signed the Redis servers' certificates (rediss://); the system's
    /// roots without it.
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub redis_ca: Option<PathBuf>,
    /// PEM client certificate for Redis servers that require one (with --redis-client-key).
    #[arg(long, value_name = "FILE", requires = "redis_client_key")]
    pub redis_client_cert: Option<PathBuf>,
    /// PEM key of --redis-client-cert.
    #[arg(long, value_name = "FILE", requires = "redis_client_cert")]
    pub redis_client_key: Option<PathBuf>,
    /// Serve TLS with this PEM certificate chain (with --tls-key): HTTP/2 or HTTP/1.1 by ALPN.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require gateways to present a client certificate signed by this PEM CA (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Bearer token for /admin/...; without it the admin API is disabled.
    #[arg(long, env = "WASP_CONTROL_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Bearer token gateways must send on /v1/services/...; without it any caller is accepted.
    #[arg(long, env = "WASP_CONTROL_TOKEN")]
    pub control_token: Option<String>,
    /// Seconds between checks of the --config files; a changed set is served at once
    /// (keys and quota windows kept), a bad one refused. 0: reload only on SIGHUP or
    /// POST /admin/config/reload.
    #[arg(long, default_value_t = 2)]
    pub reload_interval_seconds: u64,
    /// Days the per-minute report rows are kept in the database (GET
    /// /admin/reports/minutes); 0 keeps reports in memory only.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub report_retention_days: u32,
    /// Seconds a key lookup is reused before the database is asked again: a revoked key
    /// stops within this bound (on every replica sharing the database). 0: every call asks.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub key_cache_seconds: u64,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keys { action } => run_keys(action).await,
        Command::Serve(args) => run_serve(*args).await,
    }
}

async fn open(db: &DbArg) -> anyhow::Result<Arc<dyn KeyStore>> {
    let address = DatabaseAddress::parse(&db.db);
    let database = Database::open(&address)
        .await
        .with_context(|| format!("cannot open the database {}", address.describe()))?;
    Ok(database.keys)
}

async fn run_keys(action: KeysCommand) -> anyhow::Result<()> {
    let now = crate::http::unix_now();
    match action {
        KeysCommand::Create {
            project,
            project_number,
            db,
            json,
        } => {
            let created = open(&db)
                .await?
                .create(&project, project_number, now)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "created key {} for project {} (number {})",
                    created.info.id, created.info.project_id, created.info.project_number
                );
                println!("key: {}", created.key);
                println!("store it now: only its hash is kept, it cannot be shown again");
            }
        }
        KeysCommand::List { db, json } => {
            let keys = open(&db).await?.list().await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                print_key_table(&keys);
            }
        }
        KeysCommand::Revoke { id, db } => {
            if !open(&db).await?.revoke(&id, now).await? {
                anyhow::bail!("no API key has id {id:?}; `wasp-control keys list` shows the ids");
            }
            println!("revoked key {id}");
        }
    }
    Ok(())
}

fn print_key_table(keys: &[KeyInfo]) {
    println!(
        "{:<18} {:<30} {:>14} {:>12} state",
        "id", "project", "number", "created"
    );
    for key in keys {
        let state = if key.is_revoked() {
            "revoked"
        } else {
            "active"
        };
        println!(
            "{:<18} {:<30} {:>14} {:>12} {state}",
            key.id, key.project_id, key.project_number, key.created_at
        );
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let redis = (!args.redis.is_empty()).then(|| RedisOptions {
        urls: args.redis.clone(),
        cluster: args.redis_cluster,
        ca_file: args.redis_ca.clone(),
        client_cert: args
            .redis_client_cert
            .clone()
            .zip(args.redis_client_key.clone()),
    });
    let options = ServeOptions {
        db: DatabaseAddress::parse(&args.db.db),
        configs: args.configs,
        redis,
        admin_token: args.admin_token,
        control_token: args.control_token,
        reload_interval_secs: args.reload_interval_seconds,
        report_retention_days: args.report_retention_days,
        key_cache_seconds: args.key_cache_seconds,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(&TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
        })?),
        _ => None,
    };
    let state = build_state(&options).await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let windows = match &options.redis {
        Some(redis) => redis.describe(),
        None => "memory".into(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let clients = if args.tls_client_ca.is_some() {
        ", client certificates required"
    } else {
        ""
    };
    println!(
        "wasp-control listening on {scheme}://{address} (database: {}; quota windows: {windows}{clients})",
        options.db.describe()
    );
    std::io::stdout().flush()?;
    let reload = options.reload_interval_secs;
    match tls {
        Some(tls) => serve_tls(listener, state, reload, tls, shutdown_signal()).await,
        None => serve(listener, state, reload, shutdown_signal()).await,
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
