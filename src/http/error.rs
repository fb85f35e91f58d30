//! `ChatError` → HTTP. Every error body is `{"error": {"code", "message"}}`.
//! Internal details are logged where they happen and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::ChatError;
use crate::realtime::events::ErrorBody;

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub ChatError);

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        Self(e)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

/// The status of each error:
/// - 400: invalid input (`invalid_payload`, `invalid_*`, `password_too_common`, `room_name_*`, `message_*`, `unknown_event`)
/// - 401: `not_authenticated`, `invalid_credentials`
/// - 400 also: `direct_room`, `invalid_members`, `invalid_topic`, `invalid_avatar_color`, `invalid_setting`
/// - 403: `cross_site_request`, `not_in_room`, `forbidden`, `wrong_password`, `account_deactivated`,
///   `registration_closed`, `invite_required`, `invite_invalid`
/// - 404: `room_not_found`, `user_not_found`, `not_a_member`, `invite_not_found`
/// - 409: `username_taken`, `email_taken`, `room_name_taken`, `room_archived`, `too_many_rooms`,
///   `too_many_members`, `too_many_invites`, `last_admin`
/// - 413: `payload_too_large`
/// - 421: `unknown_host` (a `Host` the server is not configured for)
/// - 429: `rate_limited` (with `Retry-After`), `too_many_connections`
/// - 503: `unavailable`, `server_busy` (with `Retry-After`)
/// - 500: `internal`
/// - 507: `storage_full` (the database's disk is full; reads still work)
pub fn status_of(e: &ChatError) -> StatusCode {
    use ChatError::*;
    match e {
        InvalidPayload(_) | InvalidUsername | InvalidEmail | InvalidPassword | PasswordTooCommon | InvalidDisplayName | RoomNameEmpty
        | RoomNameTooLong | MessageEmpty | MessageTooLong | UnknownEvent(_) | InvalidRoomName
        | DirectRoom | InvalidMembers | InvalidTopic | InvalidAvatarColor | InvalidSetting(_) => StatusCode::BAD_REQUEST,
        InvalidCredentials | NotAuthenticated => StatusCode::UNAUTHORIZED,
        CrossSite | NotInRoom | Forbidden | WrongPassword | AccountDeactivated | RegistrationClosed | InviteRequired
        | InviteInvalid => StatusCode::FORBIDDEN,
        RoomNotFound | UserNotFound | NotAMember | InviteNotFound => StatusCode::NOT_FOUND,
        UsernameTaken | EmailTaken | RoomNameTaken | RoomArchived | TooManyRooms | TooManyMembers | TooManyInvites
        | LastAdmin => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RateLimited { .. } | TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
        Unavailable | Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        UnknownHost => StatusCode::MISDIRECTED_REQUEST,
        StorageFull => StatusCode::INSUFFICIENT_STORAGE,
    }
}

/// Adds `Retry-After` to a rate-limit or busy answer.
pub fn with_retry_after(mut response: Response, e: &ChatError) -> Response {
    if let ChatError::RateLimited { retry_after } | ChatError::Busy { retry_after } = e {
        let secs = retry_after.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: ErrorBody::of(&self.0) };
        with_retry_after((status_of(&self.0), Json(body)).into_response(), &self.0)
    }
}
