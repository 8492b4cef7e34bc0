//! An echo backend that speaks HTTP/1.1 and HTTP/2 (hyper), over plain TCP
//! (h2c by prior knowledge) or TLS (ALPN), and reports what only such a server
//! can see: the HTTP version, the `:authority` and the TLS SNI. Its replies
//! are the same [`Echoed`] JSON as the tiny_http echo backend. Unlike that one, it
//! serves any number of simultaneous new connections at once (tiny_http's task pool
//! can leave a connection queued behind busy keep-alive ones until one closes).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::echo::Echoed;
use crate::tls::TestCa;

/// A running hyper echo backend; stops (with its runtime) when dropped.
pub struct HyperEcho {
    addr: SocketAddr,
    tls: bool,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HyperEcho {
    /// Plain TCP: HTTP/1.1, or HTTP/2 when the client starts with the h2 preface.
    pub fn plain() -> HyperEcho {
        HyperEcho::start(None)
    }

    /// TLS with a certificate from `ca`; ALPN picks HTTP/2 or HTTP/1.1.
    pub fn tls(ca: &TestCa) -> HyperEcho {
        HyperEcho::start(Some(TlsAcceptor::from(ca.server_config())))
    }

    /// TLS that also requires a client certificate `ca` signed (mutual TLS).
    pub fn mutual_tls(ca: &TestCa) -> HyperEcho {
        HyperEcho::start(Some(TlsAcceptor::from(
            ca.server_config_requiring_clients(),
        )))
    }

    fn start(tls: Option<TlsAcceptor>) -> HyperEcho {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("start a tokio runtime for the hyper echo backend");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the hyper echo backend on 127.0.0.1:0");
        let addr = listener.local_addr().expect("hyper echo local address");
        let is_tls = tls.is_some();
        runtime.spawn(accept_loop(listener, tls, addr));
        HyperEcho {
            addr,
            tls: is_tls,
            runtime: Some(runtime),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>` or `https://localhost:<port>` (the name the certificate carries).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://{}:{}", crate::tls::SERVER_NAME, self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }
}

impl Drop for HyperEcho {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, addr: SocketAddr) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(tcp, None, addr).await,
                Some(acceptor) => {
                    // A failed handshake (e.g. a client that does not trust the CA) just ends the connection.
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let sni = stream.get_ref().1.server_name().map(str::to_string);
                        serve(stream, sni, addr).await;
                    }
                }
            }
        });
    }
}

async fn serve<I>(io: I, sni: Option<String>, addr: SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sni = Arc::new(sni);
    let service = hyper::service::service_fn(move |request| {
        let sni = Arc::clone(&sni);
        async move { Ok::<_, Infallible>(answer(request, sni.as_ref().clone(), addr).await) }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(
    request: Request<Incoming>,
    sni: Option<String>,
    addr: SocketAddr,
) -> Response<Full<Bytes>> {
    let mut seen = echoed(&request, sni, addr);
    if let Ok(body) = http_body_util::BodyExt::collect(request.into_body()).await {
        let body = body.to_bytes();
        if !body.is_empty() {
            seen.body_sha256 = Some(crate::echo::sha256_hex(&body));
        }
    }
    let (status, delay) = seen.requested_status_and_delay();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let body = serde_json::to_string(&seen).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn echoed(request: &Request<Incoming>, sni: Option<String>, addr: SocketAddr) -> Echoed {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let version = match request.version() {
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "other",
    };
    Echoed {
        method: request.method().as_str().to_string(),
        path: request.uri().path().to_string(),
        query: request.uri().query().unwrap_or("").to_string(),
        headers,
        served_by: Some(addr.to_string()),
        version: Some(version.to_string()),
        authority: request.uri().authority().map(|a| a.to_string()),
        sni,
        id_token: None,
        body_sha256: None,
    }
    .with_checks()
}
