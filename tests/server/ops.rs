use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let r = app.http().inner().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.http().inner().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_connections_messages_deliveries_and_http_latency() {
    let app = spawn_app_with(|s| s.metrics_token = Some("scrape-token".into())).await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    send(&s, general, "counted").await;
    let r = app.http().inner().get(app.url("/metrics")).bearer_auth("scrape-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    for name in ["parley_connections_open", "parley_messages_stored_total", "parley_deliveries_total", "parley_http_request_duration_seconds_bucket"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_http_route() {
    let app = spawn_app().await;
    let (status, doc) = app.http().get_json("/api/openapi.json").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let paths: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let expected = [
        "/", "/login", "/register", "/logout", "/healthz", "/readyz", "/metrics", "/api/openapi.json",
        "/api/register", "/api/login", "/api/logout", "/api/me", "/api/rooms", "/api/messages/{room_id}",
        "/api/online-users", "/api/online-users/{room_id}",
        // Accounts and administration (Part C).
        "/api/me/password", "/api/me/sessions", "/api/users", "/api/admin/settings", "/api/admin/invites",
        "/api/admin/invites/{id}", "/api/admin/users/{id}",
        "/api/rooms/{room_id}", "/api/rooms/{room_id}/members", "/api/rooms/{room_id}/members/{user_id}", "/api/direct",
    ];
    assert_eq!(paths, expected.into_iter().collect());
}

#[tokio::test]
async fn shutdown_closes_sockets_and_records_last_seen() {
    let mut app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    let id = send(&s, general, "before shutdown").await["id"].clone();
    app.stop().await;
    s.disconnected(WAIT).await.expect("socket closed by the server");

    // Reopen the same database: the message is there, and ann was last seen.
    let store = parley::store::open(&app.database_url).await.unwrap();
    let user = store.user_by_username("ann").await.unwrap().unwrap();
    assert!(user.last_seen.is_some());
    let page = store.messages(parley::domain::RoomId(general), parley::domain::Page::Latest { limit: 10 }).await.unwrap();
    assert_eq!(json!(page[0].id.0), id);
}

#[tokio::test]
async fn shutdown_records_last_seen_for_every_connected_user() {
    let mut app = spawn_app().await;
    let names: Vec<String> = (0..150).map(|i| format!("user{i}")).collect();
    let mut sockets = Vec::new();
    for name in &names {
        sockets.push(app.connected(name).await.1);
    }
    app.stop().await;
    let store = parley::store::open(&app.database_url).await.unwrap();
    for name in &names {
        let user = store.user_by_username(name).await.unwrap().unwrap();
        assert!(user.last_seen.is_some(), "{name} was connected at shutdown and has no last_seen");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_exits_cleanly_on_sigterm() {
    let mut server = Process::spawn(&[]).await;
    let http = server.user("ann").await;
    let mut s = server.socket(&http).await;
    let status = tokio::time::timeout(WAIT, server.terminate()).await.expect("exits in time");
    assert!(status.success(), "exit status {status:?}");
    s.disconnected(WAIT).await.expect("socket closed on shutdown");
}
