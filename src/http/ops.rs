//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
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

/// `GET /metrics` with `Authorization: Bearer <--metrics-token>` → Prometheus
/// text format; 401 without the token; 404 when no token is set (metrics
/// count logins and registrations, which are nobody else's business; a
/// scraper without a token uses `--metrics-bind`).
#[utoipa::path(get, tag = "operations", path = "/metrics", responses(
    (status = 200, description = "Prometheus text format"),
    (status = 401, description = "no or wrong bearer token"),
    (status = 404, description = "no metrics token set")))]
pub async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.web.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| same_secret(g.trim().as_bytes(), token.as_bytes())) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    metrics::gauge!("parley_connections_open").set(state.chat.connection_count() as f64);
    render(&state.web.metrics)
}

fn render(handle: &PrometheusHandle) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The router of `--metrics-bind`: `/metrics` without a token, nothing else.
pub fn metrics_only(handle: PrometheusHandle, chat: crate::chat::Chat) -> axum::Router {
    let serve = move || async move {
        metrics::gauge!("parley_connections_open").set(chat.connection_count() as f64);
        render(&handle)
    };
    axum::Router::new().route("/metrics", get(serve))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley", description = "Parley's HTTP API. The Socket.IO protocol is in docs/protocol.md."),
    paths(
        healthz, readyz, metrics_text, openapi,
        super::api::register, super::api::login, super::api::logout, super::api::rooms,
        super::me::me, super::me::update_me, super::me::change_password, super::me::end_sessions, super::users::users,
        super::admin::settings, super::admin::change_settings, super::admin::create_invite, super::admin::invites,
        super::admin::revoke_invite, super::admin::change_user,
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
