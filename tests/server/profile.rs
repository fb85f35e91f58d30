//! Account settings: `PATCH /api/me`, `POST /api/me/password`,
//! `DELETE /api/me/sessions` (docs/protocol.md, "Accounts and administration").

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

use crate::calls::*;
use crate::support::*;

#[tokio::test]
async fn a_new_name_and_colour_reach_everyone_and_the_next_message_at_once() {
    let app = spawn_app().await;
    let (ann, ann_socket) = app.connected("ann").await;
    let (_bob, mut bob_socket) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_socket, general).await;
    join(&bob_socket, general).await;

    let (status, me) = patch(&ann, "/api/me", json!({"display_name": "Ann Lee", "avatar_color": "#1E88E5"})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["display_name"].as_str(), me["avatar_color"].as_str()), (Some("Ann Lee"), Some("#1e88e5")));
    assert_eq!(me["role"], "admin");
    let updated = bob_socket.wait_for("user_updated", |u| u["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(updated["display_name"], "Ann Lee");
    assert_eq!(updated["avatar_color"], "#1e88e5");
    assert_eq!(updated["is_online"], true);
    assert_eq!(updated["avatar_url"], Value::Null);
    for field in ["id", "role", "last_seen", "deactivated"] {
        assert!(updated.get(field).is_some(), "{field} in {updated}");
    }

    // The open socket speaks with the new name straight away.
    let sent = send(&ann_socket, general, "hello").await;
    let m = bob_socket.wait_for("new_message", |m| m["id"] == sent["id"], WAIT).await.unwrap();
    assert_eq!((m["display_name"].as_str(), m["avatar_color"].as_str()), (Some("Ann Lee"), Some("#1e88e5")));
    let (_, me) = ann.get_json("/api/me").await.unwrap();
    assert_eq!(me["display_name"], "Ann Lee");
    let (_, people) = ann.get_json("/api/users?q=ann").await.unwrap();
    assert_eq!(people[0]["display_name"], "Ann Lee");

    // Only one field: the other stays; a blank name falls back to the username.
    let (_, me) = patch(&ann, "/api/me", json!({"display_name": "  "})).await;
    assert_eq!((me["display_name"].as_str(), me["avatar_color"].as_str()), (Some("ann"), Some("#1e88e5")));
}

#[tokio::test]
async fn bad_profile_changes_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let (_, before) = ann.get_json("/api/me").await.unwrap();
    let cases = [
        (json!({"avatar_color": "#fff"}), "invalid_avatar_color"),
        (json!({"avatar_color": "red"}), "invalid_avatar_color"),
        (json!({"avatar_color": "#12345g"}), "invalid_avatar_color"),
        (json!({"display_name": "Ann", "avatar_color": "1e88e5"}), "invalid_avatar_color"),
        (json!({"display_name": "\u{202E}nimda"}), "invalid_display_name"),
        (json!({"display_name": "x".repeat(65)}), "invalid_display_name"),
        (json!({"display_name": 5}), "invalid_payload"),
        (json!({"avatar_color": ["#ffffff"]}), "invalid_payload"),
        (json!("Ann"), "invalid_payload"),
    ];
    for (body, code) in cases {
        let (status, answer) = patch(&ann, "/api/me", body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    assert_eq!(ann.get_json("/api/me").await.unwrap().1, before, "nothing stored");
    let (status, _) = patch(&app.http(), "/api/me", json!({"display_name": "Ghost"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = ann.inner().patch(app.url("/api/me")).header("origin", "https://elsewhere.example").json(&json!({"display_name": "Evil"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site");
    assert_eq!(ann.get_json("/api/me").await.unwrap().1, before);
}

#[tokio::test]
async fn a_new_password_ends_the_other_sessions_and_closes_their_sockets_but_not_this_one() {
    let app = spawn_app().await;
    let (ann, mut here) = app.connected("ann").await;
    let phone = app.http();
    assert_eq!(phone.api_login("ann", PASSWORD).await.unwrap().status(), 200);
    let mut there = app.socket(&phone).await;

    let cases = [
        (json!({"current_password": "wrong password", "new_password": "a brand new secret"}), StatusCode::FORBIDDEN, "wrong_password"),
        (json!({"current_password": PASSWORD, "new_password": "short"}), StatusCode::BAD_REQUEST, "invalid_password"),
        (json!({"current_password": PASSWORD, "new_password": "password1"}), StatusCode::BAD_REQUEST, "password_too_common"),
        (json!({"current_password": PASSWORD}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"current_password": PASSWORD, "new_password": 12345678}), StatusCode::BAD_REQUEST, "invalid_payload"),
    ];
    for (body, want, code) in cases {
        let (status, answer) = post(&ann, "/api/me/password", body.clone()).await;
        assert_eq!((status, error_code(&answer)), (want, code), "{body}");
    }
    assert_eq!(phone.get_json("/api/me").await.unwrap().0, 200, "refusals end no session");

    let (status, _) = post(&ann, "/api/me/password", json!({"current_password": PASSWORD, "new_password": "a brand new secret"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    there.disconnected(WAIT).await.expect("the other session's socket closes");
    assert_eq!(phone.get_json("/api/me").await.unwrap().0, StatusCode::UNAUTHORIZED);
    assert_eq!(ann.get_json("/api/me").await.unwrap().0, 200, "this session stays");
    here.expect_none("connection_success", |_| true, QUIET).await.unwrap();
    assert!(here.is_connected(), "this session's socket stays");

    assert_eq!(app.http().api_login("ann", PASSWORD).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.http().api_login("ann", "a brand new secret").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_closes_every_socket_and_clears_the_cookie() {
    let app = spawn_app().await;
    let (ann, mut here) = app.connected("ann").await;
    let phone = app.http();
    assert_eq!(phone.api_login("ann", PASSWORD).await.unwrap().status(), 200);
    let mut there = app.socket(&phone).await;
    let (_bob, mut bob_socket) = app.connected("bob").await;

    let r = ann.inner().delete(app.url("/api/me/sessions")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    here.disconnected(WAIT).await.expect("this socket closes");
    there.disconnected(WAIT).await.expect("the other device's socket closes");
    assert_eq!(ann.get_json("/api/me").await.unwrap().0, StatusCode::UNAUTHORIZED);
    assert_eq!(phone.get_json("/api/me").await.unwrap().0, StatusCode::UNAUTHORIZED);
    // Someone else is not affected.
    bob_socket.expect_none("connection_success", |_| true, QUIET).await.unwrap();
    assert!(bob_socket.is_connected());
    assert_eq!(delete(&app.http(), "/api/me/sessions").await.0, StatusCode::UNAUTHORIZED);
}
