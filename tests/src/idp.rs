//! A real identity provider for the JWT tests: signing keys generated at test time
//! (RS256, ES256, EdDSA, HS256), published over real HTTP or HTTPS on a free loopback port
//! in the three `x-google-jwks_uri` formats, plus an OIDC discovery document, and tokens
//! minted with any header and claims.
//!
//! | path | body |
//! |---|---|
//! | `/jwks...` | JWK set of the published asymmetric keys |
//! | `/x509...` | Google's certificate map `{"<kid>": "-----BEGIN CERTIFICATE-----..."}` |
//! | `/symmetric...` | the published HMAC secret, base64url |
//! | `.../.well-known/openid-configuration` | `{"issuer": <issuer>, "jwks_uri": <base>/jwks}` |
//!
//! Tests steer it while Envoy runs: [`Idp::answer`] (keys, an error status, garbage, a huge
//! body), [`Idp::set_delay`], [`Idp::go_down`] / [`Idp::come_up`] (connections refused),
//! [`Idp::publish`] / [`Idp::retire`] (key rotation). It counts requests per path
//! ([`Idp::fetches`]) so tests can see how often the gateway fetched.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jwt_simple::prelude::RS256KeyPair;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_rustls::TlsAcceptor;

use crate::tls::TestCa;

pub const JWKS_PATH: &str = "/jwks";
pub const X509_PATH: &str = "/x509";
pub const SYMMETRIC_PATH: &str = "/symmetric";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS over exactly this header and these claims, signed by `sign`.
pub fn compact(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// An HS256 token under an arbitrary secret (the HS/RS confusion attack signs with the
/// provider's public RSA key bytes).
pub fn hs256_with_secret(secret: &[u8], header: &Value, claims: &Value) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    compact(header, claims, |input| {
        ring::hmac::sign(&key, input).as_ref().to_vec()
    })
}

/// The algorithm family of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rs256,
    Es256,
    EdDsa,
    Hs256,
}

impl KeyKind {
    pub fn alg(self) -> &'static str {
        match self {
            KeyKind::Rs256 => "RS256",
            KeyKind::Es256 => "ES256",
            KeyKind::EdDsa => "EdDSA",
            KeyKind::Hs256 => "HS256",
        }
    }
}

enum Material {
    Rsa {
        pair: RsaKeyPair,
        n: Vec<u8>,
        e: Vec<u8>,
        pkcs8: Vec<u8>,
    },
    Ec {
        pair: EcdsaKeyPair,
        pkcs8: Vec<u8>,
    },
    Ed {
        pair: Ed25519KeyPair,
        pkcs8: Vec<u8>,
    },
    Hmac {
        secret: Vec<u8>,
    },
}

/// A private key with its `kid`; clones share the key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub kind: KeyKind,
    material: Arc<Material>,
    /// Made once: a provider's certificate map is the same document on every fetch.
    certificate: Arc<OnceLock<Option<String>>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, {})", self.kid, self.kind.alg())
    }
}

/// PKCS#8 of RSA-2048 key `index` of a per-process pool: pure-Rust RSA key generation
/// takes seconds in a debug build, so tests share a few keys (each with its own kid).
fn pooled_rsa_pkcs8(index: usize) -> Vec<u8> {
    static POOL: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    POOL[index % POOL.len()]
        .get_or_init(|| {
            RS256KeyPair::generate(2048)
                .and_then(|k| k.to_der())
                .expect("generate an RSA test key")
        })
        .clone()
}

impl SigningKey {
    /// An RSA-2048 key (RS256) from the pool (`index` 0 or 1).
    pub fn rs256(kid: &str, index: usize) -> SigningKey {
        let pkcs8 = pooled_rsa_pkcs8(index);
        let components = RS256KeyPair::from_der(&pkcs8)
            .expect("pooled RSA key")
            .public_key()
            .to_components();
        let pair = RsaKeyPair::from_pkcs8(&pkcs8).expect("ring reads the RSA key");
        SigningKey::new(
            kid,
            KeyKind::Rs256,
            Material::Rsa {
                pair,
                n: components.n,
                e: components.e,
                pkcs8,
            },
        )
    }

