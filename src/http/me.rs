//! `/api/me`: the logged-in user's own account (docs/protocol.md,
//! "Accounts and administration").

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api::check_origin;
use super::error::ApiError;
use super::security::set_session_cookie;
use super::{ApiJson, AppState, CurrentUser};
use crate::chat::ProfileChange;
use crate::domain::{User, UserId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me).patch(update_me))
        .route("/api/me/password", post(change_password))
        .route("/api/me/sessions", delete(end_sessions))
}

/// The logged-in user, with their server role.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub avatar_color: String,
    /// Null until files arrive.
    pub avatar_url: Option<String>,
    /// `admin` or `member`.
    pub role: &'static str,
}

impl From<&User> for MeView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            avatar_color: u.avatar_color.as_str().to_owned(),
            avatar_url: None,
            role: u.role.as_str(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileBody {
    /// The registration rules; blank: the username.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `#rrggbb`.
    #[serde(default)]
    pub avatar_color: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    pub current_password: String,
    pub new_password: String,
}

/// `GET /api/me` → `{id, username, display_name, avatar_color, avatar_url, role}`.
#[utoipa::path(get, tag = "api", path = "/api/me", responses((status = 200, body = MeView), (status = 401)))]
pub async fn me(State(state): State<AppState>, CurrentUser(session): CurrentUser) -> Result<Json<MeView>, ApiError> {
    Ok(Json(MeView::from(&state.chat.me(&session).await?)))
}

/// `PATCH /api/me {display_name?, avatar_color?}` → the user; `user_updated` to everyone.
#[utoipa::path(patch, tag = "api", path = "/api/me", request_body = ProfileBody,
    responses((status = 200, body = MeView), (status = 400, description = "invalid_display_name, invalid_avatar_color, invalid_payload"),
              (status = 401), (status = 403, description = "cross_site_request")))]
pub async fn update_me(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Json<MeView>, ApiError> {
    check_origin(&state, &headers)?;
    let change = ProfileChange { display_name: body.display_name.as_deref(), avatar_color: body.avatar_color.as_deref() };
    Ok(Json(MeView::from(&state.chat.update_profile(&session, change).await?)))
}

/// `POST /api/me/password {current_password, new_password}` → 204; every
/// other session of the user ends and its sockets close.
#[utoipa::path(post, tag = "api", path = "/api/me/password", request_body = PasswordBody,
    responses((status = 204, description = "changed"), (status = 400, description = "invalid_password, password_too_common, invalid_payload"),
              (status = 401), (status = 403, description = "wrong_password, cross_site_request"), (status = 503, description = "server_busy")))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    check_origin(&state, &headers)?;
    state.chat.change_password(&session, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/me/sessions` → 204; every session of the user ends (this
/// one too: its cookie is cleared) and every socket of theirs closes.
#[utoipa::path(delete, tag = "api", path = "/api/me/sessions",
    responses((status = 204, description = "signed out everywhere"), (status = 401), (status = 403, description = "cross_site_request")))]
pub async fn end_sessions(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    state.chat.end_all_sessions(&session).await?;
    let cookie = set_session_cookie(None, 0, state.web.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
