//! The Service Control settings live in the shared schema (`wasp_config::service_control`),
//! which the compiler writes and the filter reads; re-exported here.

pub use wasp_config::service_control::*;
