//! A URL's origin (scheme, host, port): where a fetch goes, so what a callout cluster is
//! made for. Read from specs (JWKS URIs, issuers) and options (`--jwks-origin`), planned
//! into clusters by `jwks_clusters`.

use crate::backend::Backend;
use std::net::IpAddr;
use url::{Host, Url};

/// The scheme and authority of a URL: what a fetch needs a cluster for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `scheme://authority` as written in the URL (the filter matches fetch URLs against it),
    /// lower-cased.
    pub text: String,
    pub backend: Backend,
}

/// Parses an absolute http(s) URL into its origin; the error says what is wrong.
pub fn parse_origin(text: &str) -> Result<Origin, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not an absolute URL ({e})"))?;
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(format!(
                "{text:?} uses scheme {other:?}; only http and https URLs can be fetched"
            ))
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} carries credentials; remove the user:password@ part"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "{text:?} has a fragment; remove the part from '#' on"
        ));
    }
    let (host, ip) = match url.host() {
        Some(Host::Domain(name)) if !name.is_empty() => (name.to_string(), None),
        Some(Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Some(Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
        _ => return Err(format!("{text:?} has no host")),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{text:?} has no port"))?;
    // The authority as written (`fetch_request` compares the URL's own text), which the url
    // crate would normalise (default ports dropped, IPv6 compressed).
    let after_scheme = text
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| {
            format!("{text:?} is not an absolute URL; write it like https://host/path")
        })?;
    let authority_len = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = after_scheme.get(..authority_len).unwrap_or(after_scheme);
    Ok(Origin {
        text: format!("{}://{}", url.scheme(), authority.to_ascii_lowercase()),
        backend: Backend {
            tls,
            host,
            port,
            ip,
            http2: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_the_authority_as_written() {
        let o = parse_origin("https://Keys.Example.com/a/jwks.json?x=1").unwrap();
        assert_eq!(o.text, "https://keys.example.com");
        assert_eq!(
            (o.backend.tls, o.backend.port, o.backend.ip),
            (true, 443, None)
        );
        let o = parse_origin("http://127.0.0.1:8081/k").unwrap();
        assert_eq!(o.text, "http://127.0.0.1:8081");
        assert!(o.backend.ip.is_some());
        let o = parse_origin("https://keys.example.com:443/k").unwrap();
        assert_eq!(o.text, "https://keys.example.com:443");
        let o = parse_origin("https://[::1]:9443/k").unwrap();
        assert_eq!(
            (o.text.as_str(), o.backend.host.as_str()),
            ("https://[::1]:9443", "::1")
        );
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(parse_origin("ftp://x/k")
            .unwrap_err()
            .contains("only http and https"));
        assert!(parse_origin("keys.example.com/k")
            .unwrap_err()
            .contains("not an absolute URL"));
        assert!(parse_origin("https://u:p@x/k")
            .unwrap_err()
            .contains("credentials"));
        assert!(parse_origin("https://x/k#f")
            .unwrap_err()
            .contains("fragment"));
        assert!(parse_origin("accounts@example.iam.gserviceaccount.com").is_err());
    }
}
