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

#[tokio::test]
async fn a_user_who_reconnects_at_once_ends_up_shown_online() {
    let app = spawn_app().await;
    let (_ann, mut ann_s) = app.connected("ann").await;
    let bob = app.user("bob").await;
    let mut tab = app.socket(&bob).await;
    for _ in 0..20 {
        // A reload: the old page goes away without a goodbye as the new one connects.
        let next = parley_client::SioClient::connect(&app.base, bob.sio_options());
        drop(tab);
        tab = next.await.unwrap();
    }
    // Whatever order the announcements took, the last word is "online".
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let last = ann_s.drain().into_iter().rfind(|e| e.name == "presence" && e.data["username"] == "bob");
    assert_eq!(last.expect("presence events").data["is_online"], true);
    let (_, online) = _ann.get_json("/api/online-users").await.unwrap();
    assert_eq!(usernames(&online), ["ann", "bob"]);
    drop(tab);
}
