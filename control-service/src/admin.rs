//! The admin API, guarded by its own bearer token (disabled without one):
//! `POST /admin/keys` `{"project_id": "...", "project_number": 123?}` -> 201 with the key
//! (shown only here), `GET /admin/keys`, `DELETE /admin/keys/{id}`, `GET /admin/reports`,
//! `GET /admin/reports/minutes?from=&to=` (the durable per-minute rows in a time range),
//! `GET /admin/config` (the services served, reload counts, the last refusal) and
//! `POST /admin/config/reload` (read the config files now: 200 applied or unchanged, 400
//! refused with the reason; the old configs keep serving).

use crate::config_reload::Reload;
use crate::http::{bearer_matches, json_error, unix_now, AppState};
use crate::store::StoreError;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// Body of `POST /admin/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub project_id: String,
    #[serde(default)]
    pub project_number: Option<i64>,
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/keys", get(list_keys).post(create_key))
        .route("/admin/keys/{id}", delete(revoke_key))
        .route("/admin/reports", get(reports))
        .route("/admin/reports/minutes", get(report_minutes))
        .route("/admin/config", get(config))
        .route("/admin/config/reload", post(reload_config))
}

/// The error response when the caller may not use the admin API, `None` when it may.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    match &state.admin_token {
        None => Some(json_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "the admin API is disabled; start `wasp-control serve` with --admin-token",
        )),
        Some(token) if bearer_matches(headers, token) => None,
        Some(_) => Some(json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "missing or wrong `Authorization: Bearer <admin token>`",
        )),
    }
}

fn store_error(error: &StoreError) -> Response {
    match error {
        StoreError::Invalid(message) => {
            json_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
        }
        StoreError::Database(_) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &error.to_string(),
        ),
    }
}

async fn create_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let request: CreateKey = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                &format!(
                "body must be {{\"project_id\": \"...\", \"project_number\": 123 (optional)}}: {e}"
            ),
            )
        }
    };
    match state
        .control
        .keys()
        .create(&request.project_id, request.project_number, unix_now())
        .await
    {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => store_error(&error),
    }
}

async fn list_keys(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    match state.control.keys().list().await {
        Ok(keys) => Json(keys).into_response(),
        Err(error) => store_error(&error),
    }
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    match state.control.keys().revoke(&id, unix_now()).await {
        Ok(true) => Json(serde_json::json!({ "id": id, "revoked": true })).into_response(),
        Ok(false) => json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("no API key has id {id:?}"),
        ),
        Err(error) => store_error(&error),
    }
}

async fn reports(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    Json(state.control.reports().summary()).into_response()
}

/// `?from=&to=`: Unix seconds, the minutes in `[from, to)` (default: everything kept).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(default)]
    pub from: Option<i64>,
    #[serde(default)]
    pub to: Option<i64>,
}

async fn report_minutes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    range: Result<Query<TimeRange>, QueryRejection>,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let Ok(Query(range)) = range else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "from and to are Unix seconds: /admin/reports/minutes?from=1800000000&to=1800003600",
        );
    };
    let Some(minutes) = state.control.reports().minutes() else {
        return json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "reports are kept in memory only; start `wasp-control serve` with --report-retention-days above 0",
        );
    };
    let (from, to) = (range.from.unwrap_or(0), range.to.unwrap_or(i64::MAX));
    match minutes.between(from, to).await {
        Ok(rows) => {
            Json(serde_json::json!({ "from": from, "to": to, "rows": rows })).into_response()
        }
        Err(e) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &format!("cannot read the reports: {e}"),
        ),
    }
}

async fn config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let status = state.config_files.status();
    Json(serde_json::json!({
        "services": state.control.service_names(),
        "reloads_applied": status.applied,
        "reloads_refused": status.refused,
        "last_error": status.last_error,
    }))
    .into_response()
}

async fn reload_config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let reload = state.config_files.reload(&state.control, true);
    reload.log();
    let status = match reload {
        Reload::Refused { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    (status, Json(reload)).into_response()
}
