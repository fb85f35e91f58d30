use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn typing_reaches_the_others_in_the_room_but_not_the_typist() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let (_cy, mut cy_s) = app.connected("cyd").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;

    let ack = ann_s.emit_with_ack("typing", json!({"room_id": general, "is_typing": true}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    let t = bo_s.wait_for("user_typing", |_| true, WAIT).await.unwrap();
    assert_eq!(t, json!({"room_id": general, "username": "ann", "display_name": "ann", "is_typing": true}));
    ann_s.emit("typing", json!({"room_id": general, "is_typing": false})).unwrap();
    bo_s.wait_for("user_typing", |t| t["is_typing"] == false, WAIT).await.unwrap();
    ann_s.expect_none("user_typing", |_| true, QUIET).await.unwrap();
    cy_s.expect_none("user_typing", |_| true, QUIET).await.unwrap();
}

#[tokio::test]
async fn a_typing_flag_that_is_never_cleared_expires() {
    let app = spawn_app_with(|s| s.typing_ttl_ms = 300).await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;
    ann_s.emit("typing", json!({"room_id": general, "is_typing": true})).unwrap();
    bo_s.wait_for("user_typing", |t| t["is_typing"] == true, WAIT).await.unwrap();
    let started = Instant::now();
    let cleared = bo_s.wait_for("user_typing", |t| t["is_typing"] == false, WAIT).await.unwrap();
    assert_eq!(cleared["username"], "ann");
    assert!(started.elapsed() >= Duration::from_millis(200), "not before the TTL");
}

#[tokio::test]
async fn a_refreshed_typing_flag_does_not_expire_early_and_sending_clears_it() {
    let app = spawn_app_with(|s| s.typing_ttl_ms = 600).await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;
    ann_s.emit("typing", json!({"room_id": general, "is_typing": true})).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    ann_s.emit("typing", json!({"room_id": general, "is_typing": true})).unwrap();
    // The first flag's expiry (at 600 ms) must not clear the refreshed one.
    bo_s.expect_none("user_typing", |t| t["is_typing"] == false, Duration::from_millis(400)).await.unwrap();
    send(&ann_s, general, "done typing").await;
    bo_s.wait_for("user_typing", |t| t["is_typing"] == false, WAIT).await.unwrap();
}

#[tokio::test]
async fn typing_in_a_room_not_joined_is_not_in_room() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    let ack = s.emit_with_ack("typing", json!({"room_id": general, "is_typing": true}), WAIT).await.unwrap();
    assert_eq!(error_code(&ack), "not_in_room");
}
