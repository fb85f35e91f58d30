//! Finding 8, floods of events: room creation, typing, join/leave, sockets
//! per user and presence cycles are limited per user, so that one client
//! cannot make the server broadcast without bound. With `PARLEY_TEST_REDIS_URL` set, the
//! same tests run with the limits kept in Redis.

use std::time::{Duration, Instant};

use parley_client::{SioClient, SioError};
use serde_json::json;

use crate::support::*;

/// Events named `name` (from `username`, when the payload says) received so far.
fn count(socket: &mut SioClient, name: &str, username: &str) -> Vec<serde_json::Value> {
    socket
        .drain()
        .into_iter()
        .filter(|e| e.name == name && e.data.get("username").is_none_or(|u| u == username))
        .map(|e| e.data)
        .collect()
}

#[tokio::test]
async fn a_room_creation_flood_is_refused_after_the_burst_and_announces_only_what_was_created() {
    let app = spawn_app_with(|s| {
        s.room_create_burst = 5;
        s.room_create_per_minute = 3;
    })
    .await;
    let (_, mut ann) = app.connected("ann").await;
    let (_, mut bob) = app.connected("bob").await;

    let started = Instant::now();
    let (mut created, mut refused) = (0, 0);
    for i in 0..30 {
        let ack = ann.emit_with_ack("create_room", json!({"room_name": format!("flood-{i}")}), WAIT).await.unwrap();
        if ack["ok"] == true {
            created += 1;
        } else {
            assert_eq!(error_code(&ack), "rate_limited", "{ack}");
            refused += 1;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "bounded in time");
    }
    // 3 per minute: no token comes back within the few seconds this takes.
    assert_eq!((created, refused), (5, 25));
    let error = ann.wait_for("room_creation_error", |_| true, WAIT).await.unwrap();
    assert!(error["error"].as_str().unwrap().starts_with("Too many requests"), "{error}");

    tokio::time::sleep(QUIET).await;
    let announced = count(&mut bob, "room_created", "");
    assert_eq!(announced.len(), 5, "only the created rooms are announced: {announced:?}");

    // The limit is ann's: bob still creates rooms.
    let ack = bob.emit_with_ack("create_room", json!({"room_name": "bobs-room"}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test]
async fn a_typing_flood_is_absorbed_and_limited_but_stopping_still_goes_out() {
    let app = spawn_app_with(|s| {
        s.typing_ttl_ms = 5000;
        s.typing_repeat_ms = 1500;
        s.typing_rate = 2;
        s.typing_burst = 10;
    })
    .await;
    let (_, ann) = app.connected("ann").await;
    let (_, mut bob) = app.connected("bob").await;
    join(&ann, 1).await;
    join(&bob, 1).await;

    // Thirty `typing: true` in about a second: each answered ok, one announced.
    for _ in 0..30 {
        let ack = ann.emit_with_ack("typing", json!({"room_id": 1, "is_typing": true}), WAIT).await.unwrap();
        assert_eq!(ack["ok"], true, "a repeat is answered ok: {ack}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(QUIET).await;
    let heard = count(&mut bob, "user_typing", "ann");
    let announced = heard.iter().filter(|t| t["is_typing"] == true).count();
    assert_eq!(announced, 1, "30 typing: true announced {announced} times");

    // `false` goes out at once.
    ann.emit("typing", json!({"room_id": 1, "is_typing": false})).unwrap();
    let stopped = bob.wait_for("user_typing", |t| t["username"] == "ann", Duration::from_millis(500)).await.unwrap();
    assert_eq!(stopped["is_typing"], false);

    // Alternating true/false announces each change, until ann's bucket is empty.
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..40 {
        for is_typing in [true, false] {
            let ack = ann.emit_with_ack("typing", json!({"room_id": 1, "is_typing": is_typing}), WAIT).await.unwrap();
            if ack["ok"] != true {
                assert_eq!(error_code(&ack), "rate_limited", "{ack}");
                refused += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(QUIET).await;
    let trues = count(&mut bob, "user_typing", "ann").iter().filter(|t| t["is_typing"] == true).count();
    let allowed = 10 + (2.0 * elapsed).ceil() as usize;
    assert!(trues <= allowed, "{trues} announcements of typing in {elapsed:.1} s (at most {allowed})");
    assert!(refused >= 40 - allowed, "{refused} refused");
}

#[tokio::test]
async fn a_join_leave_flood_is_refused_after_the_burst() {
    let app = spawn_app_with(|s| {
        s.join_rate = 5;
        s.join_burst = 10;
    })
    .await;
    let (_, ann) = app.connected("ann").await;
    let (_, mut bob) = app.connected("bob").await;
    join(&bob, 1).await;

    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..50 {
        for event in ["join_room", "leave_room"] {
            let ack = ann.emit_with_ack(event, json!({"room_id": 1}), WAIT).await.unwrap();
            if ack["ok"] != true {
                let code = error_code(&ack);
                // A leave after a refused join finds ann outside the room.
                assert!(code == "rate_limited" || code == "not_in_room", "{ack}");
                refused += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(QUIET).await;
    let heard = count(&mut bob, "user_joined", "ann").len() + count(&mut bob, "user_left_room", "ann").len();
    let allowed = 10 + (5.0 * elapsed).ceil() as usize;
    assert!(heard <= allowed, "bob heard {heard} joins and leaves of ann in {elapsed:.1} s (at most {allowed})");
    assert!(refused >= 100 - allowed, "{refused} refused");

    // The bucket refills: after a pause ann joins again, and bob's own are his.
    tokio::time::sleep(Duration::from_millis(400)).await;
    join(&ann, 1).await;
    let ack = bob.emit_with_ack("leave_room", json!({"room_id": 1}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
}

#[tokio::test]
async fn sockets_past_the_cap_per_user_are_refused_and_the_others_keep_working() {
    let app = spawn_app_with(|s| s.max_sockets_per_user = 4).await;
    let ann = app.user("ann").await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(app.socket(&ann).await);
    }
    match app.connect_raw(ann.sio_options()).await {
        Err(SioError::Refused(body)) => {
            assert_eq!(body["message"], "Too many connections for this account (at most 4); close another tab or window")
        }
        Ok(_) => panic!("a fifth socket was accepted"),
        Err(e) => panic!("expected connect_error, got {e}"),
    }
    for s in &open {
        join(s, 1).await;
    }
    // Another user is not concerned.
    let (_, _bob) = app.connected("bob").await;
    // Closing one frees its place.
    open.pop().unwrap().close().await;
    let started = Instant::now();
    let again = loop {
        match app.connect_raw(ann.sio_options()).await {
            Ok(s) => break s,
            Err(SioError::Refused(_)) if started.elapsed() < WAIT => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("the freed place was not given back: {e}"),
        }
    };
    drop(again);
}

#[tokio::test]
async fn sockets_opened_all_at_once_cannot_pass_the_cap_together() {
    let app = spawn_app_with(|s| s.max_sockets_per_user = 4).await;
    let ann = app.user("ann").await;
    let attempts = futures_util::future::join_all((0..24).map(|_| app.connect_raw(ann.sio_options()))).await;
    let refused_at_handshake = attempts.iter().filter(|a| matches!(a, Err(SioError::Refused(_)))).count();
    let mut sockets: Vec<SioClient> = attempts.into_iter().filter_map(Result::ok).collect();
    eprintln!("{refused_at_handshake} refused at the handshake, {} passed it", sockets.len());
    assert!(sockets.len() >= 4, "{} accepted", sockets.len());
    // Those that passed the handshake's check together hear why and are closed.
    tokio::time::sleep(QUIET).await;
    let mut working = 0;
    for s in &mut sockets {
        let events = s.drain();
        if s.is_connected() && events.iter().any(|e| e.name == "connection_success") {
            working += 1;
        } else {
            let refusal = events.iter().find(|e| e.name == "chat_error").expect("a refused socket hears why");
            assert_eq!(refusal.data["code"], "too_many_connections", "{:?}", refusal.data);
        }
    }
    assert_eq!(working, 4);
}

#[tokio::test]
async fn connect_disconnect_cycles_announce_no_presence_until_the_user_stays_away() {
    let app = spawn_app_with(|s| s.presence_linger_ms = 1500).await;
    let (_, mut ann) = app.connected("ann").await;
    let bob = app.user("bob").await;
    let first = app.socket(&bob).await;
    ann.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == true, WAIT).await.unwrap();
    first.close().await;

    let started = Instant::now();
    for _ in 0..50 {
        let s = app.socket(&bob).await;
        s.close().await;
        assert!(started.elapsed() < Duration::from_secs(20), "bounded in time");
    }
    let cycles = started.elapsed();
    // Still within the linger of the last close: nothing was announced.
    let heard = count(&mut ann, "presence", "bob");
    assert!(heard.is_empty(), "50 cycles in {cycles:?} announced {} presence events", heard.len());
    // Once bob stays away, one offline, with last_seen.
    let offline = ann.wait_for("presence", |p| p["username"] == "bob", WAIT).await.unwrap();
    assert_eq!(offline["is_online"], false);
    assert!(offline["last_seen"].is_string());
    ann.expect_none("presence", |p| p["username"] == "bob", QUIET).await.unwrap();
}
