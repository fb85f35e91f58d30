//! The chat layer's outbound port: who should hear what. The realtime layer
//! implements [`Notifier`] and turns each [`Event`] into its wire form.

use crate::domain::{ConnId, Message, Room, RoomId, Timestamp, UserId, UserSummary};

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
    UserJoined { room: RoomId, user: UserSummary, text: String },
    UserLeft { room: RoomId, user: UserSummary, text: String },
    Typing { room: RoomId, user: UserSummary, is_typing: bool },
    RoomCreated(Room),
    Presence { user: UserSummary, is_online: bool, last_seen: Option<Timestamp> },
}

pub trait Notifier: Send + Sync + 'static {
    /// Delivers `event` to `audience`; never blocks and never fails the caller
    /// (a connection that cannot keep up is disconnected by the transport).
    fn publish(&self, audience: Audience, event: Event);
    /// From now on `conn` hears `Audience::Room(room)`.
    fn subscribe(&self, conn: &ConnId, room: RoomId);
    fn unsubscribe(&self, conn: &ConnId, room: RoomId);
    /// Closes the connection (its session ended).
    fn disconnect(&self, conn: &ConnId);
}