    /// A new P-256 key (ES256).
    pub fn es256(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let alg = &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .expect("generate a P-256 key")
            .as_ref()
            .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &rng).expect("read the P-256 key");
        SigningKey::new(kid, KeyKind::Es256, Material::Ec { pair, pkcs8 })
    }

    /// A new Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> SigningKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("generate an Ed25519 key")
            .as_ref()
            .to_vec();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).expect("read the Ed25519 key");
        SigningKey::new(kid, KeyKind::EdDsa, Material::Ed { pair, pkcs8 })
    }

    /// A new random 32-byte HMAC secret (HS256).
    pub fn hs256(kid: &str) -> SigningKey {
        let mut secret = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut secret)
            .expect("random HMAC secret");
        SigningKey::new(kid, KeyKind::Hs256, Material::Hmac { secret })
    }

    fn new(kid: &str, kind: KeyKind, material: Material) -> SigningKey {
        SigningKey {
            kid: kid.to_string(),
            kind,
            material: Arc::new(material),
            certificate: Arc::new(OnceLock::new()),
        }
    }

    pub fn alg(&self) -> &'static str {
        self.kind.alg()
    }

    /// The raw JWS signature of `input`.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &*self.material {
            Material::Rsa { pair, .. } => {
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .expect("RSA signature");
                signature
            }
            Material::Ec { pair, .. } => pair
                .sign(&rng, input)
                .expect("ECDSA signature")
                .as_ref()
                .to_vec(),
            Material::Ed { pair, .. } => pair.sign(input).as_ref().to_vec(),
            Material::Hmac { secret } => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                ring::hmac::sign(&key, input).as_ref().to_vec()
            }
        }
    }

    /// The usual header: `{"alg", "kid", "typ": "JWT"}`.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"})
    }

    /// A token with [`SigningKey::header`] and these claims.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_header(&self.header(), claims)
    }

    /// A token with exactly this header and these claims, signed by this key.
    pub fn mint_with_header(&self, header: &Value, claims: &Value) -> String {
        compact(header, claims, |input| self.sign(input))
    }

    /// The public JWK (`None` for an HMAC secret, which no JWK set carries).
    pub fn jwk(&self) -> Option<Value> {
        match &*self.material {
            Material::Rsa { n, e, .. } => Some(json!({
                "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64(n), "e": b64(e),
            })),
            Material::Ec { pair, .. } => {
                let point = pair.public_key().as_ref();
                Some(json!({
                    "kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                }))
            }
            Material::Ed { pair, .. } => Some(json!({
                "kty": "OKP", "crv": "Ed25519", "kid": self.kid, "x": b64(pair.public_key().as_ref()),
            })),
            Material::Hmac { .. } => None,
        }
    }

    /// A self-signed X.509 certificate (PEM) for the public key (`None` for HMAC).
    pub fn certificate_pem(&self) -> Option<String> {
        self.certificate
            .get_or_init(|| self.make_certificate())
            .clone()
    }

    fn make_certificate(&self) -> Option<String> {
        let (pkcs8, alg) = match &*self.material {
            Material::Rsa { pkcs8, .. } => (pkcs8, &rcgen::PKCS_RSA_SHA256),
            Material::Ec { pkcs8, .. } => (pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256),
            Material::Ed { pkcs8, .. } => (pkcs8, &rcgen::PKCS_ED25519),
            Material::Hmac { .. } => return None,
        };
        let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            alg,
        )
        .expect("rcgen reads the key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("wasp test key {}", self.kid),
        );
        Some(params.self_signed(&key).expect("self-sign").pem())
    }

    /// The public key as DER SubjectPublicKeyInfo (RSA only), what an HS/RS confusion
    /// attacker would use as the HMAC secret.
    pub fn rsa_public_der(&self) -> Option<Vec<u8>> {
        match &*self.material {
            Material::Rsa { pkcs8, .. } => RS256KeyPair::from_der(pkcs8)
                .and_then(|k| k.public_key().to_der())
                .ok(),
            _ => None,
        }
    }

    /// The HMAC secret, base64url: the symmetric key document.
    pub fn symmetric_document(&self) -> Option<String> {
        match &*self.material {
            Material::Hmac { secret } => Some(b64(secret)),
            _ => None,
        }
    }
}

/// What the key and discovery paths answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The documents.
    Documents,
    /// This status with a short text body (503: the provider is unavailable).
    Status(u16),
    /// 200 with an HTML page.
    Garbage,
    /// 200 with a valid JWK set padded to this many bytes.
    Huge(usize),
    /// 200 with this body (JSON that is no key document, a key set of unusable keys...).
    Body(String),
}

struct State {
    issuer: String,
    base: String,
    /// The discovery document's `jwks_uri`; `None`: this server's `/jwks`.
    jwks_uri: Option<String>,
    keys: Vec<SigningKey>,
    answer: Answer,
    delay: Duration,
    fetches: BTreeMap<String, u32>,
    server_names: Vec<Option<String>>,
}

