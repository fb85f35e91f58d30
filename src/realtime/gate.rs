//! The handshake gate: a middleware in front of the Socket.IO layer that
//! refuses a handshake without an allowed origin and a valid session before
//! socketioxide creates anything for it.
//!
//! Without it every `GET /socket.io/?EIO=4&transport=polling` made an
//! Engine.IO session (~18 KB) that lived until the connect timeout, whether or
//! not the client could ever log in: 45,000 handshakes took 800 MB.
//!
//! The refusal must look to clients exactly as socketioxide's did: the
//! official client reports a Socket.IO CONNECT_ERROR as `connect_error` and
//! does not reconnect, whereas it retries an HTTP error forever. So the gate
//! answers with an Engine.IO open packet whose sid only says "refused"
//! (nothing is stored: the gate knows such a sid by its prefix), followed by
//! the CONNECT_ERROR with the same message as the authentication in
//! `handlers::authenticate` (which stays, as defence in depth).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::RealtimeConfig;
use crate::chat::{Chat, SessionToken};
use crate::domain::ChatError;
use crate::wire::request::{OriginPolicy, session_cookie};

/// Socketioxide's (Engine.IO's) request path.
const PATH: &str = "/socket.io";
/// Start of the sid of a refused handshake. Engine.IO's own sids are
/// base64url and never contain a '.'.
const REFUSED: &str = "refused.";
/// How long a refused websocket waits for the client's connect packet before
/// it is closed anyway.
const WS_WAIT: Duration = Duration::from_secs(3);

/// What the gate needs.
pub struct Gate {
    chat: Chat,
    origins: Arc<OriginPolicy>,
    ping_interval_ms: u128,
    ping_timeout_ms: u128,
    max_payload: u64,
}

impl Gate {
    pub fn new(chat: Chat, origins: Arc<OriginPolicy>, config: &RealtimeConfig) -> Arc<Self> {
        Arc::new(Self {
            chat,
            origins,
            ping_interval_ms: config.ping_interval.as_millis(),
            ping_timeout_ms: config.ping_timeout.as_millis(),
            max_payload: config.max_payload,
        })
    }

    /// The same checks, in the same order, as `handlers::authenticate`.
    async fn check(&self, headers: &HeaderMap) -> Result<(), ChatError> {
        if !self.origins.allows(headers) {
            return Err(ChatError::CrossSite);
        }
        let token = session_cookie(headers).ok_or(ChatError::NotAuthenticated)?;
        self.chat.authenticate(&SessionToken::from_client(&token)).await.map(|_| ())
    }

    /// The Engine.IO open packet of a refused handshake: no upgrade offered,
    /// so the client does not try one.
    fn open_packet(&self, error: &ChatError) -> String {
        let open = serde_json::json!({
            "sid": format!("{REFUSED}{}", error.code()),
            "upgrades": [],
            "pingInterval": self.ping_interval_ms as u64,
            "pingTimeout": self.ping_timeout_ms as u64,
            "maxPayload": self.max_payload,
        });
        format!("0{open}")
    }
}

/// Socket.IO's CONNECT_ERROR for the default namespace, in an Engine.IO message.
fn connect_error(error: &ChatError) -> String {
    format!("44{}", serde_json::json!({ "message": error.to_string() }))
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn gate(State(gate): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let ours = path.strip_prefix(PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !ours {
        return next.run(req).await;
    }
    let query = req.uri().query().unwrap_or_default();
    match query_value(query, "sid") {
        Some(sid) if sid.starts_with(REFUSED) => return refused_session(req.method()),
        Some(_) => return next.run(req).await,
        None => {}
    }
    let error = match gate.check(req.headers()).await {
        Ok(()) => return next.run(req).await,
        Err(e) => e,
    };
    tracing::debug!(code = error.code(), "socket handshake refused at the gate");
    match query_value(query, "transport") {
        Some("websocket") => refuse_websocket(&gate, req, error),
        _ if req.method() == Method::GET => {
            let body = format!("{}\u{1e}{}", gate.open_packet(&error), connect_error(&error));
            ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
        }
        // A POST without a sid is no handshake; socketioxide would say 400 too.
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Later requests of a refused session: its messages are taken and dropped,
/// its poll gets a close packet.
fn refused_session(method: &Method) -> Response {
    let body = if method == Method::POST { "ok" } else { "1" };
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
}

/// A refused websocket-first handshake gets the same packets over a websocket
/// of its own: open, then (after the client's connect, or a short wait)
/// CONNECT_ERROR, then a close frame. Nothing but this task is kept.
fn refuse_websocket(gate: &Gate, mut req: Request, error: ChatError) -> Response {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let on_upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
    let (true, Some(accept), Some(on_upgrade)) = (is_upgrade, key, on_upgrade) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let open = gate.open_packet(&error);
    let refusal = connect_error(&error);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let config = WebSocketConfig::default().max_message_size(Some(4096)).max_frame_size(Some(4096));
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let answer = async {
            ws.send(Message::text(open)).await?;
            // Clients send their connect right after the open packet; the
            // refusal answers it, as socketioxide's did.
            let _ = tokio::time::timeout(WS_WAIT, ws.next()).await;
            ws.send(Message::text(refusal)).await?;
            ws.close(None).await
        };
        if let Err(e) = tokio::time::timeout(WS_WAIT * 2, answer).await.unwrap_or(Ok(())) {
            tracing::debug!(error = %e, "refused websocket closed early");
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The value of a query field (Engine.IO's are plain ASCII, never escaped).
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_field_is_found_among_others() {
        assert_eq!(query_value("EIO=4&transport=polling&sid=abc", "sid"), Some("abc"));
        assert_eq!(query_value("EIO=4&transport=polling", "sid"), None);
    }

    #[test]
    fn the_refusal_is_a_socket_io_connect_error_with_the_usual_message() {
        assert_eq!(connect_error(&ChatError::NotAuthenticated), r#"44{"message":"You are not logged in"}"#);
    }
}
