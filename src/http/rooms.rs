//! Rooms and their members (docs/protocol.md Part C, "Routes"): JSON in and
//! out, a session needed, cross-site requests refused. A room the user may
//! not see is `404 room_not_found` before the body is looked at.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::api::{check_origin, room_id};
use super::error::ApiError;
use super::{ApiJson, ApiQuery, AppState, CurrentUser};
use crate::chat::{Action, RoomEdit};
use crate::domain::{ChatError, RoomName, RoomType, Topic, UserId};
use crate::wire::{MemberObject, RoomObject};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route("/api/rooms/{room_id}", axum::routing::patch(update))
        .route("/api/rooms/{room_id}/members", get(members).post(add_members))
        .route("/api/rooms/{room_id}/members/{user_id}", delete(remove_member))
        .route("/api/direct", post(direct))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `true`: the archived rooms the user may see, instead of the others.
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRoomBody {
    pub room_name: String,
    /// `public` or `private`.
    pub room_type: String,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub member_ids: Option<Vec<i64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRoomBody {
    #[serde(default)]
    pub room_name: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserIdsBody {
    pub user_ids: Vec<i64>,
}

/// Ids as a request names them; one that can name nobody (zero, negative)
/// is an unknown user.
fn user_ids(raw: Vec<i64>) -> Result<Vec<UserId>, ChatError> {
    if raw.len() > crate::chat::MAX_IDS {
        return Err(ChatError::InvalidMembers);
    }
    raw.into_iter().map(|id| UserId::parse(id).ok_or(ChatError::UserNotFound)).collect()
}

/// A JSON body read only after the room was found visible.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ChatError> {
    serde_json::from_slice(bytes).map_err(|e| ChatError::invalid(format!("invalid JSON body: {e}")))
}

/// `GET /api/rooms?archived=` → the rooms the user sees (the room object).
#[utoipa::path(get, tag = "rooms", path = "/api/rooms", params(ListQuery),
    responses((status = 200, body = [RoomObject]), (status = 401)))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let rooms = state.chat.room_list(&session.user, q.archived.unwrap_or(false)).await?;
    let body: Vec<RoomObject<'_>> = rooms.iter().map(RoomObject::from).collect();
    Ok(Json(body).into_response())
}

/// `POST /api/rooms {room_name, room_type, topic?, member_ids?}` → 201 the room.
#[utoipa::path(post, tag = "rooms", path = "/api/rooms", request_body = CreateRoomBody,
    responses((status = 201, body = RoomObject), (status = 400), (status = 401),
              (status = 403, description = "forbidden: member_ids for a public room"),
              (status = 404, description = "user_not_found"), (status = 409, description = "room_name_taken, too_many_rooms")))]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateRoomBody>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let room_type = RoomType::parse_creatable(&body.room_type)?;
    let name = RoomName::parse(&body.room_name)?;
    let topic = Topic::parse(body.topic.as_deref().unwrap_or(""))?;
    let members = user_ids(body.member_ids.unwrap_or_default())?;
    let info = state.chat.create_room_as(&session.user, name, room_type, topic, members).await?;
    Ok((StatusCode::CREATED, Json(RoomObject::from(&info))).into_response())
}

/// `PATCH /api/rooms/{id} {room_name?, topic?, archived?}` (owner or admin) → the room.
#[utoipa::path(patch, tag = "rooms", path = "/api/rooms/{room_id}", params(("room_id" = i64, Path)),
    request_body = UpdateRoomBody,
    responses((status = 200, body = RoomObject), (status = 400, description = "invalid field, direct_room"),
              (status = 403, description = "forbidden"), (status = 404, description = "room_not_found"),
              (status = 409, description = "room_name_taken")))]
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    Path(room): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let room = room_id(&room)?;
    state.chat.access(&session.user, room, Action::See).await?;
    let body: UpdateRoomBody = body(&bytes)?;
    let edit = RoomEdit {
        name: body.room_name.as_deref().map(RoomName::parse).transpose()?,
        topic: body.topic.as_deref().map(Topic::parse).transpose()?,
        archived: body.archived,
    };
    let info = state.chat.update_room(&session.user, room, edit).await?;
    Ok(Json(RoomObject::from(&info)).into_response())
}

/// `GET /api/rooms/{id}/members` → every member, with their room `role`.
#[utoipa::path(get, tag = "rooms", path = "/api/rooms/{room_id}/members", params(("room_id" = i64, Path)),
    responses((status = 200, body = [MemberObject]), (status = 401), (status = 404, description = "room_not_found")))]
pub async fn members(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(room): Path<String>,
) -> Result<Response, ApiError> {
    let members = state.chat.room_members(&session.user, room_id(&room)?).await?;
    let body: Vec<MemberObject<'_>> = members.iter().map(MemberObject::from).collect();
    Ok(Json(body).into_response())
}

/// `POST /api/rooms/{id}/members {user_ids}` → 204. Public: only oneself
/// (joining); private: an owner or admin adds others.
#[utoipa::path(post, tag = "rooms", path = "/api/rooms/{room_id}/members", params(("room_id" = i64, Path)),
    request_body = UserIdsBody,
    responses((status = 204), (status = 400, description = "invalid_members, direct_room"),
              (status = 403, description = "forbidden"), (status = 404, description = "room_not_found, user_not_found"),
              (status = 409, description = "too_many_members, too_many_rooms, room_archived")))]
pub async fn add_members(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    Path(room): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    check_origin(&state, &headers)?;
    let room = room_id(&room)?;
    state.chat.access(&session.user, room, Action::See).await?;
    let body: UserIdsBody = body(&bytes)?;
    state.chat.add_members(&session.user, room, user_ids(body.user_ids)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/rooms/{id}/members/{user_id}` → 204: oneself leaves; an
/// owner or admin removes another member.
#[utoipa::path(delete, tag = "rooms", path = "/api/rooms/{room_id}/members/{user_id}",
    params(("room_id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "direct_room"), (status = 403, description = "forbidden"),
              (status = 404, description = "room_not_found, not_a_member")))]
pub async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_origin(&state, &headers)?;
    let room = room_id(&room)?;
    state.chat.access(&session.user, room, Action::See).await?;
    let user = user.parse::<i64>().ok().and_then(UserId::parse).ok_or(ChatError::NotAMember)?;
    state.chat.remove_member(&session.user, room, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/direct {user_ids}` → the direct room of the caller and those
/// 1 to 8 others: 201 when made now, 200 when it existed.
#[utoipa::path(post, tag = "rooms", path = "/api/direct", request_body = UserIdsBody,
    responses((status = 201, body = RoomObject), (status = 200, body = RoomObject),
              (status = 400, description = "invalid_members"), (status = 404, description = "user_not_found")))]
pub async fn direct(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UserIdsBody>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let (info, created) = state.chat.direct_room(&session.user, user_ids(body.user_ids)?).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(RoomObject::from(&info))).into_response())
}
