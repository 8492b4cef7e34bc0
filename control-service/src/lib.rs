//! `wasp-control`: a self-hosted Google Service Control v1 for wasp gateways.
//!
//! Serves `POST /v1/services/{service}:check`, `:allocateQuota` and `:report` with
//! protobuf bodies (the `wasp-servicecontrol` types) for the services described by the
//! control configs `wasp compile` writes (`wasp_config::control::ControlConfig`).
//! API keys and report minutes live in SQLite or Postgres (keys hashed); quota windows in
//! memory, Redis or a Redis Cluster.

pub mod admin;
pub mod cli;
pub mod config_reload;
pub mod consumer;
pub mod control;
pub mod database;
pub mod http;
pub mod key_cache;
pub mod metrics;
pub mod postgres_store;
pub mod quota;
pub mod redact;
pub mod redis_windows;
pub mod report_minutes;
pub mod reported;
pub mod reports;
pub mod server;
pub mod sqlite_store;
pub mod store;
pub mod tls;
