//! A client that stops reading must be disconnected, never silently skipped.


use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::*;

#[tokio::test]
async fn a_socket_that_stops_reading_is_disconnected_and_its_user_goes_offline() {
    let app = spawn_app_with(|s| {
        s.socket_queue = 8;
        // Heartbeats far apart: only the full queue can close the socket here.
        s.ping_interval_ms = 60_000;
        s.metrics_token = Some("scrape-token".into());
    })
    .await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;

    // A raw WebSocket with a tiny receive window, so the server's writes back up quickly.
    let slow = app.user("slow").await;
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket").into_client_request().unwrap();
    request.headers_mut().insert("cookie", slow.cookie_header().unwrap().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with('0'), "engine.io open");
    ws.send(Message::text("40")).await.unwrap();
    while !next_text(&mut ws).await.contains("connection_success") {}
    ws.send(Message::text(format!(r#"42["join_room",{{"room_id":{general}}}]"#))).await.unwrap();
    while !next_text(&mut ws).await.contains("user_joined") {}
    ann_s.wait_for("presence", |p| p["username"] == "slow" && p["is_online"] == true, WAIT).await.unwrap();
    // From here on the slow client reads nothing at all.

    let big = "x".repeat(4000);
    let before = slow_consumers(&app).await;
    let mut sent = 0;
    while slow_consumers(&app).await == before {
        assert!(sent < 4000, "the slow socket's queue never filled");
        for _ in 0..20 {
            send(&ann_s, general, &big).await;
            sent += 1;
        }
    }

    // The slow client reads again: it finds itself disconnected, not quietly
    // skipped (it would then reconnect and catch up with `after`).
    let mut received = 0;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "41" => return true,
                Some(Ok(Message::Text(t))) if t.as_str().starts_with("42[\"new_message\"") => received += 1,
                Some(Ok(Message::Text(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the slow socket was disconnected");
    assert!(received < sent, "it did not get every message ({received} of {sent})");
    let offline = ann_s.wait_for("presence", |p| p["username"] == "slow", WAIT).await.unwrap();
    assert_eq!(offline["is_online"], false);

    // Everyone else was served throughout.
    let ack = send(&ann_s, general, "still flowing").await;
    ann_s.wait_for("new_message", |m| m["id"] == ack["id"], WAIT).await.unwrap();
    drop(ws);
}

/// The server's count of sockets disconnected for not reading.
async fn slow_consumers(app: &TestApp) -> u64 {
    let text = app.http().inner().get(app.url("/metrics")).bearer_auth("scrape-token").send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("parley_slow_consumers_disconnected_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The next text frame, answering heartbeats on the way.
async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => ws.send(Message::text("3")).await.unwrap(),
            Some(Ok(Message::Text(t))) => return t.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }
}
