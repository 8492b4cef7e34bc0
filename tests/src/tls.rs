//! A throw-away certificate authority made at test time (rcgen): a CA whose PEM
//! goes to `wasp compile --root-certs`, and a server certificate it signed for
//! `localhost` (and 127.0.0.1) that the TLS echo backend (or Envoy's HTTPS listener)
//! presents; client certificates it signs, and a small rustls client for the listener.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The host name the server certificate is issued for.
pub const SERVER_NAME: &str = "localhost";

/// A CA and one server certificate it issued.
pub struct TestCa {
    pub ca_pem: String,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
    server_cert: CertificateDer<'static>,
    server_cert_pem: String,
    server_key: Vec<u8>,
    server_key_pem: String,
}

/// A client certificate and its key, for mutual TLS.
pub struct ClientIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Shown without its keys (test options that hold a CA print it).
impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    /// A new CA and a server certificate for [`SERVER_NAME`] and 127.0.0.1.
    pub fn new() -> TestCa {
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "wasp integration-test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");

        let server_key = KeyPair::generate().expect("generate the server key");
        let mut server =
            CertificateParams::new(vec![SERVER_NAME.to_string()]).expect("server parameters");
        server
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        server
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("sign the server certificate");
        TestCa {
            ca_pem: ca_cert.pem(),
            ca_cert,
            ca_key,
            server_cert: server_cert.der().clone(),
            server_cert_pem: server_cert.pem(),
            server_key: server_key.serialize_der(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// Writes the server certificate and key as PEM (`server.crt`, `server.key` in `dir`).
    pub fn write_server_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        std::fs::write(&cert, &self.server_cert_pem).expect("write server.crt");
        std::fs::write(&key, &self.server_key_pem).expect("write server.key");
        (cert, key)
    }

    /// A client certificate for `name` (its common name) and its key, signed by this CA.
    fn client_certificate(&self, name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().expect("generate a client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("sign the client certificate");
        (cert, key)
    }

    /// A client certificate for `name`, signed by this CA.
    pub fn client_identity(&self, name: &str) -> ClientIdentity {
        let (cert, key) = self.client_certificate(name);
        ClientIdentity {
            certs: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// Writes a client certificate for `name` and its key as PEM (`client.crt`, `client.key`
    /// in `dir`, the layout ESPv2's --ssl_backend_client_cert_path reads).
    pub fn write_client_files(&self, dir: &Path, name: &str) {
        let (cert, key) = self.client_certificate(name);
        std::fs::write(dir.join("client.crt"), cert.pem()).expect("write client.crt");
        std::fs::write(dir.join("client.key"), key.serialize_pem()).expect("write client.key");
    }

    /// Like [`TestCa::server_config`], but a client must present a certificate this CA signed.
    pub fn server_config_requiring_clients(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert.der().clone())
            .expect("the CA certificate is a root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .expect("a client verifier");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server_cert.clone()], key)
            .expect("rustls server certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Connects to `addr` over TLS trusting this CA (server name [`SERVER_NAME`]), offering
    /// `alpn`, presenting `identity` if given, and sends `request` (HTTP/1.1, which should
    /// carry `Connection: close`) unless the server chose `h2`. Returns the protocol the
    /// server chose and what it answered; `Err` when the handshake fails.
    pub fn exchange(
        &self,
        addr: std::net::SocketAddr,
        alpn: &[&str],
        identity: Option<ClientIdentity>,
        request: &[u8],
    ) -> Result<(Option<String>, String), String> {
        self.exchange_with(addr, rustls::DEFAULT_VERSIONS, alpn, identity, request)
    }

    /// [`TestCa::exchange`] offering only these TLS versions.
    pub fn exchange_with(
        &self,
        addr: std::net::SocketAddr,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&str],
        identity: Option<ClientIdentity>,
        request: &[u8],
    ) -> Result<(Option<String>, String), String> {
        use std::io::{Read, Write};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_cert.der().clone())
            .map_err(|e| format!("CA not usable: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.certs, id.key)
                .map_err(|e| e.to_string())?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let name =
            rustls::pki_types::ServerName::try_from(SERVER_NAME).map_err(|e| e.to_string())?;
        let connection =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let socket = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
        }
        let chosen = stream
            .conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        if chosen.as_deref() == Some("h2") {
            return Ok((chosen, String::new()));
        }
        stream.write_all(request).map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        // A server that requires a client certificate may only refuse after the handshake.
        match stream.read_to_end(&mut response) {
            Ok(_) => {}
            Err(_) if !response.is_empty() => {}
            Err(e) => return Err(format!("TLS read failed: {e}")),
        }
        Ok((chosen, String::from_utf8_lossy(&response).into_owned()))
    }

    /// Writes the CA certificate to `<dir>/ca.pem` and returns the path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write ca.pem");
        path
    }

    /// A rustls server config presenting the server certificate and offering
    /// ALPN `h2` and `http/1.1` (the client's offer decides the protocol).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server_cert.clone()], key)
            .expect("rustls server certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}
