//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/openapi.json", get(openapi))
}

/// `GET /healthz` → 200 while the process runs.
#[utoipa::path(get, tag = "operations", path = "/healthz", responses((status = 200, description = "the process is up")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz` → 200 when the database answers, 503 when it does not.
#[utoipa::path(get, tag = "operations", path = "/readyz", responses((status = 200), (status = 503, description = "database unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.chat.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

/// `GET /metrics` → Prometheus text format.
#[utoipa::path(get, tag = "operations", path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    metrics::gauge!("parley_connections_open").set(state.chat.connection_count() as f64);
    let body = state.web.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley", description = "Parley's HTTP API. The Socket.IO protocol is in PROTOCOL.md."),
    paths(
        healthz, readyz, metrics_text, openapi,
        super::api::register, super::api::login, super::api::logout, super::api::me, super::api::rooms,
        super::api::messages, super::api::online_users, super::api::online_users_in_room,
        super::pages::index, super::pages::login_form, super::pages::login_submit,
        super::pages::register_form, super::pages::register_submit, super::pages::logout,
    )
)]
pub struct ApiDoc;

/// `GET /api/openapi.json` → this API's OpenAPI 3.1 document.
#[utoipa::path(get, tag = "operations", path = "/api/openapi.json", responses((status = 200, description = "the OpenAPI document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
