//! Backend addresses: `--backend`, `--metadata-url` and `x-google-backend.address`.

use std::net::IpAddr;
use url::{Host, Url};

/// Envoy cluster of the metadata server (`--metadata-url`) that mints backend ID tokens.
pub const METADATA_CLUSTER: &str = "wasp-metadata";

/// A parsed backend address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub tls: bool,
    /// Host name or IP literal, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// `Some` for an IP literal (static cluster), `None` for a DNS name.
    pub ip: Option<IpAddr>,
    /// Speak HTTP/2 to it (`protocol: h2`); HTTP/1.1 otherwise.
    pub http2: bool,
}

impl Backend {
    /// Parses `http[s]://host[:port][/]`. The message of an error says what to
    /// write instead.
    pub fn parse(text: &str) -> Result<Backend, String> {
        let (backend, path) = Backend::parse_with_path(text)?;
        if !path.is_empty() {
            return Err(format!(
                "{text:?} has a path; give only scheme, host and port (per-operation paths come from x-google-backend)"
            ));
        }
        Ok(backend)
    }

    /// Parses `http[s]://host[:port][/path]` (an `x-google-backend` address):
    /// the backend and the path with one trailing `/` trimmed (`/` alone
    /// becomes empty), as ESPv2 parses addresses.
    pub fn parse_with_path(text: &str) -> Result<(Backend, String), String> {
        if !text.contains("://") {
            return Err(format!(
                "{text:?} has no scheme; write http://{text} or https://{text}"
            ));
        }
        let url = Url::parse(text).map_err(|e| {
            format!("{text:?} is not a URL ({e}); write it like http://127.0.0.1:8081 or https://backend.example.com")
        })?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "scheme {other:?} in {text:?} is not supported; use http:// or https://"
                ))
            }
        };
        let (host, ip) = match url.host() {
            Some(Host::Domain(name)) if !name.is_empty() => (name.to_string(), None),
            Some(Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
            Some(Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
            _ => {
                return Err(format!(
                    "{text:?} has no host; write it like http://127.0.0.1:8081"
                ))
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{text:?} carries credentials; remove the user:password@ part"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?} has a query or fragment; remove the part from '?' or '#' on"
            ));
        }
        let port = url.port_or_known_default().ok_or_else(|| {
            format!("{text:?} has no port and its scheme has no default; add :PORT")
        })?;
        let path = url.path();
        let path = path.strip_suffix('/').unwrap_or(path).to_string();
        let backend = Backend {
            tls,
            host,
            port,
            ip,
            http2: false,
        };
        Ok((backend, path))
    }

    /// Envoy cluster name, after ESPv2's `backend-cluster-<host>:<port>` but
    /// shorter: `backend-<host>_<port>`, `-h2` for an HTTP/2 backend.
    pub fn cluster_name(&self) -> String {
        let h2 = if self.http2 { "-h2" } else { "" };
        format!("backend-{}_{}{h2}", self.host, self.port)
    }

    /// A loopback backend is a sidecar: requests keep the client's Host.
    pub fn is_loopback(&self) -> bool {
        match self.ip {
            Some(ip) => ip.is_loopback(),
            None => self.host.eq_ignore_ascii_case("localhost"),
        }
    }

    /// The Host header a remote backend expects: the host, plus the port
    /// when it is not the scheme's default.
    pub fn authority(&self) -> String {
        let host = match self.ip {
            Some(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_and_name_backends() {
        let b = Backend::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (false, "127.0.0.1", 8081));
        assert!(b.ip.is_some() && b.is_loopback());
        assert_eq!(b.cluster_name(), "backend-127.0.0.1_8081");

        let b = Backend::parse("https://backend.example.com/").unwrap();
        assert_eq!(
            (b.tls, b.host.as_str(), b.port, b.ip),
            (true, "backend.example.com", 443, None)
        );
        assert!(!b.is_loopback());
        assert_eq!(b.authority(), "backend.example.com");
        assert_eq!(
            Backend::parse("http://api.internal:9000")
                .unwrap()
                .authority(),
            "api.internal:9000"
        );

        let b = Backend::parse("http://[::1]:8081").unwrap();
        assert_eq!(b.host, "::1");
        assert!(b.is_loopback());
        assert_eq!(b.authority(), "[::1]:8081");
        assert_eq!(Backend::parse("http://localhost").unwrap().port, 80);
    }

    #[test]
    fn addresses_keep_their_path_without_one_trailing_slash() {
        let path = |text: &str| Backend::parse_with_path(text).unwrap().1;
        assert_eq!(path("https://fn.example.com"), "");
        assert_eq!(path("https://fn.example.com/"), "");
        assert_eq!(path("https://fn.example.com/api/"), "/api");
        assert_eq!(path("https://fn.example.com/a/b"), "/a/b");
        assert_eq!(path("https://fn.example.com/a//"), "/a/");
        let (b, _) = Backend::parse_with_path("https://fn.example.com:8443/x").unwrap();
        assert_eq!(
            (b.tls, b.port, b.authority()),
            (true, 8443, "fn.example.com:8443".into())
        );
        let mut b = b;
        b.http2 = true;
        assert_eq!(b.cluster_name(), "backend-fn.example.com_8443-h2");
    }

    #[test]
    fn rejects_bad_backends_with_a_fix() {
        for (bad, expect) in [
            (
                "127.0.0.1:8081",
                "has no scheme; write http://127.0.0.1:8081",
            ),
            (
                "grpc://127.0.0.1:8081",
                "not supported; use http:// or https://",
            ),
            ("ftp://files.example.com", "not supported"),
            ("http://bad host", "is not a URL"),
            ("http://", "is not a URL"),
            ("http://u:p@h.example.com", "credentials"),
            ("http://h.example.com/api", "has a path"),
            ("http://h.example.com/?a=b", "query or fragment"),
            ("http://h.example.com/#x", "query or fragment"),
        ] {
            let e = Backend::parse(bad).unwrap_err();
            assert!(e.contains(expect), "{bad}: {e}");
        }
    }
}
