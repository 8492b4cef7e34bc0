//! A stand-in for Google's Service Control: HTTP/1.1 POSTs of protobuf `check`,
//! `allocateQuota` and `report` messages, answered with real protobuf messages (an empty
//! message is an allowed Check, a granted allocation, an accepted report), or with what a
//! broken control service sends: bytes that are no protobuf, an oversized body. It records
//! every call so a test can decode what the gateway sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use wasp_servicecontrol::{CheckRequest, Message, ReportRequest};

/// How the fake answers every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the empty message of the method's response type.
    Allow,
    /// 200 with these bytes as the body.
    Body(Vec<u8>),
}

/// One call the gateway made.
#[derive(Debug, Clone)]
pub struct Call {
    /// `/v1/services/<service>:check` and the like.
    pub path: String,
    pub body: Vec<u8>,
    /// The W3C trace context the call carried, if any.
    pub traceparent: Option<String>,
}

struct Shared {
    answer: Answer,
    calls: Vec<Call>,
}

/// A running fake on a loopback port; stops when dropped.
pub struct FakeControl {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeControl {
    /// Serves on `127.0.0.1:port` (0: any free port).
    pub fn start(port: u16, answer: Answer) -> FakeControl {
        let server = Arc::new(
            tiny_http::Server::http(("127.0.0.1", port)).expect("bind the fake Service Control"),
        );
        let addr = server
            .server_addr()
            .to_ip()
            .expect("the fake listens on an IP address");
        let shared = Arc::new(Mutex::new(Shared {
            answer,
            calls: Vec::new(),
        }));
        let serving = Arc::clone(&server);
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for mut request in serving.incoming_requests() {
                let mut body = Vec::new();
                let _ = std::io::Read::read_to_end(request.as_reader(), &mut body);
                let traceparent = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("traceparent"))
                    .map(|h| h.value.to_string());
                let answer = {
                    let mut shared = state.lock().unwrap_or_else(|p| p.into_inner());
                    shared.calls.push(Call {
                        path: request.url().to_string(),
                        body,
                        traceparent,
                    });
                    shared.answer.clone()
                };
                let bytes = match answer {
                    // Every method's empty response message encodes as no bytes.
                    Answer::Allow => Vec::new(),
                    Answer::Body(bytes) => bytes,
                };
                let content_type =
                    tiny_http::Header::from_bytes("content-type", "application/x-protobuf")
                        .expect("static header is valid");
                let _ = request
                    .respond(tiny_http::Response::from_data(bytes).with_header(content_type));
            }
        });
        FakeControl {
            addr,
            server,
            shared,
            thread: Some(thread),
        }
    }

    /// The URL for `wasp compile --service-control-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the answer for the calls that follow.
    pub fn answer(&self, answer: Answer) {
        self.lock().answer = answer;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The Check requests so far, decoded.
    pub fn checks(&self) -> Vec<CheckRequest> {
        self.calls()
            .iter()
            .filter(|call| call.path.ends_with(":check"))
            .map(|call| CheckRequest::decode(call.body.as_slice()).expect("a CheckRequest"))
            .collect()
    }

    /// The Report requests so far, decoded.
    pub fn reports(&self) -> Vec<ReportRequest> {
        self.calls()
            .iter()
            .filter(|call| call.path.ends_with(":report"))
            .map(|call| ReportRequest::decode(call.body.as_slice()).expect("a ReportRequest"))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeControl {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
