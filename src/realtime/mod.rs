//! Socket.IO transport: the handshake's authentication, one thin handler per
//! event, and the [`Notifier`](crate::chat::Notifier) that fans chat events out
//! to sockets.
//!
//! Events of one connection are handled one at a time, in the order they
//! arrived (see [`conn::Turn`]), so `join_room` followed at once by
//! `send_message` behaves as the client wrote it.

mod conn;
pub mod events;
pub mod gate;
mod handlers;
mod notifier;
pub mod presence_batch;

use std::sync::Arc;
use std::time::Duration;

use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;

pub use notifier::{SocketNotifier, encode as encode_event};

use crate::chat::Chat;
use crate::wire::request::OriginPolicy;

/// Transport limits.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// Largest Engine.IO payload accepted from a client.
    pub max_payload: u64,
    /// Packets queued for one socket before it counts as not reading.
    pub max_buffer: usize,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long an Engine.IO session may wait before its Socket.IO connect.
    pub connect_timeout: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            max_payload: 64 * 1024,
            max_buffer: 1024,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Builds the Socket.IO layer and its handle (before the chat service exists,
/// because the notifier needs the handle).
pub fn layer(config: &RealtimeConfig) -> (SocketIoLayer, SocketIo) {
    SocketIo::builder()
        .max_payload(config.max_payload)
        .ws_max_message_size(config.max_payload as usize)
        // Chat frames are small; a 1 KiB read buffer (it grows for a larger
        // frame) saves 3 KiB on every idle socket against the 4 KiB default.
        .ws_read_buffer_size(1024)
        .max_buffer_size(config.max_buffer)
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        // A session that never sends its connect holds memory until this
        // (45 s by default); clients send it at once.
        .connect_timeout(config.connect_timeout)
        .build_layer()
}

/// Registers the default namespace: authenticate, then wire the handlers.
pub fn register(io: &SocketIo, chat: Chat, origins: Arc<OriginPolicy>) {
    let auth_chat = chat.clone();
    let authenticate = move |socket: socketioxide::extract::SocketRef, auth: socketioxide::extract::TryData<serde_json::Value>| {
        let chat = auth_chat.clone();
        let origins = origins.clone();
        // An `auth` that is not JSON asks for nothing: it never refuses a handshake.
        async move { handlers::authenticate(socket, auth.0.ok(), chat, origins).await }
    };
    let on_connect = move |socket: socketioxide::extract::SocketRef| {
        let chat = chat.clone();
        async move { handlers::on_connect(socket, chat).await }
    };
    io.ns("/", on_connect.with(authenticate));
}
