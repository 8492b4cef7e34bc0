//! The control listener over TLS: HTTP/2 by ALPN, and gateways identified by a client
//! certificate when `--tls-client-ca` is given. A CA, the server's certificate and client
//! certificates are made at test time (rcgen); the client is reqwest over rustls.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::net::SocketAddr;
use std::path::Path;
use wasp_control::server::{build_state, serve_tls};
use wasp_control::tls::{server_config, TlsFiles};
use wasp_servicecontrol::*;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf for `localhost` and 127.0.0.1 (server) or a named client: (cert PEM, key PEM).
    fn issue(&self, name: &str, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = if server {
            vec!["localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).unwrap();
        if server {
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
        }
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Serves over TLS in this process; `client_ca` turns on client-certificate auth.
async fn start_tls(dir: &Path, ca: &Ca, client_ca: Option<&Ca>) -> SocketAddr {
    let (cert, key) = ca.issue("wasp-control", true);
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    let client_ca_file = client_ca.map(|client_ca| {
        let path = dir.join("clients-ca.crt");
        std::fs::write(&path, client_ca.cert.pem()).unwrap();
        path
    });
    let tls = server_config(&TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        client_ca: client_ca_file,
    })
    .unwrap();
    let config = write_config(dir);
    let state = build_state(&options(&dir.join("keys.db"), &config))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_tls(
        listener,
        state,
        0,
        tls,
        std::future::pending::<()>(),
    ));
    addr
}

/// A client trusting `ca`, presenting `identity` (cert + key PEM) when given.
fn client(ca: &Ca, identity: Option<(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert.pem().as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn gateways_with_a_certificate_from_the_client_ca_are_served_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, gateways_ca) = (Ca::new("servers"), Ca::new("gateways"));
    let addr = start_tls(dir.path(), &server_ca, Some(&gateways_ca)).await;
    let base = format!("https://localhost:{}", addr.port());

    let gateway = client(&server_ca, Some(gateways_ca.issue("gateway-a", false)));
    let health = gateway.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2, "ALPN chose h2");

    // The Service Control protocol itself works over it: a key created through the
    // admin API checks valid.
    let created = gateway
        .post(format!("{base}/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "project_id": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = created.json::<serde_json::Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let check = gateway
        .post(format!("{base}{}", Method::Check.path(SERVICE)))
        .header("content-type", CONTENT_TYPE)
        .body(check_request(&format!("api_key:{key}")).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
    let answer = CheckResponse::decode(check.bytes().await.unwrap().as_ref()).unwrap();
    assert!(answer.check_errors.is_empty(), "{answer:?}");

    // No certificate, or one from another CA: the handshake fails, no request is read.
    let anonymous = client(&server_ca, None);
    assert!(anonymous
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err());
    let stranger = client(&server_ca, Some(Ca::new("other").issue("intruder", false)));
    assert!(stranger
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err());
    // Plain HTTP to the TLS port gets no answer either.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[tokio::test]
async fn without_a_client_ca_any_client_is_served_and_http1_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("servers");
    let addr = start_tls(dir.path(), &server_ca, None).await;
    let http1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(server_ca.cert.pem().as_bytes()).unwrap(),
        )
        .http1_only()
        .build()
        .unwrap();
    let health = http1
        .get(format!("https://localhost:{}/healthz", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);
}

#[test]
fn files_that_are_not_a_certificate_and_its_key_fail_at_start_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("servers");
    let (cert, _) = ca.issue("wasp-control", true);
    let (_, other_key) = ca.issue("someone-else", true);
    std::fs::write(dir.path().join("server.crt"), cert).unwrap();
    std::fs::write(dir.path().join("other.key"), other_key).unwrap();
    std::fs::write(dir.path().join("empty.crt"), "not a certificate").unwrap();
    let files = |cert: &str, key: &str| TlsFiles {
        cert: dir.path().join(cert),
        key: dir.path().join(key),
        client_ca: None,
    };
    let mismatched = server_config(&files("server.crt", "other.key"))
        .unwrap_err()
        .to_string();
    assert!(
        mismatched.contains("server.crt") && mismatched.contains("other.key"),
        "{mismatched}"
    );
    let empty = format!(
        "{:#}",
        server_config(&files("empty.crt", "other.key")).unwrap_err()
    );
    assert!(empty.contains("empty.crt"), "{empty}");
    let missing = format!(
        "{:#}",
        server_config(&files("missing.crt", "other.key")).unwrap_err()
    );
    assert!(missing.contains("missing.crt"), "{missing}");
}
