//! The chat layer's outbound port: who should hear what. The realtime layer
//! implements [`Notifier`] and turns each [`Event`] into its wire form.

use serde::{Deserialize, Serialize};

use crate::domain::{ConnId, Message, Room, RoomId, Timestamp, UserSummary};

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every connected client.
    Everyone,
    /// Every connection that joined the room.
    Room(RoomId),
    /// Every connection in the room but one (the one that caused the event).
    RoomExcept(RoomId, ConnId),
}

/// Something that happened, in domain terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    NewMessage(Message),
    UserJoined { room: RoomId, user: UserSummary, text: String },
    UserLeft { room: RoomId, user: UserSummary, text: String },
    Typing { room: RoomId, user: UserSummary, is_typing: bool },
    RoomCreated(Room),
    Presence { user: UserSummary, is_online: bool, last_seen: Option<Timestamp> },
    /// A user's name, colour, role or deactivation changed (`user_updated`).
    UserUpdated(super::Person),
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
