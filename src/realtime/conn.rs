//! Per-connection context, and the turn-taking that keeps a connection's
//! events in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use tokio::sync::oneshot;

use super::events::{self, AckErr, AckOk, ChatErrorPayload};
use crate::wire::ErrorBody;
use crate::chat::Chat;
use crate::domain::{ChatError, ConnId};

/// What every handler of one connection needs; kept in the socket's extensions.
pub struct ConnCtx {
    pub chat: Chat,
    pub id: ConnId,
    /// Finishes when the previous event of this connection is handled.
    tail: Mutex<Option<oneshot::Receiver<()>>>,
    /// Events of this connection received and not yet answered.
    in_flight: AtomicUsize,
    /// Completed when the connection is registered with the chat; events that
    /// arrive earlier wait for it (their turn comes after it).
    registered: Mutex<Option<oneshot::Sender<()>>>,
}

/// Events one connection may have waiting; past that, new ones are refused
/// at once instead of queueing without bound (a client flooding the server).
const MAX_IN_FLIGHT: usize = 128;

impl ConnCtx {
    /// A connection whose events wait until [`ConnCtx::registered`] is called.
    pub fn new(chat: Chat, id: ConnId) -> Arc<Self> {
        let (registered, first_turn) = oneshot::channel();
        Arc::new(Self {
            chat,
            id,
            tail: Mutex::new(Some(first_turn)),
            in_flight: AtomicUsize::new(0),
            registered: Mutex::new(Some(registered)),
        })
    }

    /// The chat knows the connection now: its waiting events may run.
    pub fn registered(&self) {
        self.registered.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Counts an event as in flight until it is answered.
struct InFlight(Arc<ConnCtx>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything a handler needs to process one event: the connection, its turn
/// in the connection's queue, and the way to answer (ack or `chat_error`).
///
/// Socketioxide runs each event's handler as its own task; extractors, though,
/// run synchronously in arrival order, so taking the turn here keeps order.
pub struct Ctx<A: Adapter> {
    pub conn: Arc<ConnCtx>,
    socket: Arc<Socket<A>>,
    ack: AckSender<A>,
    wants_ack: bool,
    prev: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
    overloaded: bool,
    _in_flight: InFlight,
}

/// The socket has no connection context (it was never authenticated).
#[derive(Debug, thiserror::Error)]
#[error("socket has no connection context")]
pub struct NoContext;

impl<A: Adapter> FromMessageParts<A> for Ctx<A> {
    type Error = NoContext;

    fn from_message_parts(s: &Arc<Socket<A>>, v: &mut Value, ack_id: &Option<i64>) -> Result<Self, NoContext> {
        let conn = s.extensions.get::<Arc<ConnCtx>>().ok_or(NoContext)?;
        let (done, next) = oneshot::channel();
        let prev = conn.tail.lock().unwrap_or_else(|p| p.into_inner()).replace(next);
        let Ok(ack) = AckSender::from_message_parts(s, v, ack_id);
        let overloaded = conn.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT;
        let in_flight = InFlight(conn.clone());
        Ok(Self {
            conn,
            socket: s.clone(),
            ack,
            wants_ack: ack_id.is_some(),
            prev,
            _done: done,
            overloaded,
            _in_flight: in_flight,
        })
    }
}

impl<A: Adapter> Ctx<A> {
    /// Waits until the connection's previous event has been handled; refuses
    /// at once when the connection already has too many events waiting.
    pub async fn my_turn(&mut self) -> Result<(), ChatError> {
        if self.overloaded {
            metrics::counter!("parley_events_refused_in_flight_total").increment(1);
            return Err(ChatError::RateLimited { retry_after: Duration::from_secs(1) });
        }
        if let Some(prev) = self.prev.take() {
            // An error only means the previous handler ended (or panicked); either way it is done.
            let _ = prev.await;
        }
        Ok(())
    }

    /// Answers success: `{ok: true, ...fields}` when the client asked for an ack.
    pub fn ok<T: serde::Serialize>(self, fields: T) {
        if self.wants_ack
            && let Err(e) = self.ack.send(&AckOk { ok: true, fields }) {
                tracing::debug!(error = %e, conn = %self.conn.id, "ack not sent");
            }
    }

    /// Answers failure: in the ack when the client asked for one, otherwise as
    /// `chat_error` on this socket.
    pub fn fail(self, event: &str, e: &ChatError) {
        let result = if self.wants_ack {
            self.ack.send(&AckErr { ok: false, error: ErrorBody::of(e) })
        } else {
            let payload = ChatErrorPayload { event, code: e.code(), message: e.to_string() };
            self.socket.emit(events::CHAT_ERROR, &payload)
        };
        if let Err(err) = result {
            tracing::debug!(error = %err, conn = %self.conn.id, "error reply not sent");
        }
    }

    /// Sends one event to this socket only.
    pub fn emit<T: serde::Serialize>(&self, event: &str, data: &T) {
        if let Err(e) = self.socket.emit(event, data) {
            tracing::debug!(error = %e, conn = %self.conn.id, event, "emit failed");
        }
    }
}

/// Lets the unit type stand for "ack with `{ok: true}`".
pub fn empty() -> events::Empty {
    events::Empty {}
}
