//! The HTTP face of the control service: Google's Service Control paths with protobuf
//! bodies (`POST /v1/services/{service}:check|allocateQuota|report`), the admin API
//! (`admin.rs`) and `GET /healthz`. Decoding, auth and status codes only; the calls
//! themselves are in `control.rs`.

use crate::config_reload::ConfigFiles;
use crate::control::{CallError, ControlService};
use crate::metrics::Outcome;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wasp_servicecontrol::check_error::Code as CheckCode;
use wasp_servicecontrol::quota_error::Code as QuotaCode;
use wasp_servicecontrol::{
    AllocateQuotaRequest, CheckRequest, Message, Method, ReportRequest, CONTENT_TYPE,
};

/// Shared by every handler.
pub struct AppState {
    pub control: ControlService,
    /// The control configs' files, read again on reload.
    pub config_files: Arc<ConfigFiles>,
    /// Bearer token gateways must send on `/v1/services/...`; `None` accepts any caller.
    pub control_token: Option<String>,
    /// Bearer token for `/admin/...`; `None` disables the admin API.
    pub admin_token: Option<String>,
}

/// The Service Control API and the health check (the server adds the admin routes).
pub fn routes() -> Router<Arc<AppState>> {
    // `{target}` is `<service>:<verb>` in one segment; the router cannot split on ':',
    // so the handler parses the full path itself.
    Router::new()
        .route("/v1/services/{target}", post(service_call))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
}

/// Prometheus' text format; no token, it holds no key and no consumer.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut response = state.control.metrics().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Unix seconds now. The only clock read of the request path.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Google's JSON error shape: `{"error": {"code", "message", "status"}}`.
pub fn json_error(status: StatusCode, status_name: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": { "code": status.as_u16(), "message": message, "status": status_name }
    });
    (status, axum::Json(body)).into_response()
}

/// Compares a request's `Authorization: Bearer <token>` with the expected token.
/// Hashing both first keeps the comparison time independent of where they differ.
pub fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    Sha256::digest(presented.trim().as_bytes()) == Sha256::digest(expected.as_bytes())
}

fn is_protobuf(headers: &HeaderMap) -> bool {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(value) => value
            .split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(CONTENT_TYPE)),
    }
}

fn protobuf_response(message: &impl Message) -> Response {
    let mut response = message.encode_to_vec().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn call_error(error: &CallError) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_error(status, error.status_name(), error.message())
}

fn decode<M: Message + Default>(body: &Bytes) -> Result<M, CallError> {
    M::decode(body.as_ref()).map_err(|e| {
        CallError::InvalidArgument(format!("request body is not a valid protobuf message: {e}"))
    })
}

async fn service_call(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = &state.control_token {
        if !bearer_matches(&headers, token) {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "missing or wrong `Authorization: Bearer <token>` for the control API",
            );
        }
    }
    // Some clients percent-encode the ':' before the verb.
    let path = uri.path().replace("%3A", ":").replace("%3a", ":");
    let Some((service, method)) = Method::parse_path(&path) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("{path} is not a Service Control method; use /v1/services/<service>:check, :allocateQuota or :report"),
        );
    };
    if !is_protobuf(&headers) {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT",
            &format!("send the request as Content-Type: {CONTENT_TYPE}"),
        );
    }
    let control = &state.control;
    let metrics = control.metrics();
    let started = Instant::now();
    // Each answer with the names of the errors in it (a denial), for the metrics.
    let result = match method {
        Method::Check => match decode::<CheckRequest>(&body) {
            Ok(request) => control.check(service, &request).await.map(|response| {
                let codes = response
                    .check_errors
                    .iter()
                    .map(|e| code_name::<CheckCode>(e.code));
                (protobuf_response(&response), codes.collect())
            }),
            Err(error) => Err(error),
        },
        Method::AllocateQuota => match decode::<AllocateQuotaRequest>(&body) {
            Ok(request) => control
                .allocate_quota(service, &request, unix_now())
                .await
                .map(|response| {
                    let codes = response
                        .allocate_errors
                        .iter()
                        .map(|e| code_name::<QuotaCode>(e.code));
                    (protobuf_response(&response), codes.collect())
                }),
            Err(error) => Err(error),
        },
        Method::Report => match decode::<ReportRequest>(&body) {
            Ok(request) => control
                .report(service, &request, unix_now())
                .await
                .map(|response| (protobuf_response(&response), Vec::new())),
            Err(error) => Err(error),
        },
    };
    let method_name = method.verb();
    match result {
        Ok((response, denials)) => {
            let outcome = if denials.is_empty() {
                Outcome::Ok
            } else {
                Outcome::Denied
            };
            metrics.call(method_name, outcome, started.elapsed());
            for code in &denials {
                metrics.denial(method_name, code);
            }
            response
        }
        Err(error) => {
            metrics.call(
                method_name,
                Outcome::Error(error.status_name()),
                started.elapsed(),
            );
            call_error(&error)
        }
    }
}

/// A Google error code's name (`ApiKeyInvalid`), or its number when unknown.
fn code_name<C: TryFrom<i32> + std::fmt::Debug>(code: i32) -> String {
    C::try_from(code).map_or_else(|_| code.to_string(), |c| format!("{c:?}"))
}