impl State {
    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().filter_map(SigningKey::jwk).collect();
        json!({ "keys": keys })
    }

    fn render(&self, path: &str) -> (u16, &'static str, Vec<u8>) {
        match &self.answer {
            Answer::Status(status) => return (*status, "text/plain", b"unavailable".to_vec()),
            Answer::Garbage => {
                return (
                    200,
                    "text/html",
                    b"<html><body>Service temporarily moved</body></html>".to_vec(),
                )
            }
            Answer::Body(body) => return (200, "application/json", body.clone().into_bytes()),
            Answer::Huge(size) => {
                let mut document = self.jwks();
                let padding = size.saturating_sub(document.to_string().len() + 16);
                document["padding"] = json!("x".repeat(padding));
                return (200, "application/json", document.to_string().into_bytes());
            }
            Answer::Documents => {}
        }
        let json_body = |value: Value| (200, "application/json", value.to_string().into_bytes());
        // Real providers put documents under longer paths (Google's x509 URLs end in an
        // account e-mail, Keycloak's issuers have a realm path), so prefixes select them.
        let document = if path.ends_with(DISCOVERY_PATH) {
            DISCOVERY_PATH
        } else {
            [JWKS_PATH, X509_PATH, SYMMETRIC_PATH]
                .into_iter()
                .find(|prefix| path.starts_with(prefix))
                .unwrap_or("")
        };
        match document {
            JWKS_PATH => json_body(self.jwks()),
            X509_PATH => {
                let map: serde_json::Map<String, Value> = self
                    .keys
                    .iter()
                    .filter_map(|k| Some((k.kid.clone(), json!(k.certificate_pem()?))))
                    .collect();
                json_body(Value::Object(map))
            }
            SYMMETRIC_PATH => match self.keys.iter().find_map(SigningKey::symmetric_document) {
                Some(secret) => (200, "text/plain", secret.into_bytes()),
                None => (404, "text/plain", b"no symmetric key".to_vec()),
            },
            DISCOVERY_PATH => json_body(json!({
                "issuer": self.issuer,
                "jwks_uri": self.jwks_uri.clone().unwrap_or_else(|| format!("{}{JWKS_PATH}", self.base)),
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            })),
            _ => (404, "text/plain", b"not found".to_vec()),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    connections: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running identity provider; stops when dropped.
pub struct Idp {
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Idp {
    /// Serves over plain HTTP; the issuer is `http://127.0.0.1:<port>`.
    pub fn start(keys: Vec<SigningKey>) -> Idp {
        Idp::start_with(None, "127.0.0.1:0", keys)
    }

    /// Serves over plain HTTP on `bind` (`[::1]:0` for an IPv6 issuer).
    pub fn start_on(bind: &str, keys: Vec<SigningKey>) -> Idp {
        Idp::start_with(None, bind, keys)
    }

    /// Serves over HTTPS with a certificate from `ca`; the issuer is
    /// `https://localhost:<port>` (the name the certificate carries).
    pub fn start_tls(ca: &TestCa, keys: Vec<SigningKey>) -> Idp {
        Idp::start_with(
            Some(TlsAcceptor::from(ca.server_config())),
            "127.0.0.1:0",
            keys,
        )
    }

    fn start_with(tls: Option<TlsAcceptor>, bind: &str, keys: Vec<SigningKey>) -> Idp {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("start a tokio runtime for the identity provider");
        let listener = runtime
            .block_on(TcpListener::bind(bind))
            .unwrap_or_else(|e| panic!("bind the identity provider on {bind}: {e}"));
        let addr = listener.local_addr().expect("identity provider address");
        let base = match tls {
            Some(_) => format!("https://{}:{}", crate::tls::SERVER_NAME, addr.port()),
            None => format!("http://{addr}"),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                issuer: base.clone(),
                base,
                jwks_uri: None,
                keys,
                answer: Answer::Documents,
                delay: Duration::ZERO,
                fetches: BTreeMap::new(),
                server_names: Vec::new(),
            }),
            connections: Mutex::new(Vec::new()),
        });
        let accept = runtime.spawn(accept_loop(listener, tls.clone(), Arc::clone(&shared)));
        Idp {
            addr,
            tls,
            shared,
            accept: Mutex::new(Some(accept)),
            runtime: Some(runtime),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` or `https://localhost:<port>`; also the issuer.
    pub fn base(&self) -> String {
        self.shared.state().base.clone()
    }

    /// The `iss` of its tokens and the `x-google-issuer` of its provider.
    pub fn issuer(&self) -> String {
        self.shared.state().issuer.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Claims valid now for `audience`: `iss`, `sub`, `aud`, `iat`, `exp` (+10 min).
    pub fn claims(&self, audience: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer(),
            "sub": "user-1",
            "aud": audience,
            "iat": now,
            "exp": now + 600,
        })
    }

    /// The published key with this kid.
    pub fn key(&self, kid: &str) -> SigningKey {
        self.shared
            .state()
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .unwrap_or_else(|| panic!("the identity provider has no key {kid:?}"))
    }

    /// Adds a key to the documents.
    pub fn publish(&self, key: SigningKey) {
        self.shared.state().keys.push(key);
    }

    /// Removes a key from the documents.
    pub fn retire(&self, kid: &str) {
        self.shared.state().keys.retain(|k| k.kid != kid);
    }

    /// What the paths answer from now on.
    pub fn answer(&self, answer: Answer) {
        self.shared.state().answer = answer;
    }

    /// Makes the issuer `<base><path>` (a tenant or realm path, discovery document under it).
    pub fn set_issuer_path(&self, path: &str) {
        let mut state = self.shared.state();
        state.issuer = format!("{}{path}", state.base);
    }

    /// Points the discovery document's `jwks_uri` elsewhere (keys hosted on another origin).
    pub fn discover_keys_at(&self, jwks_uri: &str) {
        self.shared.state().jwks_uri = Some(jwks_uri.to_string());
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state().delay = delay;
    }

    /// Requests received for `path` (any answer).
    pub fn fetches(&self, path: &str) -> u32 {
        self.shared.state().fetches.get(path).copied().unwrap_or(0)
    }

    /// Requests received per path.
    pub fn all_fetches(&self) -> BTreeMap<String, u32> {
        self.shared.state().fetches.clone()
    }

    /// The TLS server names (SNI) of the connections so far (HTTPS only).
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.shared.state().server_names.clone()
    }

    /// Stops listening and drops every open connection: connections are refused
    /// until [`Idp::come_up`].
    pub fn go_down(&self) {
        let runtime = self.runtime();
        if let Some(accept) = self.lock_accept().take() {
            accept.abort();
            let _ = runtime.block_on(accept);
        }
        let connections = std::mem::take(
            &mut *self
                .shared
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for connection in connections {
            connection.abort();
        }
    }

    /// Listens again on the same port.
    pub fn come_up(&self) {
        let mut accept = self.lock_accept();
        if accept.is_some() {
            return;
        }
        let runtime = self.runtime();
        let listener = runtime
            .block_on(TcpListener::bind(self.addr))
            .unwrap_or_else(|e| panic!("re-bind the identity provider on {}: {e}", self.addr));
        *accept = Some(runtime.spawn(accept_loop(
            listener,
            self.tls.clone(),
            Arc::clone(&self.shared),
        )));
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    fn lock_accept(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.accept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let tls = tls.clone();
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            match tls {
                None => serve(tcp, serving).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let sni = stream.get_ref().1.server_name().map(str::to_string);
                        serving.state().server_names.push(sni);
                        serve(stream, serving).await;
                    }
                }
            }
        });
        let mut connections = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections.retain(|c| !c.is_finished());
        connections.push(task.abort_handle());
    }
}

