//! The people directory: `GET /api/users` (docs/protocol.md, "Accounts and administration").

use reqwest::StatusCode;
use serde_json::Value;

use crate::calls::*;
use crate::support::*;

fn names(people: &Value) -> Vec<&str> {
    people.as_array().expect("an array").iter().map(|u| u["username"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_directory_lists_people_by_username_with_their_online_state() {
    let app = spawn_app().await;
    let (cyd, _cyd_socket) = app.connected("cyd").await;
    let ann = app.user("ann").await;
    patch(&ann, "/api/me", serde_json::json!({"display_name": "Zoë Quinn"})).await;
    app.user("Bob").await;
    let (status, people) = cyd.get_json("/api/users").await.unwrap();
    assert_eq!(status, 200, "{people}");
    assert_eq!(names(&people), ["ann", "Bob", "cyd"], "by username, any case");
    let cyd_entry = &people[2];
    assert_eq!(cyd_entry["is_online"], true);
    assert_eq!(cyd_entry["role"], "admin");
    assert_eq!(people[0]["is_online"], false);
    assert_eq!(people[0]["last_seen"], Value::Null, "never connected");
    for field in ["id", "username", "display_name", "avatar_color", "avatar_url", "role", "is_online", "last_seen", "deactivated"] {
        assert!(people[1].get(field).is_some(), "{field} in {}", people[1]);
    }

    // q: a part of the username or the display name, any case.
    for (q, want) in [("B", vec!["Bob"]), ("zo", vec!["ann"]), ("QUINN", vec!["ann"]), ("n", vec!["ann"]), ("y", vec!["cyd"]), ("nobody", vec![])] {
        let (_, found) = cyd.get_json(&format!("/api/users?q={}", urlencode(q))).await.unwrap();
        assert_eq!(names(&found), want, "q={q}");
    }
    let (_, two) = cyd.get_json("/api/users?limit=2").await.unwrap();
    assert_eq!(names(&two), ["ann", "Bob"]);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn last_seen_is_the_stored_time_a_person_left() {
    // With the default linger, `last_seen` is stored when the last socket
    // closes and the offline announcement comes after the linger.
    let app = spawn_app().await;
    let (ann, mut ann_socket) = app.connected("ann").await;
    let (_bob, bob_socket) = app.connected("bob").await;
    bob_socket.close().await;
    ann_socket.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == false, WAIT).await.unwrap();
    let (_, people) = ann.get_json("/api/users?q=bob").await.unwrap();
    assert_eq!(people[0]["is_online"], false);
    assert!(people[0]["last_seen"].is_string(), "{people}");
    // Someone who arrives later sees it too: it is stored, not only announced.
    let cyd = app.user("cyd").await;
    let (_, people) = cyd.get_json("/api/users?q=bob").await.unwrap();
    assert!(people[0]["last_seen"].is_string(), "{people}");
}

#[tokio::test]
async fn bad_directory_queries_are_refused() {
    let app = spawn_app().await;
    let _admin = app.user("ann").await;
    let bob = app.user("bob").await;
    for (path, want, code) in [
        ("/api/users?limit=0", StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/users?limit=101", StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/users?limit=ten", StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/users?limit=-1", StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/users?include_deactivated=maybe", StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/users?include_deactivated=true", StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let (status, body) = bob.get_json(path).await.unwrap();
        assert_eq!((status, error_code(&body)), (want, code), "{path}");
    }
    let (_, long) = bob.get_json(&format!("/api/users?q={}", "a".repeat(500))).await.unwrap();
    assert_eq!(long, serde_json::json!([]));
    assert_eq!(app.http().get_json("/api/users").await.unwrap().0, StatusCode::UNAUTHORIZED);
}
