//! End-to-end tests of `SioClient` against a tiny in-process WebSocket server that
//! speaks just enough Engine.IO 4 / Socket.IO 5 (written by hand here, so the
//! client's encoder/decoder are not used to test themselves).
//!
//! The fake server:
//! * sends `0{...}` on accept, answers `40` with `40{"sid":"x"}` and then pings (`2`);
//! * echoes `42[...]` events back unchanged, except a few magic event names;
//! * answers `42<id>["name",args...]` with `43<id>[args..., "second"]`;
//! * reports every frame it receives (and the upgrade request) to the test.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parley_client::sio::{ConnectOptions, PROTOCOL_ERROR_EVENT};
use parley_client::{SioClient, SioError};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode, Uri};

const T: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    RefuseUpgrade,
    ConnectError,
    /// Accept the WebSocket but never send the open packet.
    Mute,
}

/// What the server saw, in order.
#[derive(Debug)]
enum Seen {
    Upgrade(Uri, HeaderMap),
    Frame(String),
    WsClose,
    Gone,
}

struct FakeServer {
    base_url: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    async fn start(mode: Mode) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(tcp, mode, tx.clone()));
            }
        });
        FakeServer {
            base_url,
            seen,
            task,
        }
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(T, self.seen.recv())
            .await
            .expect("server saw nothing in time")
            .expect("server gone")
    }

    /// Skips until a received text frame satisfies `pred`; returns it.
    async fn frame_where(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            if let Seen::Frame(f) = self.next().await
                && pred(&f)
            {
                return f;
            }
        }
    }

    async fn upgrade(&mut self) -> (Uri, HeaderMap) {
        loop {
            if let Seen::Upgrade(uri, headers) = self.next().await {
                return (uri, headers);
            }
        }
    }

    /// Waits until the connection ends, returning whether a close frame came first.
    async fn ended(&mut self) -> bool {
        let mut closed = false;
        loop {
            match self.next().await {
                Seen::WsClose => closed = true,
                Seen::Gone => return closed,
                _ => {}
            }
        }
    }
}

// The callback's `Result<Response, ErrorResponse>` is dictated by tungstenite.
#[allow(clippy::result_large_err)]
async fn serve(tcp: tokio::net::TcpStream, mode: Mode, tx: mpsc::UnboundedSender<Seen>) {
    let tx2 = tx.clone();
    let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let _ = tx2.send(Seen::Upgrade(req.uri().clone(), req.headers().clone()));
        if mode == Mode::RefuseUpgrade {
            let mut err = ErrorResponse::new(Some("no session".to_owned()));
            *err.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(err);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        let _ = tx.send(Seen::Gone);
        return;
    };
    if mode != Mode::Mute {
        let open = r#"0{"sid":"eio-1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        ws.send(Message::text(open)).await.unwrap();
    }
    while let Some(Ok(msg)) = ws.next().await {
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Close(_) => {
                let _ = tx.send(Seen::WsClose);
                continue;
            }
            _ => continue,
        };
        let _ = tx.send(Seen::Frame(text.clone()));
        for reply in replies(&text, mode) {
            match reply {
                Reply::Text(t) => ws.send(Message::text(t)).await.unwrap(),
                Reply::Close => ws.close(None).await.unwrap(),
            }
        }
    }
    let _ = tx.send(Seen::Gone);
}

enum Reply {
    Text(String),
    Close,
}