async fn serve<I>(io: I, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(answer(request, &shared).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(request: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let (delay, (status, content_type, body)) = {
        let mut state = shared.state();
        *state.fetches.entry(path.clone()).or_default() += 1;
        (state.delay, state.render(&path))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_kind_signs_what_its_public_half_verifies() {
        let keys = [
            SigningKey::es256("e"),
            SigningKey::ed25519("d"),
            SigningKey::hs256("h"),
        ];
        for key in keys {
            let token = key.mint(&json!({"sub": "x"}));
            let (input, signature) = token.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            let verified = match key.kind {
                KeyKind::Es256 => {
                    let jwk = key.jwk().unwrap();
                    let mut point = vec![4u8];
                    point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
                    point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
                    ring_sig::UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, point)
                        .verify(input.as_bytes(), &signature)
                        .is_ok()
                }
                KeyKind::EdDsa => {
                    let jwk = key.jwk().unwrap();
                    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
                    ring_sig::UnparsedPublicKey::new(&ring_sig::ED25519, x)
                        .verify(input.as_bytes(), &signature)
                        .is_ok()
                }
                KeyKind::Hs256 => {
                    let secret = URL_SAFE_NO_PAD
                        .decode(key.symmetric_document().unwrap())
                        .unwrap();
                    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
                    ring::hmac::verify(&mac, input.as_bytes(), &signature).is_ok()
                }
                KeyKind::Rs256 => unreachable!(),
            };
            assert!(verified, "{key:?}");
            assert_eq!(
                key.certificate_pem().is_some(),
                key.kind != KeyKind::Hs256,
                "{key:?}"
            );
        }
    }
}
