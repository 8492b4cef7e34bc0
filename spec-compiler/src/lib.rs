//! `wasp compile`: OpenAPI 2.0 with `x-google-*` extensions -> the filter
//! config (`filter.json`) and an Envoy bootstrap (`envoy.yaml`).
//!
//! Pipeline: `source` (bytes -> document) -> `spec` (document -> typed view
//! with pointers) -> `operations` (names, templates, cross-file checks) ->
//! `compile` (filter config + hash) -> `bootstrap` (Envoy config).
//! `x_google_backend` resolves each operation's backend, `routes` turns those
//! into Envoy routes and clusters, `cors` checks the `--cors-*` options.

pub mod backend;
pub mod backend_auth_iam;
pub mod bootstrap;
pub mod cli;
pub mod compile;
pub mod config_store;
pub mod cors;
pub mod deploy;
pub mod edge;
pub mod errors;
pub mod hash;
pub mod header_name;
pub mod jwks_clusters;
pub mod jwt_providers;
pub mod management;
pub mod model;
pub mod operations;
pub mod options;
pub mod origin;
pub mod plan;
pub mod pointer;
pub mod read;
pub mod render;
pub mod rollout;
pub mod routes;
pub mod service_control;
pub mod telemetry;
pub mod upstreams;
pub mod x_google_backend;
