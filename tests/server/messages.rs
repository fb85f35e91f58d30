use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn a_message_reaches_everyone_in_the_room_once_and_is_acked_after_it_is_stored() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let (_cy, mut cy_s) = app.connected("cyd").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;

    let ack = send(&ann_s, general, "  hello, world  ").await;
    assert_eq!(ack["ok"], true);
    let id = ack["id"].as_i64().unwrap();
    assert!(ack["timestamp"].as_str().unwrap().ends_with('Z'));

    // Stored by the time it was acked.
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["id"], id);

    for s in [&mut ann_s, &mut bo_s] {
        let m = s.wait_for("new_message", |m| m["id"] == id, WAIT).await.unwrap();
        assert_eq!(m, history[0], "the event and the history agree");
        assert_eq!(m["message"], "hello, world");
        assert_eq!(m["room_id"], general);
        assert_eq!(m["username"], "ann");
        assert_eq!(m["display_name"], "ann");
        assert_eq!(m["message_type"], "text");
        assert_eq!(m["timestamp"], ack["timestamp"]);
        assert!(m["avatar_color"].is_string() && m["user_id"].is_i64());
        s.expect_none("new_message", |m| m["id"] == id, QUIET).await.unwrap();
    }
    cy_s.expect_none("new_message", |_| true, QUIET).await.unwrap();
}

#[tokio::test]
async fn sending_to_a_room_the_socket_has_not_joined_is_not_in_room() {
    let app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    let ack = send(&s, general, "hi").await;
    assert_eq!(ack["ok"], false);
    assert_eq!(error_code(&ack), "not_in_room");
    s.emit("send_message", json!({"room_id": general, "message": "hi"})).unwrap();
    let e = s.wait_for("chat_error", |_| true, WAIT).await.unwrap();
    assert_eq!(e, json!({"event": "send_message", "code": "not_in_room", "message": "You have not joined this room"}));
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    assert_eq!(history, json!([]));
}

#[tokio::test]
async fn a_join_followed_at_once_by_a_send_is_handled_in_order() {
    let app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    for i in 0..20 {
        s.emit("join_room", json!({"room_id": general, "room_name": "General"})).unwrap();
        s.emit("send_message", json!({"room_id": general, "message": format!("m{i}")})).unwrap();
        s.emit("leave_room", json!({"room_id": general})).unwrap();
    }
    // The last one stored (on a loaded machine, with Redis, 60 events can take longer than QUIET).
    s.wait_for("new_message", |m| m["message"] == "m19", WAIT).await.unwrap();
    s.expect_none("chat_error", |_| true, QUIET).await.unwrap();
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    let texts: Vec<_> = history.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_retry_with_the_same_client_id_stores_and_broadcasts_nothing_new() {
    let app = spawn_app().await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;
    let payload = json!({"room_id": general, "message": "once", "client_id": "c-1"});
    let first = ann_s.emit_with_ack("send_message", payload.clone(), WAIT).await.unwrap();
    let second = ann_s.emit_with_ack("send_message", payload, WAIT).await.unwrap();
    assert_eq!(first["ok"], true);
    assert_eq!(second, first);
    let m = bo_s.wait_for("new_message", |_| true, WAIT).await.unwrap();
    assert_eq!(m["client_id"], "c-1");
    bo_s.expect_none("new_message", |_| true, QUIET).await.unwrap();
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1);

    // The same client_id from another user is a different message.
    let bo_ack = bo_s.emit_with_ack("send_message", json!({"room_id": general, "message": "mine", "client_id": "c-1"}), WAIT).await.unwrap();
    assert_ne!(bo_ack["id"], first["id"]);
}

#[tokio::test]
async fn message_length_is_one_to_four_thousand_characters_after_trimming() {
    let app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    let ack = send(&s, general, &"é".repeat(4000)).await;
    assert_eq!(ack["ok"], true);
    let ack = send(&s, general, &"é".repeat(4001)).await;
    assert_eq!(error_code(&ack), "message_too_long");
    let ack = send(&s, general, "  \n ").await;
    assert_eq!(error_code(&ack), "message_empty");
    s.emit("send_message", json!({"room_id": general, "message": "x".repeat(4001)})).unwrap();
    let e = s.wait_for("chat_error", |_| true, WAIT).await.unwrap();
    assert_eq!(e["code"], "message_too_long");
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "nothing truncated was stored");
}

#[tokio::test]
async fn a_user_sending_faster_than_the_limit_is_rate_limited() {
    let app = spawn_app_with(|s| {
        s.message_rate = 1;
        s.message_burst = 3;
    })
    .await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    for i in 0..3 {
        assert_eq!(send(&s, general, &format!("m{i}")).await["ok"], true);
    }
    let ack = send(&s, general, "one too many").await;
    assert_eq!(error_code(&ack), "rate_limited");
    assert!(ack["error"]["message"].as_str().unwrap().contains("try again"));
}

#[tokio::test]
async fn markup_is_stored_and_returned_verbatim_as_json_text() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    let evil = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    send(&s, general, evil).await;
    let r = ann.inner().get(app.url(&format!("/api/messages/{general}"))).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["message"], evil);
}

async fn history(http: &parley_client::HttpClient, room: i64, query: &str) -> Vec<i64> {
    let (status, body) = http.get_json(&format!("/api/messages/{room}{query}")).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body.as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn history_pages_backwards_with_before_and_catches_up_with_after() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    let random = room_id(&ann, "Random").await;
    join(&s, general).await;
    join(&s, random).await;
    let mut ids = Vec::new();
    for i in 0..120 {
        ids.push(send(&s, general, &format!("m{i}")).await["id"].as_i64().unwrap());
        if i % 10 == 0 {
            send(&s, random, "elsewhere").await;
        }
    }
    assert_eq!(history(&ann, general, "").await, ids[20..], "the last 100, oldest first");
    assert_eq!(history(&ann, general, "?limit=5").await, ids[115..]);
    assert_eq!(history(&ann, general, &format!("?before={}&limit=10", ids[20])).await, ids[10..20]);
    assert_eq!(history(&ann, general, &format!("?before={}", ids[5])).await, ids[..5]);
    assert_eq!(history(&ann, general, &format!("?after={}&limit=3", ids[50])).await, ids[51..54]);
    assert_eq!(history(&ann, general, &format!("?after={}&limit=200", ids[0])).await, ids[1..]);
    assert_eq!(history(&ann, general, &format!("?after={}", ids[119])).await, Vec::<i64>::new());
}

#[tokio::test]
async fn bad_history_parameters_are_400_and_unknown_rooms_404() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    for query in ["?limit=0", "?limit=201", "?limit=ten", "?before=abc", "?after=-4", "?before=1&after=2"] {
        let (status, body) = ann.get_json(&format!("/api/messages/1{query}")).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(&body), "invalid_payload", "{query}");
    }
    for path in ["/api/messages/999", "/api/messages/abc", "/api/messages/0"] {
        let (status, body) = ann.get_json(path).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(&body), "room_not_found");
    }
}
