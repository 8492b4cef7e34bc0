//! The route table: one Envoy cluster per distinct backend (scheme, host, port,
//! protocol) and one route id per distinct (cluster, deadline, Host rewrite),
//! so thousands of operations on one backend still make one route.

use crate::backend::Backend;
use crate::upstreams::{Upstream, UpstreamRole};
use std::collections::HashMap;
use wasp_config::Route;

/// One Envoy route: the filter selects it by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    pub id: String,
    pub cluster: String,
    /// The backend deadline (Envoy route `timeout`).
    pub timeout_ms: u64,
    /// `host_rewrite_literal`: the backend's authority for remote backends.
    pub host_rewrite: Option<String>,
}

/// One Envoy cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPlan {
    pub name: String,
    pub backend: Backend,
}

/// What makes two backends one cluster.
type ClusterKey = (bool, String, u16, bool);

#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<RoutePlan>,
    clusters: Vec<ClusterPlan>,
    cluster_by_key: HashMap<ClusterKey, String>,
    route_by_key: HashMap<(String, u64, Option<String>), String>,
}

impl RouteTable {
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// The id of the route to `backend` with this deadline and Host rewrite,
    /// adding the route (and its cluster) on first use. Ids are `r0`, `r1`, ...
    /// in order of first use.
    pub fn route_to(
        &mut self,
        backend: &Backend,
        timeout_ms: u64,
        host_rewrite: Option<String>,
    ) -> String {
        let cluster = self.cluster_for(backend);
        let key = (cluster.clone(), timeout_ms, host_rewrite.clone());
        if let Some(id) = self.route_by_key.get(&key) {
            return id.clone();
        }
        let id = format!("r{}", self.routes.len());
        self.routes.push(RoutePlan {
            id: id.clone(),
            cluster,
            timeout_ms,
            host_rewrite,
        });
        self.route_by_key.insert(key, id.clone());
        id
    }

    fn cluster_for(&mut self, backend: &Backend) -> String {
        let key = (
            backend.tls,
            backend.host.clone(),
            backend.port,
            backend.http2,
        );
        if let Some(name) = self.cluster_by_key.get(&key) {
            return name.clone();
        }
        // http and https on one host:port share a base name; keep names unique.
        let base = backend.cluster_name();
        let mut name = base.clone();
        let mut n = 2;
        while self.clusters.iter().any(|c| c.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        self.clusters.push(ClusterPlan {
            name: name.clone(),
            backend: backend.clone(),
        });
        self.cluster_by_key.insert(key, name.clone());
        name
    }

    pub fn routes(&self) -> &[RoutePlan] {
        &self.routes
    }

    pub fn clusters(&self) -> &[ClusterPlan] {
        &self.clusters
    }

    /// The clusters as upstreams of the bootstrap.
    pub fn upstreams(&self) -> Vec<Upstream> {
        self.clusters
            .iter()
            .map(|c| Upstream::new(&c.name, &c.backend, UpstreamRole::Backend))
            .collect()
    }

    /// The routes as the filter config lists them.
    pub fn filter_routes(&self) -> Vec<Route> {
        self.routes
            .iter()
            .map(|r| Route {
                id: r.id.clone(),
                cluster: r.cluster.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(text: &str, http2: bool) -> Backend {
        let mut b = Backend::parse(text).unwrap();
        b.http2 = http2;
        b
    }

    #[test]
    fn one_cluster_per_backend_and_one_route_per_deadline() {
        let mut t = RouteTable::new();
        let local = backend("http://127.0.0.1:8081", false);
        let remote = backend("https://run.example.app", false);
        let remote_h2 = backend("https://run.example.app", true);
        let host = Some("run.example.app".to_string());
        assert_eq!(t.route_to(&local, 15_000, None), "r0");
        assert_eq!(t.route_to(&remote, 15_000, host.clone()), "r1");
        assert_eq!(t.route_to(&remote, 15_000, host.clone()), "r1");
        assert_eq!(t.route_to(&remote, 1_500, host.clone()), "r2");
        assert_eq!(t.route_to(&remote_h2, 1_500, host.clone()), "r3");
        assert_eq!(t.route_to(&local, 15_000, None), "r0");
        let names: Vec<_> = t.clusters().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "backend-127.0.0.1_8081",
                "backend-run.example.app_443",
                "backend-run.example.app_443-h2"
            ]
        );
        assert_eq!(t.routes()[2].timeout_ms, 1_500);
        assert_eq!(t.routes()[2].cluster, "backend-run.example.app_443");
        assert_eq!(t.filter_routes().len(), 4);
    }

    #[test]
    fn http_and_https_on_one_port_get_distinct_clusters() {
        let mut t = RouteTable::new();
        t.route_to(&backend("http://b.example.com:8443", false), 15_000, None);
        t.route_to(&backend("https://b.example.com:8443", false), 15_000, None);
        let names: Vec<_> = t.clusters().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["backend-b.example.com_8443", "backend-b.example.com_8443-2"]
        );
    }
}
