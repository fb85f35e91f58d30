//! Fan-out: chat events to the sockets that should hear them.
//!
//! Each event is serialised once; every receiving socket gets the same bytes.
//! A socket whose queue is full (its client stopped reading) is taken out of
//! all rooms and disconnected, never silently skipped: its client reconnects
//! and asks for what it missed with `after`.
//!
//! `presence` goes at once to the sockets that did not ask for
//! `presence_batch`, and into the current window for those that did
//! (see [`presence_batch`](super::presence_batch)).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};

use super::events::{self, Presence, RoomCreated, RoomNotice, UserTyping};
use crate::wire::{MessagePayload, UserPayload};
use super::presence_batch::{self, Batcher};
use crate::chat::{Audience, Event, Notifier};
use crate::domain::{ConnId, RoomId, UserId};

pub struct SocketNotifier {
    io: SocketIo,
    presence: Arc<Batcher>,
}

impl SocketNotifier {
    pub fn new(io: SocketIo) -> Self {
        Self { io, presence: Arc::default() }
    }

    fn socket(&self, conn: &ConnId) -> Option<SocketRef> {
        let sid = Sid::from_str(&conn.0).ok()?;
        ns(&self.io)?.get_socket(sid)
    }

    /// Puts a presence change in the current window; the first change of a
    /// window schedules its `presence_batch`.
    fn batch_presence(&self, user: UserId, payload: Box<RawValue>) {
        if !self.presence.push(user, payload) {
            return;
        }
        let (io, batcher) = (self.io.clone(), self.presence.clone());
        let flush = move || {
            if let (Some(batch), Some(ns)) = (batcher.take(), ns(&io)) {
                deliver(ns.to(presence_batch::ROOM).sockets(), None, events::PRESENCE_BATCH, &batch);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(presence_batch::WINDOW).await;
                    flush();
                });
            }
            Err(_) => flush(),
        }
    }
}

/// The default namespace; gone once the server closed it at shutdown
/// (socketioxide's `io.to()` and friends would panic then).
fn ns(io: &SocketIo) -> Option<socketioxide::operators::BroadcastOperators> {
    io.of("/")
}

/// The Socket.IO room a chat room maps to.
fn room_key(room: RoomId) -> String {
    format!("room:{room}")
}

/// The Socket.IO room every socket of a user is in, from its handshake on:
/// what `Audience::User` reaches.
pub(super) fn user_key(user: UserId) -> String {
    format!("u:{user}")
}

/// The wire name and the once-serialised payload of an event (public for
/// the micro-benchmarks).
pub fn encode(event: &Event) -> Result<(&'static str, Box<RawValue>), serde_json::Error> {
    let raw = |v: &dyn erased::Ser| v.to_raw();
    Ok(match event {
        Event::NewMessage(m) => (events::NEW_MESSAGE, raw(&MessagePayload::from(m))?),
        Event::UserJoined { room, user, text, new_member } | Event::UserLeft { room, user, text, new_member } => (
            if matches!(event, Event::UserJoined { .. }) { events::USER_JOINED } else { events::USER_LEFT_ROOM },
            raw(&RoomNotice {
                room_id: *room,
                username: user.username.as_str(),
                display_name: user.display_name.as_str(),
                message: text,
                new_member: *new_member,
            })?,
        ),
        Event::Typing { room, user, is_typing } => (
            events::USER_TYPING,
            raw(&UserTyping {
                room_id: *room,
                username: user.username.as_str(),
                display_name: user.display_name.as_str(),
                is_typing: *is_typing,
            })?,
        ),
        Event::RoomCreated(room) => {
            (events::ROOM_CREATED, raw(&RoomCreated { room_id: room.id, room_name: room.name.as_str() })?)
        }
        Event::Presence { user, is_online, last_seen } => {
            (events::PRESENCE, raw(&Presence::new(user, *is_online, *last_seen))?)
        }
        Event::UserUpdated(p) => (
            events::USER_UPDATED,
            raw(&UserPayload::new(&p.user, p.role, p.is_online, p.last_seen, p.deactivated))?,
        ),
        Event::RoomAdded(info) => (events::ROOM_ADDED, raw(&crate::wire::RoomObject::from(info))?),
        Event::RoomUpdated(info) => (events::ROOM_UPDATED, raw(&crate::wire::RoomObject::from(info))?),
        Event::RoomRemoved { room } => (events::ROOM_REMOVED, raw(&events::RoomRemoved { room_id: *room })?),
        Event::MemberAdded { room, member } => (
            events::MEMBER_ADDED,
            raw(&events::MemberAdded { room_id: *room, user: crate::wire::MemberObject::from(member) })?,
        ),
        Event::MemberRemoved { room, user } => {
            (events::MEMBER_REMOVED, raw(&events::MemberRemoved { room_id: *room, user_id: *user })?)
        }
    })
}

