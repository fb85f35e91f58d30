//! The Socket.IO protocol as types: every event name beside its payload.
//! Hold this file against docs/protocol.md.

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{ChatError, MessageId, RoomId, Timestamp, UserSummary};

// ---- client → server -------------------------------------------------------

/// `join_room {room_id, room_name}`; acks `{ok, room_id, room_name}`.
pub const JOIN_ROOM: &str = "join_room";
/// `leave_room {room_id}`; acks `{ok}`.
pub const LEAVE_ROOM: &str = "leave_room";
/// `send_message {room_id, message, client_id?}`; acks `{ok, id, timestamp}` after commit.
pub const SEND_MESSAGE: &str = "send_message";
/// `typing {room_id, is_typing}`; acks `{ok}`.
pub const TYPING: &str = "typing";
/// `create_room {room_name}`; acks `{ok, room_id, room_name}`.
pub const CREATE_ROOM: &str = "create_room";

/// A room id as clients send it: a number, or a string of digits (the
/// original client took ids from HTML attributes).
#[derive(Debug, Clone, Copy)]
pub struct WireRoomId(pub RoomId);

impl<'de> Deserialize<'de> for WireRoomId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        let raw = match Raw::deserialize(d) {
            Ok(Raw::Int(n)) => Some(n),
            Ok(Raw::Str(s)) => s.trim().parse().ok(),
            Err(_) => None,
        };
        raw.and_then(RoomId::parse)
            .map(WireRoomId)
            .ok_or_else(|| serde::de::Error::custom("room_id must be a positive whole number"))
    }
}

#[derive(Debug, Deserialize)]
pub struct JoinRoom {
    pub room_id: WireRoomId,
}

#[derive(Debug, Deserialize)]
pub struct LeaveRoom {
    pub room_id: WireRoomId,
}

#[derive(Debug, Deserialize)]
pub struct SendMessage {
    pub room_id: WireRoomId,
    pub message: String,
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Typing {
    pub room_id: WireRoomId,
    pub is_typing: bool,
}

#[derive(Debug, Deserialize)]
pub struct CreateRoom {
    pub room_name: String,
}

/// The capability (in the handshake's `auth.capabilities`) of a socket that
/// follows its user's memberships: subscribed at connect to every room its
/// user is a member of, and to each room they join or are added to.
pub const MEMBERSHIP_CAPABILITY: &str = "membership";

/// Does the handshake's `auth` list the capability? Anything else in `auth`
/// (or an `auth` that is not an object) asks for nothing.
pub fn has_capability(auth: &serde_json::Value, name: &str) -> bool {
    auth.get("capabilities")
        .and_then(|c| c.as_array())
        .is_some_and(|list| list.iter().any(|c| c.as_str() == Some(name)))
}

/// Decodes an event's payload (as socketioxide's `TryData` extracted it),
/// naming what is wrong with it.
pub fn decode<T: serde::de::DeserializeOwned, E: std::fmt::Display>(
    data: Result<serde_json::Value, E>,
) -> Result<T, ChatError> {
    let data = data.map_err(|e| ChatError::invalid(e.to_string()))?;
    if !data.is_object() {
        return Err(ChatError::invalid("payload must be a JSON object"));
    }
    serde_json::from_value(data).map_err(|e| ChatError::invalid(format!("invalid payload: {e}")))
}

// ---- server → client -------------------------------------------------------

/// `connection_success {user_id, username, display_name}` to the new socket.
pub const CONNECTION_SUCCESS: &str = "connection_success";
/// `user_joined {room_id, username, display_name, message}` to the room, joiner included.
pub const USER_JOINED: &str = "user_joined";
/// `user_left_room {room_id, username, display_name, message}` to the others in the room.
pub const USER_LEFT_ROOM: &str = "user_left_room";
/// `new_message {..message}` to the room, sender included, after it is stored.
pub const NEW_MESSAGE: &str = "new_message";
/// `user_typing {room_id, username, display_name, is_typing}` to the others in the room.
pub const USER_TYPING: &str = "user_typing";
/// `room_created {room_id, room_name}` to every connected client.
pub const ROOM_CREATED: &str = "room_created";
/// `room_creation_error {error}` to the requester.
pub const ROOM_CREATION_ERROR: &str = "room_creation_error";
/// `chat_error {event, code, message}` for a rejected event without an ack.
pub const CHAT_ERROR: &str = "chat_error";
/// `presence {user_id, username, display_name, avatar_color, is_online, last_seen}` to everyone.
pub const PRESENCE: &str = "presence";
/// `presence_batch {users: [presence, ...]}` to the clients with that capability, once per window.
pub const PRESENCE_BATCH: &str = "presence_batch";
/// `user_updated {..user as in /api/users}` to everyone: a name, colour, role or deactivation changed.
pub const USER_UPDATED: &str = "user_updated";

/// `room_added {..room}` to the new member's sockets.
pub const ROOM_ADDED: &str = "room_added";
/// `room_updated {..room}` to the members (everyone, for a public room).
pub const ROOM_UPDATED: &str = "room_updated";
/// `room_removed {room_id}` to the sockets of a user whose membership ended, or of every member of an archived room.
pub const ROOM_REMOVED: &str = "room_removed";
/// `member_added {room_id, user}` to the room.
pub const MEMBER_ADDED: &str = "member_added";
/// `member_removed {room_id, user_id}` to the room.
pub const MEMBER_REMOVED: &str = "member_removed";

#[derive(Debug, Serialize)]
pub struct ConnectionSuccess<'a> {
    pub user_id: crate::domain::UserId,
    pub username: &'a str,
    pub display_name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct RoomNotice<'a> {
    pub room_id: RoomId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub message: &'a str,
    /// True only when the membership itself began (`user_joined`) or ended (`user_left_room`).
    pub new_member: bool,
}

