//! HTTP transport (axum): pages, the JSON API, health and metrics.
//!
//! Handlers decode, call one `Chat` method, and encode; errors map to statuses
//! once, in [`error`].

pub mod admin;
pub mod api;
pub mod error;
mod extract;
pub mod me;
pub mod ops;
pub mod pages;
pub mod security;
pub mod serve;
pub mod users;
pub mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;

pub use extract::{ApiJson, ApiQuery, ClientAddr, CurrentUser};

use crate::chat::Chat;
use crate::domain::ChatError;
use security::{HostPolicy, OriginPolicy};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub web: Arc<WebConfig>,
}

pub struct WebConfig {
    pub secure_cookies: bool,
    pub trust_proxy: bool,
    pub origins: Arc<OriginPolicy>,
    pub session_ttl: Duration,
    pub metrics: PrometheusHandle,
    /// `/metrics` on the main address answers only with this bearer token
    /// (and not at all without one).
    pub metrics_token: Option<String>,
}

/// Largest request body accepted (forms and JSON).
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::router())
        .merge(api::router())
        .merge(me::router())
        .merge(users::router())
        .merge(admin::router())
        .merge(ops::router())
        .merge(web::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Records each request's latency.
async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Every label takes few values: a made-up method must not become a new series.
    let method = metric_method(req.method());
    let path = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("parley_http_request_duration_seconds", "method" => method, "path" => path, "status" => status)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Adds the headers every answer carries (`App` puts it outside the
/// Socket.IO layer, so polling answers carry them too).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    // Answers about users, rooms and messages stay out of shared caches and
    // the browser's back/forward cache.
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        );
    }
    response
}

/// Refuses a request whose `Host` the server does not answer to (421
/// `unknown_host`), except health checks, which orchestrators send to an
/// address and which carry nothing a rebinding page could want.
pub async fn check_host(
    axum::extract::State(hosts): axum::extract::State<Arc<HostPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).or(req.uri().authority().map(|a| a.as_str()));
    if path == "/healthz" || path == "/readyz" || hosts.allows(host) {
        return next.run(req).await;
    }
    axum::response::IntoResponse::into_response(error::ApiError(ChatError::UnknownHost))
}

/// The method as a metric label: the standard ones, else "other".
fn metric_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}
