//! `wasp-control`: a self-hosted Google Service Control v1 for wasp gateways.
//!
//! Serves `POST /v1/services/{service}:check`, `:allocateQuota` and `:report` with
//! protobuf bodies (the `wasp-servicecontrol` types) for the services described by the
//! control configs `wasp compile` writes (`wasp_config::control::ControlConfig`).
//! API keys live hashed in SQLite; quota windows in memory or in Redis.

pub mod admin;
pub mod cli;
pub mod config_reload;
pub mod consumer;
pub mod control;
pub mod http;
pub mod key_cache;
pub mod metrics;
pub mod quota;
pub mod report_minutes;
pub mod reported;
pub mod reports;
pub mod server;
pub mod store;
