use parley_client::{ConnectOptions, SioError};
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

/// A socket of `http`'s user whose handshake `auth` is `auth`, its `connection_success` consumed.
async fn socket_with_auth(app: &TestApp, http: &parley_client::HttpClient, auth: serde_json::Value) -> parley_client::SioClient {
    let opts = parley_client::ConnectOptions { auth: Some(auth), ..http.sio_options() };
    let mut s = app.connect_raw(opts).await.expect("socket connects");
    s.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
    s
}

#[tokio::test]
async fn a_client_that_asks_for_presence_batch_hears_each_users_latest_change_in_one_event() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let mut ann_s = socket_with_auth(&app, &ann, serde_json::json!({"capabilities": ["presence_batch"]})).await;
    let (_carl, mut carl_s) = app.connected("carl").await;
    let (bob, dave) = (app.user("bob").await, app.user("dave").await);

    // Bob comes and goes at once, and Dave comes: three changes, two users.
    app.socket(&bob).await.close().await;
    let dave_s = app.socket(&dave).await;

    // A client without the capability hears every change as it happens.
    carl_s.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == true, WAIT).await.unwrap();
    carl_s.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == false, WAIT).await.unwrap();
    carl_s.wait_for("presence", |p| p["username"] == "dave" && p["is_online"] == true, WAIT).await.unwrap();

    // Ann hears batches: each names a user once, with their latest presence.
    let mut latest = std::collections::HashMap::new();
    while latest.get("dave").is_none_or(|p: &serde_json::Value| p["is_online"] != true)
        || latest.get("bob").is_none_or(|p: &serde_json::Value| p["is_online"] != false)
    {
        let batch = ann_s.wait_for("presence_batch", |_| true, WAIT).await.unwrap();
        let users = batch["users"].as_array().expect("users is an array");
        let mut names: Vec<&str> = users.iter().map(|p| p["username"].as_str().unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), users.len(), "a user appears once in a batch: {batch}");
        for p in users {
            assert!(p["user_id"].is_i64() && p["avatar_color"].is_string() && p["display_name"].is_string(), "{p}");
            latest.insert(p["username"].as_str().unwrap().to_owned(), p.clone());
        }
    }
    assert!(latest["bob"]["last_seen"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", latest["bob"]);
    assert_eq!(latest["dave"]["last_seen"], serde_json::Value::Null);
    // ...and never a single `presence`.
    ann_s.expect_none("presence", |_| true, QUIET).await.unwrap();
    drop(dave_s);
}

#[tokio::test]
async fn a_handshake_auth_that_asks_for_nothing_known_changes_nothing() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let asks = [serde_json::json!({"capabilities": ["no_such_thing"]}), serde_json::json!({"capabilities": "presence_batch"}),
                serde_json::json!({"token": 1})];
    for (i, auth) in asks.into_iter().enumerate() {
        let mut ann_s = socket_with_auth(&app, &ann, auth.clone()).await;
        let bob = app.user(&format!("bob{i}")).await;
        let bob_s = app.socket(&bob).await;
        ann_s.wait_for("presence", |p| p["is_online"] == true, WAIT).await.unwrap_or_else(|e| panic!("{auth}: {e}"));
        ann_s.expect_none("presence_batch", |_| true, QUIET).await.unwrap();
        bob_s.close().await;
        ann_s.close().await;
    }
}

/// A single instance (no Redis, whatever the suite's environment) with this grace after a restart.
async fn single_instance(grace_ms: u64) -> TestApp {
    spawn_app_with(|s| {
        s.redis_url = None;
        s.restart_grace_ms = grace_ms;
    })
    .await
}

#[tokio::test]
async fn a_restart_keeps_everyone_online_and_announces_only_who_is_not_back_when_the_grace_ends() {
    let mut app = single_instance(2_000).await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (bob, mut bob_s) = app.connected("bob").await;
    let (cat, mut cat_s) = app.connected("cat").await;
    ann_s.wait_for("presence", |p| p["username"] == "cat" && p["is_online"] == true, WAIT).await.unwrap();

    app.restart_after(std::time::Duration::ZERO).await;
    for s in [&mut ann_s, &mut bob_s, &mut cat_s] {
        s.disconnected(WAIT).await.expect("the stop closes every socket");
    }
    // Nobody is back yet, and all three still count as online.
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann", "bob", "cat"]);

    let mut ann_s = app.socket(&ann).await;
    let bob_s = app.socket(&bob).await;
    ann_s.expect_none("presence", |p| p["username"] == "bob", QUIET).await.unwrap();
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann", "bob", "cat"]);

    // Cat does not come back: offline when the grace ends, seen last at the stop.
    let offline = ann_s.wait_for("presence", |p| p["username"] == "cat", WAIT).await.unwrap();
    assert_eq!(offline["is_online"], false);
    let store = parley::store::open(&app.database_url).await.unwrap();
    let stored = store.user_by_username("cat").await.unwrap().unwrap().last_seen.expect("cat's last_seen from the stop");
    store.close().await;
    assert_eq!(offline["last_seen"], stored.to_string());
    ann_s.expect_none("presence", |p| p["username"] != "cat", QUIET).await.unwrap();
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann", "bob"]);

    // Back later, cat is announced as anyone coming online is.
    let cat_s = app.socket(&cat).await;
    let online = ann_s.wait_for("presence", |p| p["username"] == "cat", WAIT).await.unwrap();
    assert_eq!(online["is_online"], true);
    drop((bob_s, cat_s));
}

#[tokio::test]
async fn no_one_counts_as_online_after_a_stop_longer_than_the_grace_or_with_no_grace() {
    for (grace_ms, pause_ms) in [(300, 800), (0, 0)] {
        let mut app = single_instance(grace_ms).await;
        let (ann, mut ann_s) = app.connected("ann").await;
        let (bob, mut bob_s) = app.connected("bob").await;
        app.restart_after(std::time::Duration::from_millis(pause_ms)).await;
        ann_s.disconnected(WAIT).await.unwrap();
        bob_s.disconnected(WAIT).await.unwrap();
        let (_, online) = ann.get_json("/api/online-users").await.unwrap();
        assert_eq!(usernames(&online), Vec::<String>::new(), "grace {grace_ms} ms, stopped for {pause_ms} ms");
        // And whoever comes back is announced.
        let mut ann_s = app.socket(&ann).await;
        let _bob_s = app.socket(&bob).await;
        ann_s.wait_for("presence", |p| p["username"] == "bob" && p["is_online"] == true, WAIT).await.unwrap();
    }
}

#[tokio::test]
async fn a_restart_trusts_only_the_sessions_still_live_at_the_stop() {
    // The start trusts the sessions of whoever was online without asking the
    // database again: one that ended before the stop must stay ended.
    let mut app = single_instance(2_000).await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let tab = app.http();
    assert!(tab.api_login("ann", PASSWORD).await.unwrap().status().is_success());
    let ended = tab.cookie_header().expect("the second session's cookie");
    assert_eq!(tab.inner().post(app.url("/api/logout")).send().await.unwrap().status(), StatusCode::NO_CONTENT);

    app.restart_after(std::time::Duration::ZERO).await;
    ann_s.disconnected(WAIT).await.unwrap();
    let refused = app.connect_raw(ConnectOptions { cookie: Some(ended), ..Default::default() }).await;
    assert!(matches!(refused, Err(SioError::Refused(_))), "{refused:?}");
    let _ann_s = app.socket(&ann).await;
    assert_eq!(usernames(&ann.get_json("/api/online-users").await.unwrap().1), ["ann"]);
}
