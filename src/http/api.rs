//! The JSON API under `/api`. Every route answers 401 JSON without a valid
//! session (but register and login) and 404 JSON for an unknown room.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::security::{set_session_cookie, session_cookie};
use super::{ApiJson, ApiQuery, AppState, ClientAddr, CurrentUser};
use crate::chat::{Registration, SessionToken};
use crate::domain::{ChatError, Page, Room, RoomId, Timestamp, UserId, UserSummary};
use crate::realtime::events::MessagePayload;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/rooms", get(rooms))
        .route("/api/messages/{room_id}", get(messages))
        .route("/api/online-users", get(online_users))
        .route("/api/online-users/{room_id}", get(online_users_in_room))
        .route("/api/{*rest}", axum::routing::any(not_found))
}

/// Unknown API routes answer JSON too.
async fn not_found() -> Response {
    let body = serde_json::json!({"error": {"code": "not_found", "message": "No such API route"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// An invite code, needed while registration is `invite_only`.
    #[serde(default)]
    pub invite: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

/// A user as others see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub avatar_color: String,
}

impl From<&UserSummary> for UserView {
    fn from(u: &UserSummary) -> Self {
        Self {
            id: u.id,
            username: u.username.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            avatar_color: u.avatar_color.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    #[schema(value_type = i64)]
    pub id: RoomId,
    pub room_name: String,
    /// `public`, `private` or `direct`.
    pub room_type: &'static str,
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<&Room> for RoomView {
    fn from(r: &Room) -> Self {
        Self {
            id: r.id,
            room_name: r.name.as_str().to_owned(),
            room_type: r.room_type.as_str(),
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// Page backwards: messages older than this id.
    pub before: Option<String>,
    /// Catch up: messages newer than this id, oldest first.
    pub after: Option<String>,
    /// 1..=200, default 100.
    pub limit: Option<String>,
}

pub(super) fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.web.origins.allows(headers) { Ok(()) } else { Err(ChatError::CrossSite.into()) }
}

fn room_id(raw: &str) -> Result<RoomId, ApiError> {
    raw.parse::<i64>().ok().and_then(RoomId::parse).ok_or(ApiError(ChatError::RoomNotFound))
}

/// `POST /api/register {username, email, password, display_name?}` → 201 the new user.
#[utoipa::path(post, tag = "api", path = "/api/register", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 400, description = "invalid field"),
              (status = 403, description = "registration_closed, invite_required, invite_invalid"),
              (status = 409, description = "username or email taken"),
              (status = 429, description = "rate_limited: too many registrations from this address"),
              (status = 503, description = "server_busy")))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    check_origin(&state, &headers)?;
    let form = Registration {
        username: &body.username,
        email: &body.email,
        display_name: body.display_name.as_deref(),
        password: &body.password,
        invite: body.invite.as_deref(),
    };
    let user = state.chat.register(form, ip).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// `POST /api/login {username, password}` → 200 the user, and the session cookie.
#[utoipa::path(post, tag = "api", path = "/api/login", request_body = LoginBody,
    responses((status = 200, body = UserView, description = "logged in; Set-Cookie carries the session"),
              (status = 401, description = "invalid_credentials"), (status = 403, description = "account_deactivated"), (status = 429, description = "rate_limited"),
              (status = 503, description = "server_busy")))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let (token, user) = state.chat.login(&body.username, &body.password, ip).await?;
    let cookie = set_session_cookie(Some(token.expose()), state.web.session_ttl.as_secs(), state.web.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], Json(UserView::from(&user))).into_response())
}

/// `POST /api/logout` → 204; the session ends on the server and its sockets close.
#[utoipa::path(post, tag = "api", path = "/api/logout", responses((status = 204, description = "logged out")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    if let Some(token) = session_cookie(&headers) {
        state.chat.logout(&SessionToken::from_client(&token)).await?;
    }
    let cookie = set_session_cookie(None, 0, state.web.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// `GET /api/rooms` → the rooms the user can see.
#[utoipa::path(get, tag = "api", path = "/api/rooms", responses((status = 200, body = [RoomView]), (status = 401)))]
pub async fn rooms(State(state): State<AppState>, CurrentUser(session): CurrentUser) -> Result<Json<Vec<RoomView>>, ApiError> {
    let rooms = state.chat.rooms(&session.user).await?;
    Ok(Json(rooms.iter().map(RoomView::from).collect()))
}

/// `GET /api/messages/{room_id}?before=&after=&limit=` → a page of history, oldest first.
#[utoipa::path(get, tag = "api", path = "/api/messages/{room_id}", params(("room_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = [MessagePayload]), (status = 400, description = "bad cursor or limit"),
              (status = 401), (status = 404, description = "room_not_found")))]
pub async fn messages(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(room): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let room = room_id(&room)?;
    let page = Page::parse(q.before.as_deref(), q.after.as_deref(), q.limit.as_deref())?;
    let page = state.chat.history(&session.user, room, page).await?;
    let body: Vec<MessagePayload<'_>> = page.messages().iter().map(MessagePayload::from).collect();
    // Sized for a typical message up front (axum's `Json` starts at 128 bytes
    // and doubles its way up to a page's 25 KB).
    let mut json = Vec::with_capacity(256 * body.len() + 2);
    serde_json::to_writer(&mut json, &body).map_err(|e| {
        tracing::error!(error = %e, "a page of history could not be encoded");
        ChatError::Internal
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `GET /api/online-users` → everyone online.
#[utoipa::path(get, tag = "api", path = "/api/online-users", responses((status = 200, body = [UserView]), (status = 401)))]
pub async fn online_users(State(state): State<AppState>, CurrentUser(_): CurrentUser) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(state.chat.online_users().await?.iter().map(UserView::from).collect()))
}

/// `GET /api/online-users/{room_id}` → the users online in the room.
#[utoipa::path(get, tag = "api", path = "/api/online-users/{room_id}", params(("room_id" = i64, Path)),
    responses((status = 200, body = [UserView]), (status = 401), (status = 404)))]
pub async fn online_users_in_room(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(room): Path<String>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.chat.online_in_room(&session.user, room_id(&room)?).await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}
