//! `GET /api/users`: the people directory.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error::ApiError;
use super::{ApiQuery, AppState, CurrentUser};
use crate::chat::{DirectoryQuery, Person};
use crate::realtime::events::UserPayload;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/users", get(users))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UsersQuery {
    /// A part of the username or display name, any case.
    pub q: Option<String>,
    /// 1..=100, default 50.
    pub limit: Option<String>,
    /// `true`: deactivated users too (admins only).
    pub include_deactivated: Option<String>,
}

/// `GET /api/users?q=&limit=&include_deactivated=` → users by username, each
/// `{id, username, display_name, avatar_color, avatar_url, role, is_online, last_seen, deactivated}`.
#[utoipa::path(get, tag = "api", path = "/api/users", params(UsersQuery),
    responses((status = 200, body = [UserPayload]), (status = 400, description = "invalid_payload: a bad limit"),
              (status = 401), (status = 403, description = "forbidden: include_deactivated by a non-admin")))]
pub async fn users(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> Result<Response, ApiError> {
    let query = DirectoryQuery {
        q: q.q.as_deref(),
        limit: q.limit.as_deref(),
        include_deactivated: q.include_deactivated.as_deref(),
    };
    let people = state.chat.directory(&session.user, query).await?;
    let body: Vec<UserPayload<'_>> = people.iter().map(user_payload).collect();
    Ok(Json(body).into_response())
}

/// A user as `/api/users` lists them.
pub(super) fn user_payload(p: &Person) -> UserPayload<'_> {
    UserPayload::new(&p.user, p.role, p.is_online, p.last_seen, p.deactivated)
}
