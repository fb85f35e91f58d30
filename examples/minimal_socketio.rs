//! The smallest server the load generator can drive: socketioxide with
//! Parley's transport settings and nothing else (no sessions, no database,
//! no chat rules). It answers `create_room` and `join_room` and relays
//! `send_message` to the room, so `parley-bench connect` and `fanout` run
//! against it unchanged. BENCHMARKS.md uses it to separate what the
//! Socket.IO library costs per socket and per delivery from what Parley adds.
//!
//!     cargo run --release --example minimal_socketio -- 127.0.0.1:5200

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

static NEXT_ROOM: AtomicI64 = AtomicI64::new(1);
static NEXT_MESSAGE: AtomicI64 = AtomicI64::new(1);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:5200".into());
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let (layer, io) = SocketIo::builder()
        .ws_read_buffer_size(1024)
        .max_buffer_size(1024)
        .build_layer();
    io.ns("/", async |socket: SocketRef| {
        let _ = socket.emit("connection_success", &json!({"user_id": 1, "username": "bench", "display_name": "bench"}));
        socket.on("create_room", async |ack: AckSender| {
            let _ = ack.send(&json!({"ok": true, "room_id": NEXT_ROOM.fetch_add(1, Ordering::Relaxed)}));
        });
        socket.on("join_room", async |socket: SocketRef, Data(p): Data<Value>, ack: AckSender| {
            socket.join(format!("room:{}", p["room_id"]));
            let _ = ack.send(&json!({"ok": true, "room_id": p["room_id"]}));
        });
        socket.on("send_message", async |socket: SocketRef, Data(p): Data<Value>| {
            let message = json!({"id": NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed), "room_id": p["room_id"],
                                 "user_id": 1, "username": "bench", "display_name": "bench", "avatar_color": "#3b82f6",
                                 "message": p["message"], "message_type": "text", "timestamp": "2026-12-02T00:00:00Z"});
            let _ = socket.within(format!("room:{}", p["room_id"])).emit("new_message", &message).await;
        });
    });
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
