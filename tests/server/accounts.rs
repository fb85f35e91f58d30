use parley_client::{ConnectOptions, HttpClient, SioError};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

use crate::support::*;

async fn post_form(http: &HttpClient, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http.inner().post(http.url(path)).form(form).send().await.expect("request")
}

#[tokio::test]
async fn the_root_redirects_to_login_without_a_session_and_serves_the_client_with_one() {
    let app = spawn_app().await;
    let anonymous = app.http();
    let r = anonymous.inner().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/login");

    let ann = app.user("ann").await;
    let r = ann.inner().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[tokio::test]
async fn the_login_and_register_forms_are_served() {
    let app = spawn_app().await;
    for (path, field) in [("/login", "name=\"password\""), ("/register", "name=\"email\"")] {
        let r = app.http().inner().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains(field), "{path}");
    }
}

#[tokio::test]
async fn registering_by_form_signs_the_new_person_in_and_the_account_can_log_in_again() {
    let app = spawn_app().await;
    let http = app.http();
    let form = [("username", "ann"), ("email", "ann@example.com"), ("display_name", "Ann S."), ("password", PASSWORD)];
    let r = post_form(&http, "/register", &form).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/", "straight into the chat");
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().starts_with("parley_session="));
    let r = http.inner().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "signed in: the chat client, not the login form");

    let http = app.http();
    let r = post_form(&http, "/login", &[("username", "ann"), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/");
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("parley_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not secure unless configured: {cookie}");

    let (status, me) = http.get_json("/api/me").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "ann");
    assert_eq!(me["display_name"], "Ann S.");
    assert!(me["avatar_color"].as_str().unwrap().starts_with('#'));
}

