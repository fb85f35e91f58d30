//! A minimal Socket.IO 5 client over Engine.IO 4's WebSocket transport.
//!
//! Each [`SioClient`] owns two tokio tasks:
//!
//! * a **reader** that owns the WebSocket's read half: it answers Engine.IO pings,
//!   hands acks to the matching [`SioClient::emit_with_ack`] caller and pushes
//!   events into an unbounded channel;
//! * a **writer** that owns the write half and sends whatever frames are queued on
//!   its channel, so [`SioClient::emit`] is synchronous and never blocks.
//!
//! When the reader stops (close frame, `"41"`, `"1"`, I/O error) the client is
//! marked disconnected, pending acks fail with [`SioError::Closed`] and the event
//! channel closes. Dropping a [`SioClient`] aborts both tasks.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::packet::{self, Incoming, OpenInfo};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long [`SioClient::connect`] may take, WebSocket handshake included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`SioClient::close`] waits for the server to complete the close handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Name of the synthetic event pushed into the event stream when the server sends
/// something this client cannot handle (malformed frame, binary packet, other
/// namespace, ...). Its data is `{"error": "...", "frame": "..."}`. The connection
/// stays open.
pub const PROTOCOL_ERROR_EVENT: &str = "$parley-client/protocol-error";

/// An event received from the server.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event name (first element of the payload array).
    pub name: String,
    /// The first argument, or `Value::Null` if the event had none.
    pub data: Value,
}

/// Errors of [`SioClient`].
#[derive(Debug, thiserror::Error)]
pub enum SioError {
    /// WebSocket-level failure (connect, I/O, protocol).
    #[error("websocket error: {0}")]
    Ws(#[from] Box<tungstenite::Error>),
    /// The server answered the WebSocket upgrade with a non-101 HTTP response.
    #[error("websocket upgrade refused with HTTP {0}: {1}")]
    Http(StatusCode, String),
    /// The server answered the namespace CONNECT with CONNECT_ERROR (`44{...}`).
    #[error("socket.io connect refused: {0}")]
    Refused(Value),
    /// The named operation did not complete in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection is (or got) closed.
    #[error("connection closed")]
    Closed,
    /// The peer said something unexpected, or an expectation was violated.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<tungstenite::Error> for SioError {
    fn from(e: tungstenite::Error) -> Self {
        match e {
            tungstenite::Error::Http(resp) => {
                let status = resp.status();
                let body = resp
                    .into_body()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                SioError::Http(status, body)
            }
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                SioError::Closed
            }
            other => SioError::Ws(Box::new(other)),
        }
    }
}

/// Extra request details for [`SioClient::connect`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Sees every text frame before it is decoded; a frame for which it
    /// returns `true` is taken and goes no further. The load generator uses
    /// it to time deliveries without decoding or buffering each one.
    pub tap: Option<FrameTap>,
    /// Value of the `Cookie` header, e.g. `"parley_session=abc"` (see
    /// [`crate::HttpClient::cookie_header`]).
    pub cookie: Option<String>,
    /// Value of the `Origin` header.
    pub origin: Option<String>,
    /// Any other headers to send with the upgrade request.
    pub extra_headers: Vec<(String, String)>,
    /// The handshake's `auth` payload, sent with the namespace CONNECT
    /// (`40{…}`), e.g. `{"capabilities": ["presence_batch"]}`.
    pub auth: Option<Value>,
}

impl ConnectOptions {
    /// Options carrying just this cookie header.
    pub fn with_cookie(cookie: impl Into<String>) -> Self {
        ConnectOptions {
            cookie: Some(cookie.into()),
            ..Default::default()
        }
    }
}

/// A frame hook; see [`ConnectOptions::tap`].
#[derive(Clone)]
pub struct FrameTap(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for FrameTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameTap(..)")
    }
}

/// State shared between the client handle and its reader task.
struct Shared {
    connected: AtomicBool,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
}

