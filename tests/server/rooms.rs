use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_fresh_install_has_general_technology_and_random() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let (status, rooms) = ann.get_json("/api/rooms").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = rooms.as_array().unwrap().iter().map(|r| r["room_name"].as_str().unwrap()).collect();
    // Public and private rooms by name (docs/protocol.md, "What GET /api/rooms lists").
    assert_eq!(names, ["General", "Random", "Technology"]);
    let general = &rooms[0];
    assert_eq!(general["room_type"], "public");
    assert!(general["id"].as_i64().unwrap() > 0);
    assert!(general["created_by"].is_null());
    assert!(general["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn the_api_refuses_requests_without_a_session() {
    let app = spawn_app().await;
    for path in ["/api/rooms", "/api/messages/1", "/api/online-users", "/api/online-users/1", "/api/me"] {
        let (status, body) = app.http().get_json(path).await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(&body), "not_authenticated", "{path}");
    }
}

#[tokio::test]
async fn a_created_room_is_announced_to_every_connected_client_and_listed() {
    let app = spawn_app().await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let ack = ann_s.emit_with_ack("create_room", json!({"room_name": "  Rustaceans "}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    assert_eq!(ack["room_name"], "Rustaceans");
    let id = ack["room_id"].as_i64().unwrap();
    let seen = bo_s.wait_for("room_created", |d| d["room_id"] == id, WAIT).await.unwrap();
    assert_eq!(seen["room_name"], "Rustaceans");
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    let created = rooms.as_array().unwrap().iter().find(|r| r["id"] == id).expect("listed");
    assert_eq!(created["created_by"], ann.get_json("/api/me").await.unwrap().1["id"]);
}

#[tokio::test]
async fn a_duplicate_room_name_is_refused_case_insensitively() {
    let app = spawn_app().await;
    let (_ann, mut s) = app.connected("ann").await;
    let ack = s.emit_with_ack("create_room", json!({"room_name": "general"}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], false);
    assert_eq!(error_code(&ack), "room_name_taken");
    let e = s.wait_for("room_creation_error", |_| true, WAIT).await.unwrap();
    assert_eq!(e["error"], "A room with that name already exists");
    s.expect_none("room_created", |_| true, QUIET).await.unwrap();
}

#[tokio::test]
async fn an_empty_or_too_long_room_name_is_refused_without_an_ack_too() {
    let app = spawn_app().await;
    let (_ann, mut s) = app.connected("ann").await;
    for (name, code) in [("   ", "room_name_empty"), (&*"x".repeat(51), "room_name_too_long")] {
        s.emit("create_room", json!({"room_name": name})).unwrap();
        let e = s.wait_for("chat_error", |e| e["event"] == "create_room", WAIT).await.unwrap();
        assert_eq!(e["code"], code);
        s.wait_for("room_creation_error", |_| true, WAIT).await.unwrap();
    }
    let ack = s.emit_with_ack("create_room", json!({"room_name": "x".repeat(50)}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "fifty characters is fine");
}

#[tokio::test]
async fn joining_tells_everyone_in_the_room_including_the_joiner() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&bo_s, general).await;
    let ack = join(&ann_s, general).await;
    assert_eq!(ack["room_id"], general);
    assert_eq!(ack["room_name"], "General");
    for s in [&mut ann_s, &mut bo_s] {
        let j = s.wait_for("user_joined", |d| d["username"] == "ann", WAIT).await.unwrap();
        assert_eq!(j["room_id"], general);
        assert_eq!(j["display_name"], "ann");
        assert_eq!(j["message"], "ann has joined the room");
    }
}

#[tokio::test]
async fn joining_an_unknown_room_is_room_not_found() {
    let app = spawn_app().await;
    let (_ann, mut s) = app.connected("ann").await;
    let ack = s.emit_with_ack("join_room", json!({"room_id": 999}), WAIT).await.unwrap();
    assert_eq!(error_code(&ack), "room_not_found");
    s.emit("join_room", json!({"room_id": "998"})).unwrap();
    let e = s.wait_for("chat_error", |_| true, WAIT).await.unwrap();
    assert_eq!(e["code"], "room_not_found");
    assert_eq!(e["event"], "join_room");
}

#[tokio::test]
async fn a_room_id_sent_as_a_string_of_digits_is_accepted() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    let ack = s.emit_with_ack("join_room", json!({"room_id": general.to_string(), "room_name": "General"}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
}

#[tokio::test]
async fn leaving_tells_the_others_and_stops_delivery() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (_bo, mut bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;
    let ack = ann_s.emit_with_ack("leave_room", json!({"room_id": general}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    let left = bo_s.wait_for("user_left_room", |_| true, WAIT).await.unwrap();
    assert_eq!(left["username"], "ann");
    assert_eq!(left["room_id"], general);
    assert_eq!(left["message"], "ann has left the room");
    ann_s.expect_none("user_left_room", |_| true, QUIET).await.unwrap();

    send(&bo_s, general, "still here?").await;
    ann_s.expect_none("new_message", |_| true, QUIET).await.unwrap();
    let ack = ann_s.emit_with_ack("leave_room", json!({"room_id": general}), WAIT).await.unwrap();
    assert_eq!(error_code(&ack), "not_in_room");
}

#[tokio::test]
async fn online_users_of_a_room_are_those_with_a_socket_in_it() {
    let app = spawn_app().await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_bo, _bo_s) = app.connected("bob").await;
    // Not General: every account is a member of it, and its online list
    // is its members with a socket (docs/protocol.md Part C).
    let general = room_id(&ann, "Technology").await;
    join(&ann_s, general).await;
    let (status, users) = ann.get_json(&format!("/api/online-users/{general}")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann"]);
    assert!(users[0]["avatar_color"].is_string() && users[0]["id"].is_i64() && users[0]["display_name"] == "ann");
    let (status, body) = ann.get_json("/api/online-users/4242").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "room_not_found");
}

// Several workers, so the server's connect handler and the client race as they do in production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_the_moment_the_socket_connects_is_handled() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let general = room_id(&ann, "General").await;
    for _ in 0..200 {
        let url = format!("{}/socket.io/?EIO=4&transport=websocket", app.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("cookie", ann.cookie_header().unwrap().parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        // The first event leaves the instant the connect is confirmed, as
        // socket.io-client sends what it buffered while connecting.
        ws.send(Message::text("40")).await.unwrap();
        while let Some(Ok(frame)) = ws.next().await {
            if matches!(&frame, Message::Text(t) if t.as_str().starts_with("40")) {
                break;
            }
        }
        ws.send(Message::text(format!(r#"421["join_room",{{"room_id":{general}}}]"#))).await.unwrap();
        let answered = tokio::time::timeout(WAIT, async {
            while let Some(Ok(frame)) = ws.next().await {
                if let Message::Text(t) = frame
                    && t.as_str().starts_with("431[") {
                        return t.to_string();
                    }
            }
            String::new()
        })
        .await
        .expect("the first event is answered");
        assert!(answered.contains("\"ok\":true"), "{answered}");
    }
}
