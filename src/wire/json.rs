//! JSON shapes that both transports send: the same bytes whether a client
//! reads them from an HTTP answer or a Socket.IO event (docs/protocol.md).

use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::{MemberInfo, RoomInfo};
use crate::domain::{ChatError, Message, MessageId, Role, RoomId, Timestamp, UserId, UserSummary};

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

/// A user in a direct room's `members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBrief<'a> {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub avatar_color: &'a str,
}

impl<'a> From<&'a UserSummary> for UserBrief<'a> {
    fn from(u: &'a UserSummary) -> Self {
        Self {
            id: u.id,
            username: u.username.as_str(),
            display_name: u.display_name.as_str(),
            avatar_color: u.avatar_color.as_str(),
        }
    }
}

/// The room object (docs/protocol.md, "The room object"): `GET /api/rooms`,
/// `POST /api/rooms`, `PATCH /api/rooms/<id>`, `POST /api/direct`,
/// `room_added`, `room_updated`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomObject<'a> {
    #[schema(value_type = i64)]
    pub id: RoomId,
    pub room_name: &'a str,
    /// `public`, `private` or `direct`.
    pub room_type: &'static str,
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    pub topic: &'a str,
    pub archived: bool,
    #[schema(value_type = Option<i64>)]
    pub last_message_id: Option<MessageId>,
    /// Left out of a `room_updated` that goes to many users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_member: Option<bool>,
    /// `owner`, `member`, or null when not a member; left out like `is_member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub my_role: Option<Option<&'static str>>,
    /// Direct rooms only: the members, the caller included, in id order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<UserBrief<'a>>>,
}

impl<'a> From<&'a RoomInfo> for RoomObject<'a> {
    fn from(info: &'a RoomInfo) -> Self {
        let r = &info.room;
        Self {
            id: r.id,
            room_name: r.name.as_str(),
            room_type: r.room_type.as_str(),
            created_by: r.created_by,
            created_at: r.created_at,
            topic: &r.topic,
            archived: r.archived,
            last_message_id: info.last_message_id,
            is_member: info.viewer.map(|v| v.my_role.is_some()),
            my_role: info.viewer.map(|v| v.my_role.map(|role| role.as_str())),
            members: info.members.as_ref().map(|m| m.iter().map(UserBrief::from).collect()),
        }
    }
}

/// A member of a room: a user as `/api/users` shows them, where `role` is
/// the room role (`owner`/`member`) and `server_role` the account's
/// (`admin`/`member`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberObject<'a> {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub avatar_color: &'a str,
    /// Null until files arrive.
    pub avatar_url: Option<&'a str>,
    pub role: &'static str,
    pub server_role: &'static str,
    pub is_online: bool,
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Timestamp>,
    pub deactivated: bool,
}

impl<'a> From<&'a MemberInfo> for MemberObject<'a> {
    fn from(m: &'a MemberInfo) -> Self {
        Self {
            id: m.user.id,
            username: m.user.username.as_str(),
            display_name: m.user.display_name.as_str(),
            avatar_color: m.user.avatar_color.as_str(),
            avatar_url: None,
            role: m.room_role.as_str(),
            server_role: m.role.as_str(),
            is_online: m.is_online,
            last_seen: m.last_seen,
            deactivated: m.deactivated,
        }
    }
}

/// A user as `GET /api/users` lists them and `user_updated` carries them
/// (docs/protocol.md, "Accounts and administration").
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPayload<'a> {
    #[schema(value_type = i64)]
    pub id: crate::domain::UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub avatar_color: &'a str,
    /// Null until files arrive.
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<&'a str>,
    /// `admin` or `member`.
    pub role: &'static str,
    pub is_online: bool,
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Timestamp>,
    pub deactivated: bool,
}

impl<'a> UserPayload<'a> {
    pub fn new(user: &'a UserSummary, role: Role, is_online: bool, last_seen: Option<Timestamp>, deactivated: bool) -> Self {
        Self {
            id: user.id,
            username: user.username.as_str(),
            display_name: user.display_name.as_str(),
            avatar_color: user.avatar_color.as_str(),
            avatar_url: None,
            role: role.as_str(),
            is_online,
            last_seen,
            deactivated,
        }
    }
}
