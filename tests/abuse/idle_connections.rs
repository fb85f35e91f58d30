//! 4. Idle and slow connections: a header timeout closes silent and
//! slowloris connections, a per-address cap refuses a flood from one address,
//! and at the global cap a small reserve still answers health checks and
//! logins while open sockets keep working.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

fn server_addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to the server from `from` (any 127/8 address).
async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0))?;
    socket.connect(to).await
}

/// Whether the server closed the connection within `limit` (EOF or reset),
/// reading and dropping whatever it sent first.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// An HTTP client whose connections come from `from`.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(from.parse::<IpAddr>().unwrap()).build().unwrap()
}

#[tokio::test]
async fn silent_idle_and_slowloris_connections_are_closed_by_the_header_timeout() {
    let app = spawn_app_with(|s| s.header_timeout_ms = 1000).await;
    let addr = server_addr(&app);
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(connect_from("127.0.0.2", addr).await.unwrap());
    }
    // Slowloris: a header byte every 200 ms, never the end of the headers.
    let slow: Vec<_> = (0..5)
        .map(|_| {
            tokio::spawn(async move {
                let mut tcp = connect_from("127.0.0.3", addr).await.unwrap();
                let started = Instant::now();
                for b in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter().cycle().take(40) {
                    if tcp.write_all(&[*b]).await.is_err() {
                        return Some(started.elapsed());
                    }
                    let mut buf = [0u8; 256];
                    match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                        _ => {}
                    }
                }
                None // still open after 8 s
            })
        })
        .collect();
    // A keep-alive connection that made one request and then idles.
    let mut kept = connect_from("127.0.0.4", addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 512];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    for tcp in &mut silent {
        assert!(closed_within(tcp, Duration::from_secs(4)).await, "a silent connection stayed open");
    }
    assert!(closed_within(&mut kept, Duration::from_secs(3)).await, "an idle keep-alive connection stayed open");
    for s in slow {
        let closed_after = s.await.unwrap().expect("a slowloris connection stayed open");
        assert!(closed_after < Duration::from_secs(4), "closed only after {closed_after:?}");
    }
    // A normal request still works.
    let r = client_from("127.0.0.1").get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_flood_past_the_per_address_cap_is_refused_while_another_address_works() {
    let app = spawn_app_with(|s| s.max_connections_per_address = 20).await;
    let addr = server_addr(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from("127.0.0.4", addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        let mut extra = connect_from("127.0.0.4", addr).await.unwrap();
        assert!(closed_within(&mut extra, Duration::from_secs(1)).await, "a connection past the cap was kept");
    }
    assert!(!closed_within(&mut held[0], Duration::from_millis(200)).await, "the first 20 stay");
    let r = client_from("127.0.0.5").get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "another address still gets in");
}

#[tokio::test]
async fn at_the_global_cap_health_login_and_open_sockets_keep_working() {
    let app = spawn_app_with(|s| {
        s.max_connections = Some(200);
        s.connection_reserve = 16;
        s.header_timeout_ms = 3000;
        s.reserve_header_timeout_ms = 500;
    })
    .await;
    let addr = server_addr(&app);
    let (ann, ann_socket) = app.connected("ann").await;
    let (_bob, mut bob_socket) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_socket, general).await;
    join(&bob_socket, general).await;
    app.user("cat").await; // logs in below, at the cap

    // An attacker from four addresses holds every place it can get (50
    // each: too many for a place in the reserve).
    let mut idle = Vec::new();
    let mut refused = 0;
    for i in 0..260 {
        let from = format!("127.0.0.{}", 10 + i % 4);
        let mut tcp = connect_from(&from, addr).await.unwrap();
        if i >= 220 && closed_within(&mut tcp, Duration::from_millis(20)).await {
            refused += 1;
        } else {
            idle.push(tcp);
        }
    }
    assert!(refused > 0, "connections past the cap and the reserve are closed");

    let started = Instant::now();
    let r = client_from("127.0.0.1").get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "health check at the cap");
    let cat = reqwest::Client::builder().local_address("127.0.0.1".parse::<IpAddr>().unwrap()).build().unwrap();
    let r = cat.post(app.url("/api/login")).json(&json!({"username": "cat", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), 200, "login at the cap");
    let ack = send(&ann_socket, general, "still here").await;
    assert_eq!(ack["ok"], true, "{ack}");
    bob_socket.wait_for("new_message", |m| m["message"] == "still here", WAIT).await.expect("bob receives");
    assert!(started.elapsed() < Duration::from_secs(2), "answered while the attacker still held the cap");

    // The attacker's idle connections are then closed by the header timeout.
    let deadline = Duration::from_secs(5);
    for tcp in &mut idle {
        assert!(closed_within(tcp, deadline).await, "an idle connection outlived the header timeout");
    }
}