/// One Socket.IO connection on the default namespace. See the [module docs](self).
pub struct SioClient {
    sid: String,
    engine: OpenInfo,
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Events received but not yet returned by `wait_for` & co, oldest first.
    buffer: VecDeque<Event>,
    shared: Arc<Shared>,
    next_ack: AtomicU64,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for SioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SioClient")
            .field("sid", &self.sid)
            .field("engine_sid", &self.engine.sid)
            .field("connected", &self.is_connected())
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Turns `http://host:port[/]` into `ws://host:port/socket.io/?EIO=4&transport=websocket`.
/// `https` maps to `wss` (which needs a TLS feature of tokio-tungstenite this crate
/// does not enable); `ws`/`wss` bases are kept as they are.
pub fn socketio_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.to_owned()
    };
    format!("{base}/socket.io/?EIO=4&transport=websocket")
}

fn header_value(v: &str) -> Result<HeaderValue, SioError> {
    HeaderValue::from_str(v)
        .map_err(|e| SioError::Protocol(format!("invalid header value {v:?}: {e}")))
}

impl SioClient {
    /// Connects to `base_url` (e.g. `"http://127.0.0.1:5000"`): opens
    /// `ws://…/socket.io/?EIO=4&transport=websocket` with the given headers, reads
    /// the Engine.IO open packet, sends `40` (with the `auth` payload if any) and waits for `40{"sid":…}` (→ `Ok`) or
    /// `44{…}` (→ [`SioError::Refused`]). Gives up after [`CONNECT_TIMEOUT`].
    pub async fn connect(base_url: &str, opts: ConnectOptions) -> Result<SioClient, SioError> {
        Self::connect_with_timeout(base_url, opts, CONNECT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with a custom overall timeout.
    pub async fn connect_with_timeout(
        base_url: &str,
        opts: ConnectOptions,
        limit: Duration,
    ) -> Result<SioClient, SioError> {
        let mut req = socketio_url(base_url).into_client_request()?;
        let headers = req.headers_mut();
        if let Some(cookie) = &opts.cookie {
            headers.insert(header::COOKIE, header_value(cookie)?);
        }
        if let Some(origin) = &opts.origin {
            headers.insert(header::ORIGIN, header_value(origin)?);
        }
        for (name, value) in &opts.extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| SioError::Protocol(format!("invalid header name {name:?}: {e}")))?;
            headers.append(name, header_value(value)?);
        }

        let (ws, engine, sid) = timeout(limit, async {
            // Nagle off: chat frames are small and latency matters more than packing.
            let (mut ws, _resp) =
                tokio_tungstenite::connect_async_with_config(req, None, true).await?;
            let engine = handshake_open(&mut ws).await?;
            let connect = match &opts.auth {
                None => Utf8Bytes::from_static(packet::CONNECT),
                Some(auth) => format!("{}{auth}", packet::CONNECT).into(),
            };
            ws.send(Message::Text(connect)).await?;
            let sid = handshake_connect(&mut ws).await?;
            Ok::<_, SioError>((ws, engine, sid))
        })
        .await
        .map_err(|_| SioError::Timeout("socket.io connect"))??;

        let (sink, stream) = ws.split();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(true),
            pending: Mutex::new(HashMap::new()),
        });
        let writer = tokio::spawn(writer_task(sink, out_rx));
        let reader = tokio::spawn(reader_task(stream, out_tx.clone(), ev_tx, shared.clone(), opts.tap));
        Ok(SioClient {
            sid,
            engine,
            out: out_tx,
            events: ev_rx,
            buffer: VecDeque::new(),
            shared,
            next_ack: AtomicU64::new(0),
            reader,
            writer,
        })
    }

    /// The Socket.IO session id (from `40{"sid":…}`).
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The Engine.IO open packet's details (engine sid, ping interval, …).
    pub fn engine(&self) -> &OpenInfo {
        &self.engine
    }

    /// Whether the reader task is still running (no close, `41`, `1` or error seen).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    fn queue(&self, frame: String) -> Result<(), SioError> {
        if !self.is_connected() {
            return Err(SioError::Closed);
        }
        self.out
            .send(Message::Text(frame.into()))
            .map_err(|_| SioError::Closed)
    }

    /// Queues `42["event",data]`. Returns [`SioError::Closed`] if the connection is gone.
    pub fn emit(&self, event: &str, data: Value) -> Result<(), SioError> {
        self.queue(packet::encode_event(event, &data, None))
    }

    /// Sends `42<id>["event",data]` and waits for `43<id>[arg, …]`, returning the
    /// first argument (`Null` if none).
    pub async fn emit_with_ack(
        &self,
        event: &str,
        data: Value,
        limit: Duration,
    ) -> Result<Value, SioError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(id, tx);
        // The reader marks the client disconnected *before* clearing `pending`, so
        // either it sees our entry (and drops it, failing `rx`) or we see the flag here.
        if let Err(e) = self.queue(packet::encode_event(event, &data, Some(id))) {
            self.shared.pending.lock().unwrap().remove(&id);
            return Err(e);
        }
        match timeout(limit, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(SioError::Closed),
            Err(_) => {
                self.shared.pending.lock().unwrap().remove(&id);
                Err(SioError::Timeout("ack"))
            }
        }
    }

    /// Sends an arbitrary text frame as is (for malformed-input tests).
    pub fn send_raw(&self, frame: &str) -> Result<(), SioError> {
        self.queue(frame.to_owned())
    }

    /// Receives the next event from the channel, or `None` once the connection is
    /// closed and everything has been received.
    async fn recv_until(&mut self, deadline: Instant) -> Result<Option<Event>, ()> {
        timeout_at(deadline, self.events.recv())
            .await
            .map_err(|_| ())
    }

    /// Returns the oldest event (buffered or future), whatever its name.
    pub async fn next_event(&mut self, limit: Duration) -> Result<Event, SioError> {
        if let Some(ev) = self.buffer.pop_front() {
            return Ok(ev);
        }
        match timeout(limit, self.events.recv()).await {
            Ok(Some(ev)) => Ok(ev),
            Ok(None) => Err(SioError::Closed),
            Err(_) => Err(SioError::Timeout("next event")),
        }
    }

    /// Returns the data of the first event (already buffered or arriving within
    /// `limit`) named `event` whose data satisfies `pred`. Other events stay buffered,
    /// in order, for later calls. Fails with [`SioError::Timeout`] after `limit`, or
    /// [`SioError::Closed`] if the connection ends first.
    pub async fn wait_for(
        &mut self,
        event: &str,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Value, SioError> {
        if let Some(i) = self
            .buffer
            .iter()
            .position(|e| e.name == event && pred(&e.data))
        {
            return Ok(self.buffer.remove(i).expect("index from position").data);
        }
        let deadline = Instant::now() + limit;
        loop {
            match self.recv_until(deadline).await {
                Ok(Some(ev)) if ev.name == event && pred(&ev.data) => return Ok(ev.data),
                Ok(Some(ev)) => self.buffer.push_back(ev),
                Ok(None) => return Err(SioError::Closed),
                Err(()) => return Err(SioError::Timeout("event")),
            }
        }
    }

    /// The opposite of [`wait_for`](Self::wait_for): `Ok(())` if no event named
    /// `event` satisfying `pred` is buffered or arrives within `within` (or before the
    /// connection closes), otherwise `Err(Protocol)` describing the event. Every
    /// event received meanwhile stays buffered, the offending one included.
    pub async fn expect_none(
        &mut self,
        event: &str,
        pred: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Result<(), SioError> {
        let unexpected =
            |ev: &Event| SioError::Protocol(format!("unexpected event {:?}: {}", ev.name, ev.data));
        if let Some(ev) = self
            .buffer
            .iter()
            .find(|e| e.name == event && pred(&e.data))
        {
            return Err(unexpected(ev));
        }
        let deadline = Instant::now() + within;
        loop {
            match self.recv_until(deadline).await {
                Ok(Some(ev)) => {
                    let hit = ev.name == event && pred(&ev.data);
                    let err = hit.then(|| unexpected(&ev));
                    self.buffer.push_back(ev);
                    if let Some(err) = err {
                        return Err(err);
                    }
                }
                Ok(None) | Err(()) => return Ok(()),
            }
        }
    }

    /// Everything received so far (buffered or waiting in the channel), oldest
    /// first, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut all: Vec<Event> = self.buffer.drain(..).collect();
        while let Ok(ev) = self.events.try_recv() {
            all.push(ev);
        }
        all
    }

    /// Resolves once the server has closed the connection (close frame, `41`, `1`)
    /// or it failed. Events received meanwhile are buffered.
    pub async fn disconnected(&mut self, limit: Duration) -> Result<(), SioError> {
        let deadline = Instant::now() + limit;
        loop {
            match self.recv_until(deadline).await {
                Ok(Some(ev)) => self.buffer.push_back(ev),
                Ok(None) => return Ok(()),
                Err(()) => return Err(SioError::Timeout("disconnect")),
            }
        }
    }

    /// Sends `41`, closes the WebSocket and waits briefly for the server to finish
    /// the close handshake.
    pub async fn close(mut self) {
        if self.is_connected() {
            let _ = self
                .out
                .send(Message::Text(Utf8Bytes::from_static(packet::DISCONNECT)));
        }
        let _ = self.out.send(Message::Close(None));
        let deadline = Instant::now() + CLOSE_GRACE;
        let _ = timeout_at(deadline, &mut self.writer).await;
        let _ = timeout_at(deadline, &mut self.reader).await;
        // Drop aborts whatever is still running.
    }
}

