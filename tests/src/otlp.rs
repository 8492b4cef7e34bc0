//! A real OpenTelemetry collector endpoint on loopback, as far as Envoy's tracer is
//! concerned: OTLP/HTTP `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`,
//! answered `200` with an empty `ExportTraceServiceResponse`. It keeps every span it got.
//! The message types are the OTLP protocol's own (opentelemetry-proto's
//! `trace/v1/trace.proto` and `common/v1/common.proto`), declared here with the fields
//! the tests read; prost skips the rest.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
    }
}

impl Span {
    /// An attribute's value as text (numbers and booleans written out).
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self
            .attributes
            .iter()
            .find(|kv| kv.key == key)?
            .value
            .as_ref()?;
        Some(match value.value.as_ref()? {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::BoolValue(b) => b.to_string(),
            any_value::Value::IntValue(i) => i.to_string(),
            any_value::Value::DoubleValue(d) => d.to_string(),
        })
    }

    /// The trace id as W3C writes it (32 lower-case hex digits).
    pub fn trace_id_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A received span and the `service.name` of the resource it came with.
#[derive(Debug, Clone)]
pub struct Received {
    pub service: String,
    pub span: Span,
}

pub struct OtlpReceiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    pub fn start() -> OtlpReceiver {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the OTLP receiver"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("the OTLP receiver listens on IP");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, spans) = (Arc::clone(&server), Arc::clone(&spans));
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = Vec::new();
                    let read = request.as_reader().read_to_end(&mut body).is_ok();
                    let decoded = (request.url() == "/v1/traces" && read)
                        .then(|| ExportTraceServiceRequest::decode(body.as_slice()).ok())
                        .flatten();
                    let status = match decoded {
                        Some(export) => {
                            spans.lock().unwrap().extend(received(export));
                            200
                        }
                        None => 400,
                    };
                    let header =
                        tiny_http::Header::from_bytes("content-type", "application/x-protobuf")
                            .expect("a valid header");
                    let _ = request.respond(
                        tiny_http::Response::from_data(Vec::new())
                            .with_status_code(status)
                            .with_header(header),
                    );
                }
            })
        };
        OtlpReceiver {
            addr,
            spans,
            server,
            thread: Some(thread),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans once `count` have arrived (Envoy exports in batches), or what there is
    /// after `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn received(export: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    out
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
