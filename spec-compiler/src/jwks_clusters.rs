//! The Envoy clusters the filter fetches JWKS and OIDC discovery documents through: one per
//! URL origin (scheme, host, port), named `jwks-<host>_<port>`, https verified with SNI.
//!
//! With OIDC discovery the key URL is only known at run time, and the filter can only call
//! clusters that exist. So the issuer's origin gets a cluster (it serves the discovery
//! document, and the keys too for Auth0, Okta, Keycloak...), Google's issuers also get
//! `https://www.googleapis.com` (where their discovery documents point), and
//! `--jwks-origin URL` adds any other origin a discovery document names.

use crate::backend::Backend;
use crate::origin::Origin;
use wasp_config::JwksCluster;

/// Issuers whose discovery documents point at keys on another origin.
const KNOWN_DISCOVERY_KEY_ORIGINS: [(&str, &str); 2] = [
    ("https://accounts.google.com", "https://www.googleapis.com"),
    (
        "https://securetoken.google.com/",
        "https://www.googleapis.com",
    ),
];

/// Extra origins a discovery issuer's keys are known to live on.
pub fn known_key_origins(issuer: &str) -> impl Iterator<Item = &'static str> + '_ {
    KNOWN_DISCOVERY_KEY_ORIGINS
        .iter()
        // An entry ending in '/' covers every issuer below it; any other names one issuer.
        .filter(move |(known, _)| match known.strip_suffix('/') {
            Some(_) => issuer.len() > known.len() && issuer.starts_with(known),
            None => issuer == *known,
        })
        .map(|(_, origin)| *origin)
}

/// One cluster to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksClusterPlan {
    pub name: String,
    pub backend: Backend,
}

/// The origins seen so far and the clusters serving them.
#[derive(Debug, Default)]
pub struct JwksClusters {
    clusters: Vec<JwksClusterPlan>,
    origins: Vec<JwksCluster>,
}

impl JwksClusters {
    /// Makes sure `origin` has a cluster (shared by every origin text naming the same
    /// scheme, host and port).
    pub fn add(&mut self, origin: &Origin) {
        if self.origins.iter().any(|o| o.origin == origin.text) {
            return;
        }
        let same = |c: &&JwksClusterPlan| {
            c.backend.tls == origin.backend.tls
                && c.backend.host == origin.backend.host
                && c.backend.port == origin.backend.port
        };
        let name = match self.clusters.iter().find(same) {
            Some(existing) => existing.name.clone(),
            None => {
                let base = format!("jwks-{}_{}", origin.backend.host, origin.backend.port);
                let mut name = base.clone();
                let mut n = 2;
                // http and https on one host:port.
                while self.clusters.iter().any(|c| c.name == name) {
                    name = format!("{base}-{n}");
                    n += 1;
                }
                self.clusters.push(JwksClusterPlan {
                    name: name.clone(),
                    backend: origin.backend.clone(),
                });
                name
            }
        };
        self.origins.push(JwksCluster {
            origin: origin.text.clone(),
            cluster: name,
        });
    }

    pub fn clusters(&self) -> &[JwksClusterPlan] {
        &self.clusters
    }

    /// The filter config's `jwks_clusters`.
    pub fn filter_entries(&self) -> Vec<JwksCluster> {
        self.origins.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::parse_origin;
    use wasp_config::auth::fetch_request;

    #[test]
    fn one_cluster_per_scheme_host_port_and_every_origin_text_listed() {
        let mut clusters = JwksClusters::default();
        for url in [
            "https://keys.example.com/a",
            "https://keys.example.com:443/b",
            "https://keys.example.com/c",
            "http://keys.example.com:443/d",
            "http://127.0.0.1:9000/e",
        ] {
            clusters.add(&parse_origin(url).unwrap());
        }
        let names: Vec<_> = clusters
            .clusters()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "jwks-keys.example.com_443",
                "jwks-keys.example.com_443-2",
                "jwks-127.0.0.1_9000"
            ]
        );
        let entries = clusters.filter_entries();
        assert_eq!(entries.len(), 4);
        // The filter finds the cluster for each URL as written.
        for (url, cluster) in [
            (
                "https://keys.example.com:443/b",
                "jwks-keys.example.com_443",
            ),
            ("https://KEYS.example.com/x", "jwks-keys.example.com_443"),
            (
                "http://keys.example.com:443/d",
                "jwks-keys.example.com_443-2",
            ),
        ] {
            assert_eq!(
                fetch_request(&entries, url).unwrap().cluster,
                cluster,
                "{url}"
            );
        }
    }

    #[test]
    fn google_issuers_know_where_their_keys_are() {
        let all = |i: &str| known_key_origins(i).collect::<Vec<_>>();
        assert_eq!(
            all("https://accounts.google.com"),
            ["https://www.googleapis.com"]
        );
        assert_eq!(
            all("https://securetoken.google.com/my-project"),
            ["https://www.googleapis.com"]
        );
        assert!(all("https://example.auth0.com/").is_empty());
        assert!(all("https://accounts.google.com.evil.example").is_empty());
    }
}
