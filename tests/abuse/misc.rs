//! 10. The rest of the transport findings: a cross-site logout link, the
//! Origin's scheme, the `Host` header, cache headers, security headers on
//! Socket.IO answers, query errors as JSON, and the database file's mode.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_logout_link_from_another_site_keeps_the_session() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cookie = ann.cookie_header().unwrap();
    for (name, value) in [("sec-fetch-site", "cross-site"), ("referer", "https://evil.example/page"), ("origin", "https://evil.example")] {
        let r = no_redirect.get(app.url("/logout")).header("cookie", &cookie).header(name, value).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    let (status, _) = ann.get_json("/api/me").await.unwrap();
    assert_eq!(status, StatusCode::OK, "the session survived");
    let r = no_redirect
        .get(app.url("/logout"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("referer", app.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "the user's own logout still works");
    let (status, _) = ann.get_json("/api/me").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_origin_with_another_scheme_is_another_site() {
    let app = spawn_app().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let form = [("username", "ann"), ("password", PASSWORD)];
    for origin in [format!("https://{host}"), format!("evil://{host}")] {
        let r = reqwest::Client::new().post(app.url("/login")).header("origin", &origin).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    let ann = app.user("ann").await;
    let opts = parley_client::ConnectOptions { origin: Some(format!("https://{host}")), ..ann.sio_options() };
    assert!(matches!(app.connect_raw(opts).await, Err(parley_client::SioError::Refused(_))), "socket from https://");
    let opts = parley_client::ConnectOptions { origin: Some(app.base.clone()), ..ann.sio_options() };
    assert!(app.connect_raw(opts).await.is_ok(), "the server's own origin");
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_but_loopback_and_configured_hosts_pass() {
    let app = spawn_app_with(|s| s.allowed_hosts = vec!["chat.example".into()]).await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/api/rooms")).header("host", "rebind.evil.example").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "unknown_host");
    let r = http.get(app.url("/login")).header("host", "rebind.evil.example:5000").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    for host in ["localhost:5000", "127.0.0.1", "chat.example"] {
        let r = http.get(app.url("/login")).header("host", host).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{host}");
    }
    let r = http.get(app.url("/healthz")).header("host", "10.1.2.3:5000").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "health checks are sent to an address");
}

#[tokio::test]
async fn api_answers_are_not_cached_and_socket_io_answers_carry_security_headers() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let r = ann.inner().get(app.url("/api/rooms")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = reqwest::Client::new().get(app.url("/socket.io/?EIO=4&transport=polling")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff", "refused handshake");
    let r = ann.inner().get(app.url("/socket.io/?EIO=4&transport=polling")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff", "socketioxide's own answer");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn a_duplicate_query_field_is_a_json_invalid_payload() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let general = room_id(&ann, "General").await;
    let r = ann.inner().get(app.url(&format!("/api/messages/{general}?limit=1&limit=2"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.expect("a JSON body");
    assert_eq!(error_code(&body), "invalid_payload");
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let Some(path) = app.database_url.strip_prefix("sqlite:") else { return }; // another database
    let _ = app.user("ann").await; // a write: the WAL exists
    for file in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{file}: {e}")).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}
