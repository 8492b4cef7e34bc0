//! A real server speaking IAM Credentials' `generateIdToken`:
//! `POST /v1/projects/-/serviceAccounts/<email>:generateIdToken` with
//! `Authorization: Bearer <the metadata server's access token>` and a JSON body
//! `{"audience", "includeEmail", "delegates"}` answers `{"token": "<RS256 JWT>"}`
//! signed by the same test key the echo backends verify. It refuses what IAM
//! refuses: no or another access token (401), an account it does not know (403),
//! a body without an audience (400). Every call is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::{id_token, metadata};

/// One `generateIdToken` call as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamCall {
    pub account: String,
    pub audience: String,
    pub include_email: bool,
    pub delegates: Vec<String>,
    /// The status the server answered.
    pub status: u16,
}

/// A running IAM Credentials server on a free loopback port; stops when dropped.
pub struct IamServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    calls: Arc<Mutex<Vec<IamCall>>>,
    thread: Option<JoinHandle<()>>,
}

impl IamServer {
    /// Mints tokens for `accounts` only, as IAM does for accounts the caller may impersonate.
    pub fn start(accounts: &[&str]) -> IamServer {
        let _ = id_token::public_key_pem();
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the IAM server"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("the IAM server listens on an IP address");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let known: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
        let serving = Arc::clone(&server);
        let recording = Arc::clone(&calls);
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                answer(request, &known, &recording);
            }
        });
        IamServer {
            addr,
            server,
            calls,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, as for `wasp compile --iam-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<IamCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for IamServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut request: tiny_http::Request, known: &[String], calls: &Mutex<Vec<IamCall>>) {
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("authorization"))
        .map(|h| h.value.as_str().to_string());
    let account = request
        .url()
        .strip_prefix("/v1/projects/-/serviceAccounts/")
        .and_then(|rest| rest.strip_suffix(":generateIdToken"))
        .map(str::to_string);
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let audience = parsed["audience"].as_str().unwrap_or_default().to_string();
    let call = |status| IamCall {
        account: account.clone().unwrap_or_default(),
        audience: audience.clone(),
        include_email: parsed["includeEmail"].as_bool().unwrap_or(false),
        delegates: parsed["delegates"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        status,
    };
    let expected_auth = format!("Bearer {}", metadata::ACCESS_TOKEN);
    let (status, reply) = if request.method() != &tiny_http::Method::Post || account.is_none() {
        (404, error(404, "NOT_FOUND", "not a generateIdToken call"))
    } else if authorization.as_deref() != Some(expected_auth.as_str()) {
        (
            401,
            error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
        )
    } else if !known.iter().any(|k| Some(k) == account.as_ref()) {
        (
            403,
            error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            ),
        )
    } else if audience.is_empty() {
        (400, error(400, "INVALID_ARGUMENT", "audience is required"))
    } else {
        let token = id_token::mint(&audience);
        (200, serde_json::json!({ "token": token }).to_string())
    };
    calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(call(status));
    let response = tiny_http::Response::from_string(reply)
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes("content-type", "application/json")
                .expect("a valid header"),
        );
    let _ = request.respond(response);
}

/// Google's JSON error shape.
fn error(code: u16, status: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}
