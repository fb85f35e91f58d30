//! 5% of a 1,000-socket room stop reading.
//!
//! One `parley` process of its own (SQLite, `PARLEY_SOCKET_QUEUE=64`), 20
//! users with 50 sockets each, all 1,000 sockets in one room, and a sender
//! (one more user) sending 2,000-character messages at 10/s. Each message
//! carries its send time, and each receiving socket times its delivery as
//! its frame arrives (the client's frame tap: nothing is decoded or kept).
//!
//! 1. Healthy run: every socket reads; p99 of the delivery latency over all
//!    (message, socket) pairs.
//! 2. Slow run: the 50 sockets of one user stop reading (their TCP receive
//!    buffers are 4 KiB). The same sending goes on until the server has
//!    disconnected all 50 (`parley_slow_consumers_disconnected_total`), at
//!    least as long as the healthy run. The kernel takes up to 4 MB per
//!    socket (`tcp_wmem`) before the server's own queue for it fills, so a
//!    flood in a side room only the slow user is in (40 messages/s of 16 KB)
//!    fills them within seconds. The flood runs in both runs (read by the
//!    slow user's sockets in the healthy one), so the server does the same
//!    work in both, and the only difference is that 50 sockets stop reading. The other 950's p99 stays within 2x the healthy run's,
//!    and the server's VmRSS (sampled at each send) grows by less than the
//!    50 full queues (50 x 64 packets x 16 KB) plus 32 MB.
//! 3. The slow sockets read again: each finds itself disconnected; it
//!    reconnects with the same session and, with `after=<the last id it
//!    got>`, finds every message it missed.
//!
//! Numbers are measured side by side in this one test, on the debug build.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use parley_client::{ConnectOptions, FrameTap, HttpClient, SioClient};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{PASSWORD, Process, WAIT};

const USERS: usize = 20;
const SOCKETS_PER_USER: usize = 50;
/// The last `SLOW_USERS` users' sockets are the slow ones: 50 of 1,000.
const SLOW_USERS: usize = 1;
const ROOM: i64 = 1;
/// `PARLEY_SOCKET_QUEUE`: packets queued for a socket before it is disconnected.
const SOCKET_QUEUE: usize = 64;
const RATE_PER_S: u64 = 10;
const HEALTHY_MESSAGES: usize = 40;
const BODY_CHARS: usize = 2000;
/// Messages of 4,000 four-byte characters (16 KB) per second to the slow
/// user's side room.
const FLOOD_PER_S: u64 = 40;

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// Delivery latencies (µs) of the current phase (0: not measuring).
#[derive(Default)]
struct Latencies {
    phase: AtomicU8,
    healthy: Mutex<Vec<u64>>,
    slow: Mutex<Vec<u64>>,
}

impl Latencies {
    /// Takes every event frame but `connection_success`; times `new_message`s
    /// by the send time at the start of their text (`@<micros>-...`).
    fn tap(self: &Arc<Self>) -> FrameTap {
        let me = self.clone();
        FrameTap(Arc::new(move |frame: &str| {
            if !frame.starts_with("42") || frame.starts_with("42[\"connection_success\"") {
                return false;
            }
            if frame.starts_with("42[\"new_message\"") {
                let sent = frame.find("\"message\":\"@").and_then(|i| {
                    let digits: String = frame[i + 12..].chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u64>().ok()
                });
                if let Some(sent) = sent {
                    let latency = now_micros().saturating_sub(sent);
                    match me.phase.load(Ordering::Relaxed) {
                        1 => me.healthy.lock().unwrap().push(latency),
                        2 => me.slow.lock().unwrap().push(latency),
                        _ => {}
                    }
                }
            }
            true
        }))
    }
}