#[derive(Debug, Serialize)]
pub struct UserTyping<'a> {
    pub room_id: RoomId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub is_typing: bool,
}

#[derive(Debug, Serialize)]
pub struct RoomCreated<'a> {
    pub room_id: RoomId,
    pub room_name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct RoomCreationError<'a> {
    pub error: &'a str,
}

#[derive(Debug, Serialize)]
pub struct ChatErrorPayload<'a> {
    pub event: &'a str,
    pub code: &'a str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Presence<'a> {
    pub user_id: crate::domain::UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub avatar_color: &'a str,
    pub is_online: bool,
    pub last_seen: Option<Timestamp>,
}

impl<'a> Presence<'a> {
    pub fn new(user: &'a UserSummary, is_online: bool, last_seen: Option<Timestamp>) -> Self {
        Self {
            user_id: user.id,
            username: user.username.as_str(),
            display_name: user.display_name.as_str(),
            avatar_color: user.avatar_color.as_str(),
            is_online,
            last_seen,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RoomRemoved {
    pub room_id: RoomId,
}

/// `member_added {room_id, user}`; the user is `wire::MemberObject`.
#[derive(Debug, Serialize)]
pub struct MemberAdded<U> {
    pub room_id: RoomId,
    pub user: U,
}

#[derive(Debug, Serialize)]
pub struct MemberRemoved {
    pub room_id: RoomId,
    pub user_id: crate::domain::UserId,
}

// ---- acks ------------------------------------------------------------------

/// `{ok: true, ...fields}`.
#[derive(Debug, Serialize)]
pub struct AckOk<T: Serialize> {
    pub ok: bool,
    #[serde(flatten)]
    pub fields: T,
}

/// `{ok: false, error: {code, message}}`; the error is `wire::ErrorBody`
/// (generic here, so this file holds no JSON shape of the HTTP side and the
/// fuzz build compiles it alone).
#[derive(Debug, Serialize)]
pub struct AckErr<E> {
    pub ok: bool,
    pub error: E,
}

#[derive(Debug, Serialize)]
pub struct RoomAck<'a> {
    pub room_id: RoomId,
    pub room_name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct SendAck {
    pub id: MessageId,
    pub timestamp: Timestamp,
}

/// Acks with no fields beyond `ok`.
#[derive(Debug, Serialize)]
pub struct Empty {}