/// Reads the next text frame during the handshake, skipping WebSocket control frames.
async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, SioError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t),
            Some(Ok(Message::Binary(_))) => {
                return Err(SioError::Protocol("binary frame during handshake".into()));
            }
            Some(Ok(Message::Close(_))) | None => return Err(SioError::Closed),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

fn unexpected_during_handshake(stage: &str, frame: &str) -> SioError {
    SioError::Protocol(format!(
        "unexpected frame {frame:?} while waiting for {stage}"
    ))
}

async fn handshake_open(ws: &mut Ws) -> Result<OpenInfo, SioError> {
    loop {
        let frame = next_text(ws).await?;
        match packet::decode(&frame) {
            Ok(Incoming::Open(info)) => return Ok(info),
            Ok(Incoming::Noop) => {}
            _ => {
                return Err(unexpected_during_handshake(
                    "the engine.io open packet",
                    &frame,
                ));
            }
        }
    }
}

async fn handshake_connect(ws: &mut Ws) -> Result<String, SioError> {
    loop {
        let frame = next_text(ws).await?;
        match packet::decode(&frame) {
            Ok(Incoming::Connect(v)) => {
                return match v.get("sid").and_then(Value::as_str) {
                    Some(sid) => Ok(sid.to_owned()),
                    None => Err(SioError::Protocol(format!(
                        "connect packet without sid: {frame:?}"
                    ))),
                };
            }
            Ok(Incoming::ConnectError(v)) => return Err(SioError::Refused(v)),
            Ok(Incoming::Ping(p)) => ws.send(Message::Text(pong(p))).await?,
            Ok(Incoming::Noop) => {}
            Ok(Incoming::Close) | Ok(Incoming::Disconnect) => return Err(SioError::Closed),
            _ => {
                return Err(unexpected_during_handshake(
                    "the socket.io connect answer",
                    &frame,
                ));
            }
        }
    }
}