fn replies(frame: &str, mode: Mode) -> Vec<Reply> {
    let text = |s: &str| Reply::Text(s.to_owned());
    if frame == "40" {
        return if mode == Mode::ConnectError {
            vec![text(r#"44{"message":"unauthorized","data":{"code":401}}"#)]
        } else {
            vec![text(r#"40{"sid":"x"}"#), text("2")]
        };
    }
    let Some(rest) = frame.strip_prefix("42") else {
        return vec![];
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(Value::Array(args)) = serde_json::from_str::<Value>(&rest[digits.len()..]) else {
        return vec![];
    };
    let name = args.first().and_then(Value::as_str).unwrap_or_default();
    if !digits.is_empty() {
        if name == "silent" {
            return vec![];
        }
        let mut ack_args = args[1..].to_vec();
        ack_args.push(json!("second"));
        return vec![Reply::Text(format!("43{digits}{}", Value::Array(ack_args)))];
    }
    match name {
        "kick" => vec![text("41")],
        "hangup" => vec![Reply::Close],
        "burst" => (1..=5)
            .map(|n| Reply::Text(format!(r#"42["n",{n}]"#)))
            .collect(),
        "ask" => vec![text(r#"4277["asked",{"q":1}]"#)],
        "garbage" => vec![
            text("42{oops"),
            text(r#"451-["bin",{"_placeholder":true,"num":0}]"#),
            text("6"),
            text(r#"42["after-garbage"]"#),
        ],
        _ => vec![Reply::Text(frame.to_owned())],
    }
}

async fn connect(server: &FakeServer) -> SioClient {
    SioClient::connect(&server.base_url, ConnectOptions::default())
        .await
        .expect("connect")
}

#[tokio::test]
async fn connect_sends_the_headers_completes_the_handshake_and_answers_pings() {
    let mut server = FakeServer::start(Mode::Normal).await;
    let opts = ConnectOptions {
        cookie: Some("parley_session=abc".into()),
        origin: Some("http://localhost:5000".into()),
        extra_headers: vec![("X-Test".into(), "yes".into())],
        ..Default::default()
    };
    let client = SioClient::connect(&server.base_url, opts).await.unwrap();
    assert_eq!(client.sid(), "x");
    assert_eq!(client.engine().sid, "eio-1");
    assert_eq!(client.engine().ping_interval, 25000);
    assert!(client.is_connected());

    let (uri, headers) = server.upgrade().await;
    assert_eq!(uri.path(), "/socket.io/");
    assert_eq!(uri.query(), Some("EIO=4&transport=websocket"));
    assert_eq!(headers["cookie"], "parley_session=abc");
    assert_eq!(headers["origin"], "http://localhost:5000");
    assert_eq!(headers["x-test"], "yes");

    assert_eq!(server.frame_where(|_| true).await, "40");
    // The server pinged right after the connect answer; the reader task pongs.
    assert_eq!(server.frame_where(|_| true).await, "3");
}

#[tokio::test]
async fn emitted_events_come_back_through_wait_for() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client
        .emit("message", json!({"text": "hi", "room": "général"}))
        .unwrap();
    let data = client
        .wait_for("message", |d| d["text"] == "hi", T)
        .await
        .unwrap();
    assert_eq!(data, json!({"text": "hi", "room": "général"}));
}

#[tokio::test]
async fn emit_with_ack_resolves_with_the_first_ack_argument_of_its_own_id() {
    let server = FakeServer::start(Mode::Normal).await;
    let client = connect(&server).await;
    let (a, b) = tokio::join!(
        client.emit_with_ack("join", json!({"room": "a"}), T),
        client.emit_with_ack("join", json!({"room": "b"}), T),
    );
    assert_eq!(a.unwrap(), json!({"room": "a"}));
    assert_eq!(b.unwrap(), json!({"room": "b"}));
}

#[tokio::test]
async fn emit_with_ack_times_out_without_an_answer() {
    let server = FakeServer::start(Mode::Normal).await;
    let client = connect(&server).await;
    let err = client
        .emit_with_ack("silent", json!(null), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, SioError::Timeout(_)), "{err:?}");
    // The connection is still usable afterwards.
    assert_eq!(
        client.emit_with_ack("again", json!(1), T).await.unwrap(),
        json!(1)
    );
}

#[tokio::test]
async fn wait_for_keeps_non_matching_events_buffered_in_order() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("burst", json!(null)).unwrap();
    assert_eq!(
        client.wait_for("n", |d| *d == 3, T).await.unwrap(),
        json!(3)
    );
    assert_eq!(
        client.wait_for("n", |d| *d == 5, T).await.unwrap(),
        json!(5)
    );
    // An already-buffered event is found without waiting.
    assert_eq!(
        client
            .wait_for("n", |d| *d == 2, Duration::ZERO)
            .await
            .unwrap(),
        json!(2)
    );

    let err = client
        .expect_none("n", |d| *d == 1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, SioError::Protocol(_)), "{err:?}");
    client
        .expect_none("n", |d| *d == 9, Duration::from_millis(100))
        .await
        .unwrap();

    let rest: Vec<Value> = client.drain().into_iter().map(|e| e.data).collect();
    assert_eq!(rest, vec![json!(1), json!(4)]);
    assert!(client.drain().is_empty());
}

#[tokio::test]
async fn wait_for_times_out_when_nothing_matches() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("message", json!("x")).unwrap();
    let err = client
        .wait_for("message", |d| *d == "y", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, SioError::Timeout(_)), "{err:?}");
    assert_eq!(client.next_event(T).await.unwrap().data, json!("x"));
}

#[tokio::test]
async fn expect_none_fails_when_a_matching_event_arrives_and_keeps_it() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("typing", json!({"user": "bob"})).unwrap();
    let err = client.expect_none("typing", |_| true, T).await.unwrap_err();
    assert!(err.to_string().contains("bob"), "{err}");
    assert_eq!(client.drain().len(), 1);
}

#[tokio::test]
async fn a_server_event_that_requests_an_ack_is_still_delivered() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("ask", json!(null)).unwrap();
    assert_eq!(
        client.wait_for("asked", |_| true, T).await.unwrap(),
        json!({"q": 1})
    );
}

#[tokio::test]
async fn malformed_server_frames_become_protocol_error_events_and_the_connection_survives() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("garbage", json!(null)).unwrap();
    client
        .wait_for("after-garbage", |d| d.is_null(), T)
        .await
        .unwrap();
    let errors: Vec<_> = client
        .drain()
        .into_iter()
        .filter(|e| e.name == PROTOCOL_ERROR_EVENT)
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].data["frame"], "42{oops");
    assert!(client.is_connected());
}

#[tokio::test]
async fn send_raw_puts_the_frame_on_the_wire_verbatim() {
    let mut server = FakeServer::start(Mode::Normal).await;
    let client = connect(&server).await;
    client.send_raw("42[not json").unwrap();
    assert_eq!(
        server.frame_where(|f| f.starts_with("42")).await,
        "42[not json"
    );
}

#[tokio::test]
async fn a_server_disconnect_packet_ends_the_connection() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    client.emit("message", json!("before")).unwrap();
    client.emit("kick", json!(null)).unwrap();
    client.disconnected(T).await.unwrap();
    assert!(!client.is_connected());
    // Events that arrived before the disconnect are still there.
    assert_eq!(
        client.wait_for("message", |_| true, T).await.unwrap(),
        json!("before")
    );
    assert!(matches!(
        client.emit("message", json!(1)),
        Err(SioError::Closed)
    ));
    assert!(matches!(
        client.emit_with_ack("x", json!(1), T).await,
        Err(SioError::Closed)
    ));
    assert!(matches!(
        client.wait_for("message", |_| true, T).await,
        Err(SioError::Closed)
    ));
    client.expect_none("message", |_| true, T).await.unwrap();
}

