//! One thin handler per event: decode, call one `Chat` method, answer.

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;

use super::conn::{ConnCtx, Ctx, empty};
use super::events::{self, decode};
use super::presence_batch;
use crate::chat::{AuthSession, Chat, SessionToken};
use crate::domain::{ChatError, ClientId, ConnId, MessageBody, RoomName};
use crate::wire::request::{OriginPolicy, session_cookie};

type Payload = TryData<serde_json::Value>;

/// Why a handshake was refused; the text reaches the client in `connect_error`.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Refused(ChatError),
}

/// Connect middleware: the handshake must come from an allowed origin and
/// carry a valid session cookie. Its `auth` may list capabilities
/// (`{capabilities: [...]}`); unknown ones are ignored.
pub async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    auth: Option<serde_json::Value>,
    chat: Chat,
    origins: Arc<OriginPolicy>,
) -> Result<(), HandshakeError> {
    let headers = &socket.req_parts().headers;
    if !origins.allows(headers) {
        return Err(HandshakeError::Refused(ChatError::CrossSite));
    }
    let token = session_cookie(headers).ok_or(HandshakeError::Refused(ChatError::NotAuthenticated))?;
    let session = chat.authenticate(&SessionToken::from_client(&token)).await.map_err(HandshakeError::Refused)?;
    chat.admit(&session).await.map_err(HandshakeError::Refused)?;
    // Every socket of the user hears what is addressed to the user.
    socket.join(super::notifier::user_key(session.user.id));
    socket.extensions.insert(session);
    // Handlers are registered here, before socketioxide sends the connect
    // packet: an event the client sends the moment it is connected must find
    // them (the connect handler runs later, as a task of its own). The
    // events wait for their turn until `on_connect` has registered the
    // connection with the chat.
    let conn = ConnCtx::new(chat, ConnId(socket.id.to_string()));
    socket.extensions.insert(conn);
    socket.on(events::JOIN_ROOM, join_room::<A>);
    socket.on(events::LEAVE_ROOM, leave_room::<A>);
    socket.on(events::SEND_MESSAGE, send_message::<A>);
    socket.on(events::TYPING, typing::<A>);
    socket.on(events::CREATE_ROOM, create_room::<A>);
    socket.on_fallback(unknown_event::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    if auth.as_ref().is_some_and(|a| events::has_capability(a, events::MEMBERSHIP_CAPABILITY)) {
        socket.extensions.insert(FollowsMemberships);
    }
    let batched = auth.as_ref().is_some_and(presence_batch::wanted);
    socket.join(if batched { presence_batch::ROOM } else { presence_batch::EACH_ROOM });
    Ok(())
}

/// Marks a socket whose handshake asked for the `membership` capability.
#[derive(Debug, Clone, Copy)]
struct FollowsMemberships;

/// The socket is connected and authenticated: register it with the chat.
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, chat: Chat) {
    let (Some(session), Some(conn)) = (socket.extensions.get::<AuthSession>(), socket.extensions.get::<Arc<ConnCtx>>())
    else {
        tracing::error!(sid = %socket.id, "connected without a session");
        if let Err(e) = socket.disconnect() {
            tracing::warn!(error = %e, "socket without a session not disconnected");
        }
        return;
    };
    let welcome = match chat.connect(conn.id.clone(), session).await {
        Ok(welcome) => welcome,
        Err(e) => {
            // Past the handshake's check together with others of the same
            // user (it is checked again here, atomically): too late for a
            // `connect_error`, so the socket hears why and is closed.
            let payload = events::ChatErrorPayload { event: "connect", code: e.code(), message: e.to_string() };
            if let Err(err) = socket.emit(events::CHAT_ERROR, &payload) {
                tracing::debug!(error = %err, sid = %socket.id, "chat_error not sent");
            }
            let sid = socket.id;
            if let Err(err) = socket.disconnect() {
                tracing::debug!(error = %err, %sid, "refused socket not disconnected");
            }
            return;
        }
    };
    // Before `connection_success` and before its first event runs: a
    // `membership` socket is in its rooms by the time its client hears it
    // is connected. If the memberships cannot be read, the socket stays
    // connected and hears why (it may retry by reconnecting).
    if socket.extensions.get::<FollowsMemberships>().is_some()
        && let Err(e) = chat.follow_memberships(&conn.id).await
    {
        let payload = events::ChatErrorPayload { event: "connect", code: e.code(), message: e.to_string() };
        if let Err(err) = socket.emit(events::CHAT_ERROR, &payload) {
            tracing::debug!(error = %err, sid = %socket.id, "chat_error not sent");
        }
    }
    let hello = events::ConnectionSuccess {
        user_id: welcome.user.id,
        username: welcome.user.username.as_str(),
        display_name: welcome.user.display_name.as_str(),
    };
    if let Err(e) = socket.emit(events::CONNECTION_SUCCESS, &hello) {
        tracing::debug!(error = %e, sid = %socket.id, "connection_success not sent");
    }
    conn.registered();
}