fn pong(ping_payload: &str) -> Utf8Bytes {
    if ping_payload.is_empty() {
        Utf8Bytes::from_static(packet::PONG)
    } else {
        packet::encode_pong(ping_payload).into()
    }
}

async fn writer_task(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::UnboundedReceiver<Message>) {
    while let Some(msg) = rx.recv().await {
        let mut closing = matches!(msg, Message::Close(_));
        if sink.feed(msg).await.is_err() {
            return;
        }
        // Batch whatever else is already queued into one flush.
        while !closing && let Ok(msg) = rx.try_recv() {
            closing = matches!(msg, Message::Close(_));
            if sink.feed(msg).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
    // Every sender is gone: close politely.
    let _ = sink.close().await;
}

fn protocol_error(error: impl std::fmt::Display, frame: &str) -> Event {
    Event {
        name: PROTOCOL_ERROR_EVENT.to_owned(),
        data: json!({ "error": error.to_string(), "frame": frame }),
    }
}

async fn reader_task(
    mut stream: SplitStream<Ws>,
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
    tap: Option<FrameTap>,
) {
    // Sends to `events` only fail once the client is dropped, and then this task is
    // being aborted anyway, so their results are ignored.
    while let Some(msg) = stream.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(b)) => {
                let frame = format!("<{} binary bytes>", b.len());
                let _ = events.send(protocol_error("binary frames are not supported", &frame));
                continue;
            }
            // After a close frame tungstenite queues its reply; the next poll sends it
            // and then ends the stream.
            Ok(_) => continue,
            Err(_) => break,
        };
        if tap.as_ref().is_some_and(|tap| (tap.0)(&text)) {
            continue;
        }
        match packet::decode(&text) {
            Ok(Incoming::Ping(p)) => {
                let _ = out.send(Message::Text(pong(p)));
            }
            Ok(Incoming::Event { name, data, ack: _ }) => {
                let _ = events.send(Event { name, data });
            }
            Ok(Incoming::Ack { id, data }) => {
                let waiter = shared.pending.lock().unwrap().remove(&id);
                if let Some(tx) = waiter {
                    let _ = tx.send(data);
                }
            }
            Ok(Incoming::Disconnect | Incoming::Close) => {
                let _ = out.send(Message::Close(None));
                break;
            }
            Ok(Incoming::Noop | Incoming::Pong) => {}
            Ok(Incoming::Binary) => {
                let _ = events.send(protocol_error(
                    "binary socket.io packets are not supported",
                    &text,
                ));
            }
            Ok(other) => {
                let _ = events.send(protocol_error(
                    format!("unexpected packet {other:?}"),
                    &text,
                ));
            }
            Err(e) => {
                let _ = events.send(protocol_error(e, &text));
            }
        }
    }
    shared.connected.store(false, Ordering::SeqCst);
    // Dropping the senders fails every pending `emit_with_ack` with `Closed`.
    shared.pending.lock().unwrap().clear();
    // `events` is dropped here, which closes the event channel.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_base_url_maps_to_the_websocket_endpoint() {
        assert_eq!(
            socketio_url("http://127.0.0.1:5000"),
            "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            socketio_url("http://127.0.0.1:5000/"),
            "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            socketio_url("https://chat.example"),
            "wss://chat.example/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            socketio_url("ws://h:1"),
            "ws://h:1/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn a_refused_upgrade_keeps_status_and_body() {
        let resp = tungstenite::http::Response::builder()
            .status(401)
            .body(Some(b"no session".to_vec()))
            .unwrap();
        match SioError::from(tungstenite::Error::Http(Box::new(resp))) {
            SioError::Http(status, body) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(body, "no session");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_pong_for_an_empty_ping_is_the_static_frame() {
        assert_eq!(pong("").as_str(), "3");
        assert_eq!(pong("probe").as_str(), "3probe");
    }

    #[test]
    fn the_client_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SioClient>();
    }
}
