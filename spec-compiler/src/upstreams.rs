//! Every Envoy cluster a compiled config names: the backends its routes forward to
//! and the origins the filter calls out to. The bootstrap renders them as clusters;
//! the deploy targets declare them the way their control plane wants (Istio's
//! ServiceEntry, Envoy Gateway's patched clusters).

use crate::backend::Backend;
use std::collections::HashMap;

/// Why a cluster exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamRole {
    /// A route forwards requests to it.
    Backend,
    /// JWKS or OpenID discovery documents.
    Jwks,
    /// The metadata server (ID tokens, Service Control's access token).
    Metadata,
    /// IAM Credentials (ID tokens for another service account).
    Iam,
    /// Service Control (or wasp-control).
    ServiceControl,
    /// The OpenTelemetry collector Envoy's tracer sends spans to (`--tracing`).
    Tracing,
}

impl UpstreamRole {
    /// The filter calls it itself (`dispatch_http_call`); a request never goes there.
    pub fn is_callout(self) -> bool {
        self != UpstreamRole::Backend
    }
}

/// One cluster: its name in the filter config, where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub backend: Backend,
    pub role: UpstreamRole,
}

impl Upstream {
    pub fn new(name: impl Into<String>, backend: &Backend, role: UpstreamRole) -> Upstream {
        Upstream {
            name: name.into(),
            backend: backend.clone(),
            role,
        }
    }
}

/// How the filter config names the clusters it routes to and calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClusterNaming {
    /// The names wasp's own bootstrap gives (`backend-<host>_<port>`, `wasp-metadata`, ...).
    #[default]
    Wasp,
    /// Istio's: `outbound|<port>||<host>` for every service and ServiceEntry port.
    Istio,
}

impl ClusterNaming {
    /// The name of `upstream`'s cluster under this naming.
    pub fn name(self, upstream: &Upstream) -> String {
        match self {
            ClusterNaming::Wasp => upstream.name.clone(),
            ClusterNaming::Istio => format!(
                "outbound|{}||{}",
                upstream.backend.port, upstream.backend.host
            ),
        }
    }
}

impl ClusterNaming {
    /// The upstreams under this naming, one per name (Istio has one cluster per host
    /// and port, whatever uses it), and each old name's new one.
    pub fn apply(self, upstreams: Vec<Upstream>) -> (Vec<Upstream>, HashMap<String, String>) {
        let mut renamed = HashMap::with_capacity(upstreams.len());
        let mut named: Vec<Upstream> = Vec::with_capacity(upstreams.len());
        for mut upstream in upstreams {
            let name = self.name(&upstream);
            renamed.insert(upstream.name.clone(), name.clone());
            if named.iter().any(|u| u.name == name) {
                continue;
            }
            upstream.name = name;
            named.push(upstream);
        }
        (named, renamed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_names_clusters_by_port_and_host() {
        let b = Backend::parse("https://www.googleapis.com").unwrap();
        let up = Upstream::new("jwks-www.googleapis.com_443", &b, UpstreamRole::Jwks);
        assert_eq!(ClusterNaming::Wasp.name(&up), "jwks-www.googleapis.com_443");
        assert_eq!(
            ClusterNaming::Istio.name(&up),
            "outbound|443||www.googleapis.com"
        );
    }
}
