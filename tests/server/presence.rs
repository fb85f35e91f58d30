use reqwest::StatusCode;

use crate::support::*;

fn usernames(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_user_is_online_while_any_of_their_sockets_is_connected() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let bob = app.user("bob").await;

    let tab1 = app.socket(&bob).await;
    let online = ann_s.wait_for("presence", |p| p["username"] == "bob", WAIT).await.unwrap();
    assert_eq!(online["is_online"], true);
    assert!(online["user_id"].is_i64() && online["avatar_color"].is_string() && online["display_name"] == "bob");

    let tab2 = app.socket(&bob).await;
    ann_s.expect_none("presence", |p| p["username"] == "bob", QUIET).await.unwrap();
    let (status, users) = ann.get_json("/api/online-users").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usernames(&users), ["ann", "bob"]);

    tab1.close().await;
    ann_s.expect_none("presence", |p| p["username"] == "bob", QUIET).await.unwrap();
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann", "bob"]);

    tab2.close().await;
    let offline = ann_s.wait_for("presence", |p| p["username"] == "bob", WAIT).await.unwrap();
    assert_eq!(offline["is_online"], false);
    let last_seen = offline["last_seen"].as_str().expect("last_seen set");
    assert!(last_seen.ends_with('Z'), "{last_seen}");
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann"]);
}

#[tokio::test]
async fn a_dropped_connection_counts_as_a_disconnect() {
    let app = spawn_app().await;
    let (_ann, mut ann_s) = app.connected("ann").await;
    let bob = app.user("bob").await;
    let bo_s = app.socket(&bob).await;
    ann_s.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == true, WAIT).await.unwrap();
    drop(bo_s); // no goodbye packet
    ann_s.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == false, WAIT).await.unwrap();
}
