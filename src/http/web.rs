//! The browser client (`web/`), embedded in the binary at build time.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use super::AppState;

#[derive(RustEmbed)]
#[folder = "web/dist"]
struct Dist;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/{*path}", get(asset))
        .route("/favicon.ico", get(favicon))
        .fallback(not_found)
}

/// `GET /favicon.ico`: browsers ask for it on every page (the login form too, which
/// links no icon), so it is the client's SVG icon rather than a 404 in every log.
/// It is part of the binary even when the web client was not built.
async fn favicon() -> Response {
    let mut response = include_bytes!("../../web/src/assets/favicon.svg").as_slice().into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// The client's page. Never cached, so a new release is picked up at once.
pub fn index_html() -> Response {
    let mut response = match Dist::get("index.html") {
        Some(file) => Html(file.data.into_owned()).into_response(),
        None => Html(
            "<!doctype html><title>Parley</title><p>The web client was not built into this binary \
             (built with PARLEY_SKIP_WEB_BUILD). The API and Socket.IO endpoint work.</p>"
                .as_bytes()
                .to_vec(),
        )
        .into_response(),
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A hashed asset: its name changes with its content, so it is cached for good.
async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = Dist::get(&format!("assets/{path}")) else { return not_found().await };
    let mime = file.metadata.mimetype().to_owned();
    let mut response = file.data.into_owned().into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}
