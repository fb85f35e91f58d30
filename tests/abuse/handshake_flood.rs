//! 3. Handshakes that never log in: the gate in front of the Socket.IO layer
//! refuses them without creating a session, and a session that never sends
//! its Socket.IO connect is closed after a short timeout.

use std::time::{Duration, Instant};

use parley_client::{ConnectOptions, SioClient, SioError};

use crate::support::*;

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";

/// The refusal of a cookieless polling handshake: open packet + CONNECT_ERROR.
fn assert_refusal(body: &str, message: &str) {
    let (open, error) = body.split_once('\u{1e}').unwrap_or_else(|| panic!("two packets expected: {body:?}"));
    assert!(open.starts_with("0{") && open.contains("\"sid\":\"refused."), "{open}");
    assert!(error.starts_with("44{") && error.contains(message), "{error}");
}

#[tokio::test]
async fn cookieless_polling_handshakes_leave_the_servers_memory_flat() {
    let server = Process::spawn(&[]).await;
    let http = reqwest::Client::new();
    let one = http.get(server.url(HANDSHAKE)).send().await.unwrap().text().await.unwrap();
    assert_refusal(&one, "not logged in");

    const TASKS: usize = 25;
    const EACH: usize = 240; // 6,000 handshakes
    let flood = |n: usize| {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (http, url) = (http.clone(), server.url(HANDSHAKE));
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    let mut ok = 0;
                    for _ in 0..n {
                        if Instant::now() > deadline {
                            break;
                        }
                        if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        async move {
            let mut ok = 0;
            for t in tasks {
                ok += t.await.unwrap();
            }
            ok
        }
    };
    // Warm up (allocator arenas, connection pools), then measure.
    flood(20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let done = flood(EACH).await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    let per_handshake = (after.saturating_sub(before) * 1024) as f64 / done as f64;
    eprintln!("handshake flood: {done} handshakes in {took:?}, RSS {before} KiB -> {after} KiB ({per_handshake:.0} B each)");
    assert!(done >= TASKS * EACH * 9 / 10, "only {done} handshakes answered");
    assert!(per_handshake < 2048.0, "{per_handshake:.0} bytes per refused handshake");

    // The server still serves: health, and a user who logs in and connects.
    let r = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let user = parley_client::HttpClient::new(&server.base);
    user.register_and_login("ann", PASSWORD).await.unwrap();
    let mut socket = SioClient::connect(&server.base, user.sio_options()).await.expect("a user still connects");
    socket.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_polling_session_is_answered_by_the_gate_alone() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let body = http.get(app.url(HANDSHAKE)).send().await.unwrap().text().await.unwrap();
    assert_refusal(&body, "You are not logged in");
    let sid = body.split("\"sid\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let session = format!("{HANDSHAKE}&sid={sid}");
    let r = http.post(app.url(&session)).body("40").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = http.get(app.url(&session)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1", "a poll gets a close packet");

    // A valid session from another site gets the cross-site refusal.
    let ann = app.user("ann").await;
    let r = http
        .get(app.url(HANDSHAKE))
        .header("cookie", ann.cookie_header().unwrap())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_refusal(&r.text().await.unwrap(), "another site");
}

#[tokio::test]
async fn a_refused_websocket_handshake_still_ends_in_connect_error() {
    let app = spawn_app().await;
    let opts = ConnectOptions { cookie: Some("parley_session=forged".into()), ..Default::default() };
    match app.connect_raw(opts).await {
        Err(SioError::Refused(body)) => assert!(body["message"].as_str().unwrap().contains("not logged in"), "{body}"),
        other => panic!("expected a refusal, got {:?}", other.map(|s| s.sid().to_owned())),
    }
    match app.connect_raw(ConnectOptions::default()).await {
        Err(SioError::Refused(body)) => assert!(body["message"].as_str().unwrap().contains("not logged in"), "{body}"),
        other => panic!("expected a refusal, got {:?}", other.map(|s| s.sid().to_owned())),
    }
}

#[tokio::test]
async fn a_session_that_never_sends_its_connect_is_closed_soon() {
    let app = spawn_app_with(|s| s.socket_connect_timeout_ms = 500).await;
    let ann = app.user("ann").await;
    let http = reqwest::Client::new();
    let cookie = ann.cookie_header().unwrap();
    let open = http.get(app.url(HANDSHAKE)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let sid = open.split("\"sid\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(!sid.starts_with("refused."), "a valid session passes the gate: {open}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The connect comes too late: the session is gone.
    let r = http.post(app.url(&format!("{HANDSHAKE}&sid={sid}"))).header("cookie", &cookie).body("40").send().await.unwrap();
    assert_eq!(r.status(), 400, "the session outlived the connect timeout");
}