#[tokio::test]
async fn a_taken_username_is_refused_case_insensitively_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.user("ann").await;
    let http = app.http();
    let r = post_form(&http, "/register", &[("username", "ANN"), ("email", "other@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("That username is already taken"), "{page}");
    assert!(page.contains("other@example.com"), "the form keeps what was typed");

    // The second account does not exist: the other email is still free.
    let r = http.api_register("bob", "other@example.com", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_taken_email_is_refused() {
    let app = spawn_app().await;
    app.user("ann").await;
    let r = app.http().api_register("bob", "ANN@example.test", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "email_taken");
}

#[tokio::test]
async fn invalid_registrations_get_a_specific_error_and_store_nothing() {
    let app = spawn_app().await;
    let cases = [
        ("a", "a@example.com", PASSWORD, "invalid_username"),
        ("has space", "a@example.com", PASSWORD, "invalid_username"),
        ("ann", "not-an-email", PASSWORD, "invalid_email"),
        ("ann", "ann@example.com", "short", "invalid_password"),
    ];
    for (username, email, password, code) in cases {
        let r = app.http().api_register(username, email, password).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{username} {email}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(error_code(&body), code);
    }
    let r = post_form(&app.http(), "/register", &[("username", "x"), ("email", "x@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Username must be 3 to 32 characters"));
    let r = app.http().api_login("ann", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "nothing was stored");
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_401_and_no_session() {
    let app = spawn_app().await;
    app.user("ann").await;
    let http = app.http();
    let r = post_form(&http, "/login", &[("username", "ann"), ("password", "wrong password")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("Invalid username or password"));
    let r = post_form(&http, "/login", &[("username", "nobody"), ("password", "wrong password")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(http.get_json("/api/rooms").await.unwrap().0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_json_login_answers_the_user_and_sets_the_same_cookie() {
    let app = spawn_app().await;
    let http = app.http();
    http.api_register("ann", "ann@example.com", PASSWORD).await.unwrap();
    let r = http.api_login("Ann", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().starts_with("parley_session="));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["username"], "ann");
    let r = http.api_login("ann", "wrong password").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "invalid_credentials");
}

#[tokio::test]
async fn logout_ends_the_session_for_http_and_socket_io_and_closes_live_sockets() {
    let app = spawn_app().await;
    let (ann, mut socket) = app.connected("ann").await;
    let old_cookie = ann.cookie_header().expect("cookie");

    let r = ann.inner().get(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/login");
    socket.disconnected(WAIT).await.expect("the live socket is closed");

    let stale = app.http();
    let r = stale.inner().get(app.url("/api/rooms")).header("cookie", &old_cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let refused = app.connect_raw(ConnectOptions { cookie: Some(old_cookie), ..Default::default() }).await;
    assert!(matches!(refused, Err(SioError::Refused(_))), "{refused:?}");
}

#[tokio::test]
async fn a_socket_without_a_session_is_refused_with_connect_error() {
    let app = spawn_app().await;
    match app.connect_raw(ConnectOptions::default()).await {
        Err(SioError::Refused(body)) => assert_eq!(body["message"], "You are not logged in"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let forged = ConnectOptions { cookie: Some("parley_session=forged".into()), ..Default::default() };
    assert!(matches!(app.connect_raw(forged).await, Err(SioError::Refused(_))));
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = spawn_app_with(|s| s.secure_cookies = true).await;
    let http = app.http();
    http.api_register("ann", "ann@example.com", PASSWORD).await.unwrap();
    let r = http.post_json("/api/login", &json!({"username": "ann", "password": PASSWORD})).await.unwrap();
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure"));
}

#[tokio::test]
async fn repeated_failed_logins_for_one_username_from_one_address_are_rate_limited_even_with_the_right_password() {
    let app = spawn_app_with(|s| s.login_failures_per_username = 3).await;
    app.user("ann").await;
    let http = app.http();
    for _ in 0..3 {
        assert_eq!(http.api_login("ann", "wrong password").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = http.api_login("ANN", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "rate_limited");
    // Another username from the same address is unaffected.
    app.user("bob").await;
}

#[tokio::test]
async fn repeated_failed_logins_from_one_address_are_rate_limited() {
    let app = spawn_app_with(|s| s.login_failures_per_address = 4).await;
    let http = app.http();
    for i in 0..4 {
        let r = http.api_login(&format!("nobody{i}"), "wrong password").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = post_form(&http, "/login", &[("username", "someone"), ("password", "whatever1")]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Too many requests"));
}

#[tokio::test]
async fn logout_without_a_session_still_lands_on_the_login_page() {
    let app = spawn_app().await;
    let r = app.http().inner().get(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/login");
}

#[tokio::test]
async fn the_json_logout_ends_the_session() {
    let app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let r = ann.inner().post(app.url("/api/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    s.disconnected(WAIT).await.expect("socket closed");
    assert_eq!(ann.get_json("/api/me").await.unwrap().0, StatusCode::UNAUTHORIZED);
}

// Finding 10 (accounts): common passwords, and sessions that end under an open socket.

#[tokio::test]
async fn a_common_password_or_the_username_as_password_is_refused_at_registration() {
    let app = spawn_app().await;
    let http = app.http();
    for (name, password) in [("ann", "12345678"), ("bob", "password"), ("carlos1999", "carlos1999"), ("dee", "iloveyou1")] {
        let r = http.api_register(name, &format!("{name}@example.com"), password).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{password}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(error_code(&body), "password_too_common", "{password}");
    }
    let r = http.api_register("ann", "ann@example.com", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_socket_is_closed_when_its_session_expires() {
    let app = spawn_app_with(|s| {
        s.session_secs = Some(2);
        s.session_check_ms = 200;
    })
    .await;
    let (_http, mut socket) = app.connected("ann").await;
    socket.disconnected(std::time::Duration::from_secs(6)).await.expect("the socket of an expired session is closed");
}

#[tokio::test]
async fn a_socket_is_closed_when_its_session_is_deleted_from_the_store() {
    let app = spawn_app_with(|s| s.session_check_ms = 200).await;
    let (_http, mut socket) = app.connected("ann").await;
    // As an administrator would, or another tool: straight in the database.
    delete_all_sessions(&app.database_url).await;
    socket.disconnected(std::time::Duration::from_secs(5)).await.expect("the socket of a deleted session is closed");
}

async fn delete_all_sessions(url: &str) {
    use sqlx::{Connection, Executor};
    let sql = "DELETE FROM sessions";
    if url.starts_with("sqlite:") {
        sqlx::SqliteConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    } else if url.starts_with("mysql:") {
        sqlx::MySqlConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    } else {
        sqlx::PgConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    }
}