fn p99(v: &mut [u64]) -> Duration {
    v.sort_unstable();
    let i = ((v.len() as f64) * 0.99).ceil() as usize;
    Duration::from_micros(v[i.clamp(1, v.len()) - 1])
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A raw socket in the room whose reading the test controls; it keeps
/// reading (and answering heartbeats) until paused.
async fn slow_socket(base: &str, cookie: &str, side: i64) -> Ws {
    let addr = base.trim_start_matches("http://").parse().unwrap();
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket").into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    ws.send(Message::text("40")).await.unwrap();
    // An event before the namespace's connect has completed would end the connection.
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("connection_success in time") {
            Some(Ok(Message::Text(t))) if t.as_str().contains("connection_success") => break,
            Some(Ok(_)) => {}
            other => panic!("slow socket: {other:?}"),
        }
    }
    ws.send(Message::text(format!(r#"420["join_room",{{"room_id":{ROOM}}}]"#))).await.unwrap();
    ws.send(Message::text(format!(r#"421["join_room",{{"room_id":{side}}}]"#))).await.unwrap();
    ws
}

/// Reads until told to stop; returns the highest `new_message` id it got.
async fn read_until(ws: &mut Ws, mut stop: tokio::sync::watch::Receiver<bool>, last: &mut i64) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => { let _ = ws.send(Message::text("3")).await; }
                Some(Ok(Message::Text(t))) if t.as_str().starts_with("42[\"new_message\"") => {
                    if let Some(id) = message_id(t.as_str()) { *last = (*last).max(id); }
                }
                Some(Ok(_)) => {}
                other => panic!("a slow socket ended before it was paused: {other:?}"),
            }
        }
    }
}

/// The `id` of a `new_message` frame in `ROOM` (other rooms' are skipped),
/// read without decoding the whole frame.
fn message_id(frame: &str) -> Option<i64> {
    let field = |name: &str| -> Option<i64> {
        let at = frame.find(name)? + name.len();
        frame[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
    };
    (field("\"room_id\":")? == ROOM).then(|| field("{\"id\":")).flatten()
}

async fn slow_consumers(http: &HttpClient, base: &str) -> u64 {
    let text = http.inner().get(format!("{base}/metrics")).bearer_auth(crate::support::METRICS_TOKEN).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("parley_slow_consumers_disconnected_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_of_a_thousand_sockets_stop_reading_and_the_others_are_served_as_before() {
    if !crate::enabled() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("parley.db").display());
    let server = Process::spawn_relaxed(&[
        ("DATABASE_URL", db.as_str()),
        ("PARLEY_SOCKET_QUEUE", &SOCKET_QUEUE.to_string()),
        // Heartbeats far apart: only a full queue closes a socket here.
        ("PARLEY_PING_INTERVAL_MS", "120000"),
        ("PARLEY_PING_TIMEOUT_MS", "120000"),
    ])
    .await;
    let base = server.base.clone();

    // The users, a few registrations at a time.
    let mut cookies: Vec<String> = Vec::new();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(10) {
        let logins = chunk.iter().map(|i| {
            let base = base.clone();
            async move {
                let http = HttpClient::new(&base);
                http.register_and_login(&format!("member{i:03}"), PASSWORD).await.expect("register");
                http.cookie_header().unwrap()
            }
        });
        cookies.extend(futures_util::future::join_all(logins).await);
    }
    let sender_http = HttpClient::new(&base);
    sender_http.register_and_login("sender", PASSWORD).await.unwrap();
    eprintln!("{USERS} users in {:?}", started.elapsed());

    // 950 reading sockets and 50 slow ones, all in the room.
    let lat = Arc::new(Latencies::default());
    let mut healthy: Vec<SioClient> = Vec::new();
    let healthy_cookies: Vec<&String> =
        cookies[..USERS - SLOW_USERS].iter().flat_map(|c| std::iter::repeat_n(c, SOCKETS_PER_USER)).collect();
    for chunk in healthy_cookies.chunks(25) {
        let connects = chunk.iter().map(|cookie| {
            let opts = ConnectOptions { cookie: Some((*cookie).clone()), tap: Some(lat.tap()), ..Default::default() };
            let base = base.clone();
            async move {
                let mut s = SioClient::connect(&base, opts).await.expect("socket connects");
                s.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
                let ack = s.emit_with_ack("join_room", json!({"room_id": ROOM}), WAIT).await.expect("join ack");
                assert_eq!(ack["ok"], true);
                s
            }
        });
        healthy.extend(futures_util::future::join_all(connects).await);
    }
    // The slow user's side room, where a flood (in both runs) fills their
    // buffers once they stop reading.
    let flooder_http = HttpClient::new(&base);
    flooder_http.register_and_login("flooder", PASSWORD).await.unwrap();
    let discard = FrameTap(Arc::new(|frame: &str| frame.starts_with("42") && !frame.starts_with("42[\"connection_success\"")));
    let mut flooder =
        SioClient::connect(&base, ConnectOptions { tap: Some(discard), ..flooder_http.sio_options() }).await.unwrap();
    flooder.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    let ack = flooder.emit_with_ack("create_room", json!({"room_name": "side"}), WAIT).await.unwrap();
    let side = ack["room_id"].as_i64().expect("side room");
    let ack = flooder.emit_with_ack("join_room", json!({"room_id": side}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    let (pause, paused) = tokio::sync::watch::channel(false);
    let mut slow_tasks = Vec::new();
    for cookie in &cookies[USERS - SLOW_USERS..] {
        for _ in 0..SOCKETS_PER_USER {
            let mut ws = slow_socket(&base, cookie, side).await;
            let paused = paused.clone();
            slow_tasks.push(tokio::spawn(async move {
                let mut last = 0;
                read_until(&mut ws, paused, &mut last).await;
                (ws, last)
            }));
        }
    }
    let mut sender = SioClient::connect(&base, sender_http.sio_options()).await.unwrap();
    sender.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    let ack = sender.emit_with_ack("join_room", json!({"room_id": ROOM}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    tokio::time::sleep(Duration::from_millis(500)).await; // the joins' notices settle
    sender.drain();
    eprintln!("1,000 sockets in the room after {:?}; server VmRSS {} MiB", started.elapsed(), server.rss_kib() / 1024);

    let pad = "x".repeat(BODY_CHARS - 20);
    let mut acked: Vec<i64> = Vec::new();
    let send = async |acked: &mut Vec<i64>| {
        let ack = sender
            .emit_with_ack("send_message", json!({"room_id": ROOM, "message": format!("@{}-{pad}", now_micros())}), WAIT)
            .await
            .expect("send ack");
        assert_eq!(ack["ok"], true, "{ack}");
        acked.push(ack["id"].as_i64().unwrap());
    };
    let pace = Duration::from_millis(1000 / RATE_PER_S);

    let (stop_flood, mut flood_stopped) = tokio::sync::watch::channel(false);
    let flood = tokio::spawn(async move {
        let big = "\u{1F600}".repeat(4000);
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / FLOOD_PER_S));
        let mut sent = 0u64;
        loop {
            tokio::select! {
                _ = flood_stopped.changed() => return (sent, flooder),
                _ = tick.tick() => {}
            }
            let ack = flooder.emit_with_ack("send_message", json!({"room_id": side, "message": big}), WAIT).await.expect("flood ack");
            assert_eq!(ack["ok"], true, "{ack}");
            sent += 1;
        }
    });

    // 1. Healthy.
    lat.phase.store(1, Ordering::SeqCst);
    let mut tick = tokio::time::interval(pace);
    for _ in 0..HEALTHY_MESSAGES {
        tick.tick().await;
        send(&mut acked).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    lat.phase.store(0, Ordering::SeqCst);
    let rss_before = server.rss_kib();

    // 2. 5% stop reading.
    pause.send(true).unwrap();
    let mut slow_sockets = Vec::new();
    for t in slow_tasks {
        slow_sockets.push(t.await.unwrap());
    }
    let first_slow_run_id = acked.len();
    let admin = HttpClient::new(&base);
    let before = slow_consumers(&admin, &base).await;
    lat.phase.store(2, Ordering::SeqCst);
    let mut rss_peak = rss_before;
    let slow_run = Instant::now();
    let mut n = 0;
    loop {
        tick.tick().await;
        send(&mut acked).await;
        n += 1;
        rss_peak = rss_peak.max(server.rss_kib());
        if n % 50 == 0 {
            eprintln!("slow run: {n} sent, {} slow disconnected after {:?}", slow_consumers(&admin, &base).await - before, slow_run.elapsed());
        }
        if n % 5 == 0 && n >= HEALTHY_MESSAGES && slow_consumers(&admin, &base).await - before >= 50 {
            // Let the last ones' closes and counts land.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break;
        }
        assert!(slow_run.elapsed() < Duration::from_secs(60), "the slow sockets were not all disconnected in 60 s");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    lat.phase.store(0, Ordering::SeqCst);
    let disconnected = slow_consumers(&admin, &base).await - before;
    stop_flood.send(true).unwrap();
    let (flooded, flooder) = flood.await.unwrap();
    // The flooder read its own room all along (through its tap).
    assert!(flooder.is_connected(), "the flooder was disconnected");

    let mut h = lat.healthy.lock().unwrap().clone();
    let mut s = lat.slow.lock().unwrap().clone();
    let expected = HEALTHY_MESSAGES * healthy.len();
    assert!(h.len() >= expected, "healthy run: {} of {expected} deliveries", h.len());
    let expected = n * healthy.len();
    assert!(s.len() >= expected, "slow run: the 950 got {} of {expected} deliveries", s.len());
    let (hp, sp) = (p99(&mut h), p99(&mut s));
    eprintln!(
        "delivery p99: healthy {hp:?} ({} deliveries), with 50 slow {sp:?} ({} deliveries, {n} messages, {disconnected} slow disconnected in {:?}, {flooded} flood messages); server VmRSS {} MiB before, peak {} MiB",
        h.len(),
        s.len(),
        slow_run.elapsed(),
        rss_before / 1024,
        rss_peak / 1024
    );
    assert!(sp <= hp * 2, "p99 with slow readers {sp:?} is more than twice the healthy {hp:?}");
    // What the server may hold for them: 50 full queues of flood packets,
    // and some slack for the allocator.
    let bound_kib = 50 * SOCKET_QUEUE * 16 + 32 * 1024;
    assert!(
        rss_peak.saturating_sub(rss_before) < bound_kib as u64,
        "server memory grew by {} KiB (bound {bound_kib} KiB)",
        rss_peak - rss_before
    );
    // All 50 slow ones are disconnected, and none of the others.
    let dropped = healthy.iter().filter(|c| !c.is_connected()).count();
    assert_eq!(dropped, 0, "{dropped} reading sockets were disconnected");
    assert!(sender.is_connected());
    assert_eq!(disconnected, 50, "each slow socket counted once");

    // 3. They read again: disconnected, then they catch up.
    let mut caught_up = 0;
    let mut missed_some = 0;
    for (i, (mut ws, last)) in slow_sockets.into_iter().enumerate() {
        let mut got = last;
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str() == "41" => return,
                    Some(Ok(Message::Text(t))) if t.as_str().starts_with("42[\"new_message\"") => {
                        got = got.max(message_id(t.as_str()).unwrap_or(0));
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "slow socket {i} was not disconnected");
        // The server disconnected it (counted above); when that came after
        // the last message, the kernel's buffers may still have held all of
        // them, and there is nothing to catch up on.
        if got < *acked.last().unwrap() {
            missed_some += 1;
        }
        // It reconnects with its session and pages from the last id it got.
        let cookie = &cookies[USERS - SLOW_USERS + i / SOCKETS_PER_USER];
        let mut again = SioClient::connect(&base, ConnectOptions::with_cookie(cookie.clone())).await.unwrap();
        again.wait_for("connection_success", |_| true, WAIT).await.unwrap();
        let http = HttpClient::new(&base);
        let mut after = got;
        let mut missed = Vec::new();
        for _ in 0..20 {
            let page: Value = http
                .inner()
                .get(format!("{base}/api/messages/{ROOM}?after={after}&limit=200"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids: Vec<i64> = page.as_array().unwrap().iter().filter_map(|m| m["id"].as_i64()).collect();
            let Some(&last) = ids.last() else { break };
            missed.extend(ids);
            after = last;
        }
        let expected: Vec<i64> = acked.iter().copied().filter(|id| *id > got).collect();
        let texts: Vec<i64> = missed.iter().copied().filter(|id| acked.contains(id)).collect();
        assert_eq!(texts, expected, "slow socket {i} catches up on every message after {got}");
        caught_up += 1;
        again.close().await;
    }
    assert_eq!(caught_up, 50);
    assert!(missed_some > 0, "no slow socket missed a message: none was slow");
    eprintln!("{missed_some} of 50 slow sockets missed messages and caught up");
    assert!(first_slow_run_id > 0);
    eprintln!("done in {:?}", started.elapsed());
    drop(healthy);
}
