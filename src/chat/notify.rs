//! The chat layer's outbound port: who should hear what. The realtime layer
//! implements [`Notifier`] and turns each [`Event`] into its wire form.

use crate::domain::{ConnId, MemberRole, Message, MessageId, Role, Room, RoomId, Timestamp, UserId, UserSummary};

/// Who receives an event. (Between instances an audience travels as
/// `cluster::wire::AudienceV1`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every connected client.
    Everyone,
    /// Every connection that joined the room.
    Room(RoomId),
    /// Every connection in the room but one (the one that caused the event).
    RoomExcept(RoomId, ConnId),
    /// Every connection of the user, on every instance (each of their
    /// devices and tabs), whatever rooms it joined.
    User(UserId),
}

/// Something that happened, in domain terms. (Between instances an event
/// travels as `cluster::wire::EventV1`: a new variant needs one there too.)
#[derive(Debug, Clone)]
pub enum Event {
    NewMessage(Message),
    /// `new_member`: the membership itself began, not only a socket's subscription.
    UserJoined { room: RoomId, user: UserSummary, text: String, new_member: bool },
    /// `new_member`: the membership itself ended.
    UserLeft { room: RoomId, user: UserSummary, text: String, new_member: bool },
    Typing { room: RoomId, user: UserSummary, is_typing: bool },
    RoomCreated(Room),
    Presence { user: UserSummary, is_online: bool, last_seen: Option<Timestamp> },
    /// A user's name, colour, role or deactivation changed (`user_updated`).
    UserUpdated(super::Person),
    /// `room_added`: the audience's user became a member.
    RoomAdded(RoomInfo),
    /// `room_updated`: renamed, a new topic, archived or unarchived, or an owner more.
    RoomUpdated(RoomInfo),
    /// `room_removed {room_id}`: the audience's membership ended, or the room was archived.
    RoomRemoved { room: RoomId },
    /// `member_added {room_id, user}`.
    MemberAdded { room: RoomId, member: MemberInfo },
    /// `member_removed {room_id, user_id}`.
    MemberRemoved { room: RoomId, user: UserId },
}

/// A room as an event or a route shows it (docs/protocol.md, "The room object").
#[derive(Debug, Clone)]
pub struct RoomInfo {
    pub room: Room,
    pub last_message_id: Option<MessageId>,
    /// A direct room's members (the viewer included), in id order.
    pub members: Option<Vec<UserSummary>>,
    /// Whose view this is: `None` in an event to many users, which then
    /// leaves out `is_member` and `my_role` (each keeps their own).
    pub viewer: Option<Viewer>,
}

/// One user's standing in a room, as their room list shows it.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    /// `None` when not a member.
    pub my_role: Option<MemberRole>,
}

/// A member of a room: a user as `/api/users` shows them, with their room role.
#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub user: UserSummary,
    pub role: Role,
    pub deactivated: bool,
    pub is_online: bool,
    pub last_seen: Option<Timestamp>,
    pub room_role: MemberRole,
}

pub trait Notifier: Send + Sync + 'static {
    /// Delivers `event` to `audience`; never blocks and never fails the caller
    /// (a connection that cannot keep up is disconnected by the transport).
    fn publish(&self, audience: Audience, event: Event);
    /// From now on `conn` hears `Audience::Room(room)`.
    fn subscribe(&self, conn: &ConnId, room: RoomId);
    fn unsubscribe(&self, conn: &ConnId, room: RoomId);
    /// From now on `conn` hears each of `rooms` (one step for many rooms).
    fn subscribe_many(&self, conn: &ConnId, rooms: &[RoomId]) {
        for room in rooms {
            self.subscribe(conn, *room);
        }
    }
    /// Closes the connection (its session ended).
    fn disconnect(&self, conn: &ConnId);
}
