//! `/api/admin/…`: server settings, invites and users, for admins only
//! (others get `403 forbidden`). docs/protocol.md, "Accounts and administration".

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::api::check_origin;
use super::error::ApiError;
use super::{ApiJson, AppState, CurrentUser};
use crate::chat::{SettingsChange, UserChange};
use crate::domain::{ChatError, Invite, ServerSettings, Timestamp, UserId};
use crate::realtime::events::UserPayload;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/settings", get(settings).patch(change_settings))
        .route("/api/admin/invites", get(invites).post(create_invite))
        .route("/api/admin/invites/{id}", delete(revoke_invite))
        .route("/api/admin/users/{id}", patch(change_user))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// `open`, `invite_only` or `closed`.
    pub registration: &'static str,
    /// Null: messages may be edited at any time.
    pub edit_window_s: Option<u64>,
}

impl From<&ServerSettings> for SettingsView {
    fn from(s: &ServerSettings) -> Self {
        Self { registration: s.registration.as_str(), edit_window_s: s.edit_window_s }
    }
}

/// Deserializes a present field (null included) as `Some`, so that an absent
/// field (`None`, by `default`) and `null` (`Some(None)`) differ.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingsBody {
    /// `open`, `invite_only` or `closed`.
    #[serde(default)]
    pub registration: Option<String>,
    /// Seconds (0 or more), or null for no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub edit_window_s: Option<Option<i64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteBody {
    /// 1..=1000, default 1.
    #[serde(default)]
    pub max_uses: Option<i64>,
    /// 60..=2592000 (30 days), default 604800 (a week).
    #[serde(default)]
    pub expires_in_s: Option<i64>,
}

/// An invite as listed (the code is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub id: i64,
    pub max_uses: u32,
    pub uses: u32,
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
}

impl From<&Invite> for InviteView {
    fn from(i: &Invite) -> Self {
        Self {
            id: i.id,
            max_uses: i.max_uses,
            uses: i.uses,
            expires_at: i.expires_at,
            created_at: i.created_at,
            created_by: i.created_by,
        }
    }
}

/// A new invite: the code, and the link to give, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInviteView {
    #[serde(flatten)]
    pub invite: InviteView,
    /// 22 URL-safe characters.
    pub code: String,
    /// `/register?invite=<code>`.
    pub url: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserChangeBody {
    /// `admin` or `member`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub deactivated: Option<bool>,
}

/// `GET /api/admin/settings` → `{registration, edit_window_s}`.
#[utoipa::path(get, tag = "admin", path = "/api/admin/settings",
    responses((status = 200, body = SettingsView), (status = 401), (status = 403, description = "forbidden: not an admin")))]
pub async fn settings(State(state): State<AppState>, CurrentUser(session): CurrentUser) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(SettingsView::from(&state.chat.admin_settings(&session.user).await?)))
}

/// `PATCH /api/admin/settings {registration?, edit_window_s?}` → the settings.
#[utoipa::path(patch, tag = "admin", path = "/api/admin/settings", request_body = SettingsBody,
    responses((status = 200, body = SettingsView), (status = 400, description = "invalid_setting, invalid_payload"),
              (status = 401), (status = 403, description = "forbidden, cross_site_request")))]
pub async fn change_settings(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<SettingsView>, ApiError> {
    check_origin(&state, &headers)?;
    let change = SettingsChange { registration: body.registration.as_deref(), edit_window_s: body.edit_window_s };
    Ok(Json(SettingsView::from(&state.chat.change_settings(&session.user, change).await?)))
}

/// `POST /api/admin/invites {max_uses?, expires_in_s?}` → 201 `{id, code, url, max_uses, uses, expires_at, …}`.
#[utoipa::path(post, tag = "admin", path = "/api/admin/invites", request_body = InviteBody,
    responses((status = 201, body = CreatedInviteView), (status = 400, description = "invalid_payload"), (status = 401),
              (status = 403, description = "forbidden, cross_site_request"), (status = 409, description = "too_many_invites")))]
pub async fn create_invite(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let created = state.chat.create_invite(&session.user, body.max_uses, body.expires_in_s).await?;
    let code = created.code.expose().to_owned();
    let view = CreatedInviteView { invite: InviteView::from(&created.invite), url: format!("/register?invite={code}"), code };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/admin/invites` → the live invites, without their codes.
#[utoipa::path(get, tag = "admin", path = "/api/admin/invites",
    responses((status = 200, body = [InviteView]), (status = 401), (status = 403, description = "forbidden")))]
pub async fn invites(State(state): State<AppState>, CurrentUser(session): CurrentUser) -> Result<Json<Vec<InviteView>>, ApiError> {
    Ok(Json(state.chat.live_invites(&session.user).await?.iter().map(InviteView::from).collect()))
}

/// `DELETE /api/admin/invites/{id}` → 204; the invite no longer works.
#[utoipa::path(delete, tag = "admin", path = "/api/admin/invites/{id}", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked"), (status = 401), (status = 403, description = "forbidden, cross_site_request"),
              (status = 404, description = "invite_not_found")))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_origin(&state, &headers)?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or(ApiError(ChatError::InviteNotFound))?;
    state.chat.revoke_invite(&session.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /api/admin/users/{id} {role?, deactivated?}` → the user as in
/// `/api/users`; deactivation ends their sessions and sockets at once.
#[utoipa::path(patch, tag = "admin", path = "/api/admin/users/{id}", params(("id" = i64, Path)), request_body = UserChangeBody,
    responses((status = 200, body = UserPayload), (status = 400, description = "invalid_payload"), (status = 401),
              (status = 403, description = "forbidden, cross_site_request"), (status = 404, description = "user_not_found"),
              (status = 409, description = "last_admin")))]
pub async fn change_user(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserChangeBody>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let target = id.parse::<i64>().ok().and_then(UserId::parse).ok_or(ApiError(ChatError::UserNotFound))?;
    let change = UserChange { role: body.role.as_deref(), deactivated: body.deactivated };
    let person = state.chat.change_user(&session.user, target, change).await?;
    Ok(Json(super::users::user_payload(&person)).into_response())
}