async fn on_disconnect<A: Adapter>(socket: SocketRef<A>, reason: DisconnectReason) {
    if let Some(conn) = socket.extensions.get::<Arc<ConnCtx>>() {
        tracing::debug!(conn = %conn.id, ?reason, "disconnected");
        conn.chat.disconnect(&conn.id).await;
    }
}

async fn join_room<A: Adapter>(mut ctx: Ctx<A>, TryData(data): Payload) {
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(events::JOIN_ROOM, &e);
    }
    let result = async {
        let p: events::JoinRoom = decode(data)?;
        ctx.conn.chat.join_room(&ctx.conn.id, p.room_id.0).await
    }
    .await;
    match result {
        Ok(room) => ctx.ok(events::RoomAck { room_id: room.id, room_name: room.name.as_str() }),
        Err(e) => ctx.fail(events::JOIN_ROOM, &e),
    }
}

async fn leave_room<A: Adapter>(mut ctx: Ctx<A>, TryData(data): Payload) {
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(events::LEAVE_ROOM, &e);
    }
    let result = async {
        let p: events::LeaveRoom = decode(data)?;
        ctx.conn.chat.leave_room(&ctx.conn.id, p.room_id.0).await
    }
    .await;
    match result {
        Ok(()) => ctx.ok(empty()),
        Err(e) => ctx.fail(events::LEAVE_ROOM, &e),
    }
}

async fn send_message<A: Adapter>(mut ctx: Ctx<A>, TryData(data): Payload) {
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(events::SEND_MESSAGE, &e);
    }
    let result = async {
        let p: events::SendMessage = decode(data)?;
        let body = MessageBody::parse(&p.message)?;
        let client_id = p.client_id.as_deref().map(ClientId::parse).transpose()?;
        ctx.conn.chat.send_message(&ctx.conn.id, p.room_id.0, body, client_id).await
    }
    .await;
    match result {
        Ok(m) => ctx.ok(events::SendAck { id: m.id, timestamp: m.created_at }),
        Err(e) => ctx.fail(events::SEND_MESSAGE, &e),
    }
}

async fn typing<A: Adapter>(mut ctx: Ctx<A>, TryData(data): Payload) {
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(events::TYPING, &e);
    }
    let result = async {
        let p: events::Typing = decode(data)?;
        ctx.conn.chat.typing(&ctx.conn.id, p.room_id.0, p.is_typing).await
    }
    .await;
    match result {
        Ok(()) => ctx.ok(empty()),
        Err(e) => ctx.fail(events::TYPING, &e),
    }
}

async fn create_room<A: Adapter>(mut ctx: Ctx<A>, TryData(data): Payload) {
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(events::CREATE_ROOM, &e);
    }
    let result = async {
        let p: events::CreateRoom = decode(data)?;
        let name = RoomName::parse(&p.room_name)?;
        ctx.conn.chat.create_room(&ctx.conn.id, name).await
    }
    .await;
    match result {
        Ok(room) => ctx.ok(events::RoomAck { room_id: room.id, room_name: room.name.as_str() }),
        Err(e) => {
            // Part A's own error event is sent whether or not there is an ack.
            ctx.emit(events::ROOM_CREATION_ERROR, &events::RoomCreationError { error: &e.to_string() });
            ctx.fail(events::CREATE_ROOM, &e);
        }
    }
}

async fn unknown_event<A: Adapter>(mut ctx: Ctx<A>, Event(name): Event) {
    let name: String = name.chars().take(64).collect();
    if let Err(e) = ctx.my_turn().await {
        return ctx.fail(&name, &e);
    }
    ctx.fail(&name, &ChatError::UnknownEvent(name.clone()));
}
