use parley_client::{ConnectOptions, SioError};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let app = spawn_app().await;
    app.user("ann").await;
    let http = app.http();
    let form = [("username", "ann"), ("password", PASSWORD)];
    let r = http.inner().post(app.url("/login")).header("origin", "https://evil.example").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());

    let r = http.inner().post(app.url("/login")).header("sec-fetch-site", "cross-site").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let reg = [("username", "mallory"), ("email", "m@example.com"), ("password", PASSWORD)];
    let r = http.inner().post(app.url("/register")).header("origin", "https://evil.example").form(&reg).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.http().api_login("mallory", PASSWORD).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_same_origin_form_post_and_one_without_origin_headers_are_accepted() {
    let app = spawn_app().await;
    app.user("ann").await;
    let form = [("username", "ann"), ("password", PASSWORD)];
    let same = app.base.clone();
    let r = app.http().inner().post(app.url("/login")).header("origin", same).header("sec-fetch-site", "same-origin").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = app.http().inner().post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_socket_handshake_from_another_site_is_refused() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let opts = ConnectOptions { origin: Some("https://evil.example".into()), ..ann.sio_options() };
    match app.connect_raw(opts).await {
        Err(SioError::Refused(body)) => assert!(body["message"].as_str().unwrap().contains("another site")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let opts = ConnectOptions { origin: Some(app.base.clone()), ..ann.sio_options() };
    assert!(app.connect_raw(opts).await.is_ok(), "same origin is fine");
}

#[tokio::test]
async fn a_configured_origin_may_open_sockets() {
    let app = spawn_app_with(|s| s.allowed_origins = vec!["https://chat.example".into()]).await;
    let ann = app.user("ann").await;
    let opts = ConnectOptions { origin: Some("https://chat.example".into()), ..ann.sio_options() };
    assert!(app.connect_raw(opts).await.is_ok());
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/login", "/api/rooms", "/healthz"] {
        let r = app.http().inner().get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
}