/// Serialising through a trait object keeps `encode` to one arm per event.
mod erased {
    use serde_json::value::RawValue;

    pub trait Ser {
        fn to_raw(&self) -> Result<Box<RawValue>, serde_json::Error>;
    }

    impl<T: serde::Serialize> Ser for T {
        fn to_raw(&self) -> Result<Box<RawValue>, serde_json::Error> {
            serde_json::value::to_raw_value(self)
        }
    }
}

impl Notifier for SocketNotifier {
    fn publish(&self, audience: Audience, event: Event) {
        let (name, payload) = match encode(&event) {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::error!(error = %e, "could not encode an event");
                return;
            }
        };
        let Some(ns) = ns(&self.io) else { return };
        let (sockets, except) = match (&audience, &event) {
            (Audience::Everyone, Event::Presence { user, .. }) => {
                self.batch_presence(user.id, payload.clone());
                (ns.to(presence_batch::EACH_ROOM).sockets(), None)
            }
            (Audience::Everyone, _) => (ns.sockets(), None),
            (Audience::Room(room), _) => (ns.to(room_key(*room)).sockets(), None),
            (Audience::RoomExcept(room, conn), _) => (ns.to(room_key(*room)).sockets(), Sid::from_str(&conn.0).ok()),
            (Audience::User(user), _) => (ns.to(user_key(*user)).sockets(), None),
        };
        deliver(sockets, except, name, &payload);
    }

    fn subscribe(&self, conn: &ConnId, room: RoomId) {
        if let Some(socket) = self.socket(conn) {
            socket.join(room_key(room));
        }
    }

    fn subscribe_many(&self, conn: &ConnId, rooms: &[RoomId]) {
        if let Some(socket) = self.socket(conn)
            && !rooms.is_empty()
        {
            socket.join(rooms.iter().map(|room| room_key(*room)).collect::<Vec<_>>());
        }
    }

    fn unsubscribe(&self, conn: &ConnId, room: RoomId) {
        if let Some(socket) = self.socket(conn) {
            socket.leave(room_key(room));
        }
    }

    fn disconnect(&self, conn: &ConnId) {
        if let Some(socket) = self.socket(conn) {
            close(socket);
        }
    }
}

/// Sends one encoded event to each socket but `except`.
fn deliver(sockets: Vec<SocketRef>, except: Option<Sid>, name: &str, payload: &RawValue) {
    let mut delivered = 0u64;
    for socket in sockets {
        if except == Some(socket.id) {
            continue;
        }
        match socket.emit(name, payload) {
            Ok(()) => delivered += 1,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => overflowed(socket),
            Err(SendError::Socket(SocketError::Closed)) => {}
            Err(e) => tracing::warn!(error = %e, sid = %socket.id, event = name, "emit failed"),
        }
    }
    metrics::counter!("parley_deliveries_total").increment(delivered);
}

/// A socket that cannot take more: it hears nothing further and is closed.
fn overflowed(socket: SocketRef) {
    /// Set on a socket once it has overflowed.
    #[derive(Clone)]
    struct Overflowed;
    // Broadcasts running at the same time (two rooms of the socket) each find
    // the full queue until it has left its rooms: it is counted and closed
    // once (the fault suite counted 95 for 50 sockets before).
    if socket.extensions.insert(Overflowed).is_some() {
        return;
    }
    metrics::counter!("parley_slow_consumers_disconnected_total").increment(1);
    tracing::warn!(sid = %socket.id, "send queue full; disconnecting the socket");
    socket.leave_all();
    close(socket);
}

/// Closes a socket. Closing sends a packet, which a full queue refuses; then
/// it is retried until the queue drains or the heartbeat (which also cannot be
/// queued) closes the socket.
fn close(socket: SocketRef) {
    if let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
        tokio::spawn(async move {
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !socket.connected() || !matches!(socket.clone().disconnect(), Err(SocketError::InternalChannelFull)) {
                    return;
                }
            }
        });
    }
}