#[tokio::test]
async fn a_websocket_close_from_the_server_ends_the_connection_and_fails_pending_acks() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    let (pending, ()) = tokio::join!(client.emit_with_ack("silent", json!(null), T), async {
        // Let the ack request go out first.
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.emit("hangup", json!(null)).unwrap();
    });
    assert!(matches!(pending, Err(SioError::Closed)), "{pending:?}");
    client.disconnected(T).await.unwrap();
    assert!(!client.is_connected());
}

#[tokio::test]
async fn disconnected_times_out_while_the_connection_is_up() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut client = connect(&server).await;
    let err = client
        .disconnected(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, SioError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn close_sends_a_disconnect_packet_and_a_close_frame() {
    let mut server = FakeServer::start(Mode::Normal).await;
    let client = connect(&server).await;
    client.close().await;
    assert_eq!(server.frame_where(|f| f != "40" && f != "3").await, "41");
    assert!(
        server.ended().await,
        "no close frame before the connection ended"
    );
}

#[tokio::test]
async fn dropping_the_client_drops_the_connection() {
    let mut server = FakeServer::start(Mode::Normal).await;
    let client = connect(&server).await;
    drop(client);
    server.ended().await;
}

#[tokio::test]
async fn a_refused_upgrade_reports_status_and_body() {
    let server = FakeServer::start(Mode::RefuseUpgrade).await;
    let err = SioClient::connect(&server.base_url, ConnectOptions::default())
        .await
        .unwrap_err();
    match err {
        SioError::Http(status, body) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body, "no session");
        }
        other => panic!("expected Http, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connect_error_is_reported_with_its_json() {
    let server = FakeServer::start(Mode::ConnectError).await;
    let err = SioClient::connect(&server.base_url, ConnectOptions::default())
        .await
        .unwrap_err();
    match err {
        SioError::Refused(v) => {
            assert_eq!(v, json!({"message": "unauthorized", "data": {"code": 401}}))
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_never_opens_times_the_connect_out() {
    let server = FakeServer::start(Mode::Mute).await;
    let err = SioClient::connect_with_timeout(
        &server.base_url,
        ConnectOptions::default(),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SioError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_websocket_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = SioClient::connect(&base, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SioError::Ws(_)), "{err:?}");
}

#[tokio::test]
async fn many_clients_share_one_runtime() {
    let server = FakeServer::start(Mode::Normal).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(connect(&server).await);
    }
    for (i, c) in clients.iter().enumerate() {
        c.emit("n", json!(i)).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.wait_for("n", |_| true, T).await.unwrap(), json!(i));
    }
}

#[tokio::test]
async fn a_tap_takes_the_frames_it_claims_and_leaves_the_rest() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = FakeServer::start(Mode::Normal).await;
    let tapped = Arc::new(AtomicUsize::new(0));
    let seen = tapped.clone();
    let tap = parley_client::FrameTap(Arc::new(move |frame: &str| {
        let claim = frame.starts_with("42[\"timed\"");
        if claim {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        claim
    }));
    let opts = ConnectOptions { tap: Some(tap), ..Default::default() };
    let mut client = SioClient::connect(&server.base_url, opts).await.unwrap();
    client.emit("timed", json!(1)).unwrap();
    client.emit("kept", json!(2)).unwrap();
    assert_eq!(client.wait_for("kept", |_| true, Duration::from_secs(5)).await.unwrap(), json!(2));
    assert_eq!(tapped.load(Ordering::SeqCst), 1);
    assert!(client.drain().iter().all(|e| e.name != "timed"), "a claimed frame is not buffered");
}
