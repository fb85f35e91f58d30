//! JSON shapes that both transports send: the same bytes whether a client
//! reads them from an HTTP answer or a Socket.IO event (docs/protocol.md).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ChatError, Message, MessageId, RoomId, Timestamp};

/// A message as `new_message` and `GET /api/messages` carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePayload<'a> {
    #[schema(value_type = i64)]
    pub id: MessageId,
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    #[schema(value_type = i64)]
    pub user_id: crate::domain::UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub avatar_color: &'a str,
    pub message: &'a str,
    /// `text` or `system`.
    pub message_type: &'a str,
    /// RFC 3339, UTC.
    #[schema(value_type = String)]
    pub timestamp: Timestamp,
    /// Echoed when the send carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
}

impl<'a> From<&'a Message> for MessagePayload<'a> {
    fn from(m: &'a Message) -> Self {
        Self {
            id: m.id,
            room_id: m.room_id,
            user_id: m.author.id,
            username: m.author.username.as_str(),
            display_name: m.author.display_name.as_str(),
            avatar_color: m.author.avatar_color.as_str(),
            message: m.body.as_str(),
            message_type: m.message_type.as_str(),
            timestamp: m.created_at,
            client_id: m.client_id.as_ref().map(|c| c.as_str()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// Stable snake_case code (`not_in_room`, `message_too_long`, ...).
    pub code: &'a str,
    /// Human-readable text.
    pub message: String,
}

impl<'a> ErrorBody<'a> {
    pub fn of(e: &ChatError) -> ErrorBody<'static> {
        ErrorBody { code: e.code(), message: e.to_string() }
    }
}
