//! Harness for wasp's integration tests: every test runs the real `wasp`
//! compiler, a real Envoy with the real filter module, and real HTTP backends,
//! each on free loopback ports, and stops them when it ends (pass or fail).

pub mod control;
pub mod controlled;
pub mod echo;
pub mod eg_shape;
pub mod envoy;
pub mod expect;
pub mod fake_control;
pub mod gateway;
pub mod http;
pub mod hyper_echo;
pub mod iam;
pub mod id_token;
pub mod idp;
pub mod istio_shape;
pub mod manifests;
pub mod metadata;
pub mod oci;
pub mod otlp;
pub mod podman;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod redis_cluster;
pub mod spec;
pub mod tls;
pub mod tools;

pub use control::{ApiKey, ControlOptions, ControlService};
pub use controlled::ControlledGateway;
pub use echo::{EchoBackend, Echoed};
pub use envoy::Envoy;
pub use fake_control::FakeControl;
pub use gateway::Gateway;
pub use http::{Client, Reply};
pub use hyper_echo::HyperEcho;
pub use iam::{IamCall, IamServer};
pub use idp::{Idp, SigningKey};
pub use metadata::MetadataServer;
pub use postgres::Postgres;
pub use redis::Redis;
pub use redis_cluster::RedisCluster;
pub use spec::CompileInput;
pub use tls::TestCa;
pub use tools::Tools;
