//! Fan-out: chat events to the sockets that should hear them.
//!
//! Each event is serialised once; every receiving socket gets the same bytes.
//! A socket whose queue is full (its client stopped reading) is taken out of
//! all rooms and disconnected, never silently skipped: its client reconnects
//! and asks for what it missed with `after`.

use std::str::FromStr;
use std::time::Duration;

use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};

use super::events::{self, MessagePayload, Presence, RoomCreated, RoomNotice, UserTyping};
use crate::chat::{Audience, Event, Notifier};
use crate::domain::{ConnId, RoomId};

pub struct SocketNotifier {
    io: SocketIo,
}

impl SocketNotifier {
    pub fn new(io: SocketIo) -> Self {
        Self { io }
    }

    /// The default namespace; gone once the server closed it at shutdown
    /// (socketioxide's `io.to()` and friends would panic then).
    fn ns(&self) -> Option<socketioxide::operators::BroadcastOperators> {
        self.io.of("/")
    }

    fn socket(&self, conn: &ConnId) -> Option<SocketRef> {
        let sid = Sid::from_str(&conn.0).ok()?;
        self.ns()?.get_socket(sid)
    }
}

/// The Socket.IO room a chat room maps to.
fn room_key(room: RoomId) -> String {
    format!("room:{room}")
}

/// The wire name and the once-serialised payload of an event (public for
/// the micro-benchmarks).
pub fn encode(event: &Event) -> Result<(&'static str, Box<RawValue>), serde_json::Error> {
    let raw = |v: &dyn erased::Ser| v.to_raw();
    Ok(match event {
        Event::NewMessage(m) => (events::NEW_MESSAGE, raw(&MessagePayload::from(m))?),
        Event::UserJoined { room, user, text } | Event::UserLeft { room, user, text } => (
            if matches!(event, Event::UserJoined { .. }) { events::USER_JOINED } else { events::USER_LEFT_ROOM },
            raw(&RoomNotice {
                room_id: *room,
                username: user.username.as_str(),
                display_name: user.display_name.as_str(),
                message: text,
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
        let Some(ns) = self.ns() else { return };
        let (sockets, except) = match &audience {
            Audience::Everyone => (ns.sockets(), None),
            Audience::Room(room) => (ns.to(room_key(*room)).sockets(), None),
            Audience::RoomExcept(room, conn) => (ns.to(room_key(*room)).sockets(), Sid::from_str(&conn.0).ok()),
        };
        let mut delivered = 0u64;
        for socket in sockets {
            if except == Some(socket.id) {
                continue;
            }
            match socket.emit(name, &*payload) {
                Ok(()) => delivered += 1,
                Err(SendError::Socket(SocketError::InternalChannelFull)) => overflowed(socket),
                Err(SendError::Socket(SocketError::Closed)) => {}
                Err(e) => tracing::warn!(error = %e, sid = %socket.id, event = name, "emit failed"),
            }
        }
        metrics::counter!("parley_deliveries_total").increment(delivered);
    }

    fn subscribe(&self, conn: &ConnId, room: RoomId) {
        if let Some(socket) = self.socket(conn) {
            socket.join(room_key(room));
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

/// A socket that cannot take more: it hears nothing further and is closed.
fn overflowed(socket: SocketRef) {
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
