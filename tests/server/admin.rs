//! Roles, who may register, invites and the administration of users
//! (docs/protocol.md, "Accounts and administration").

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::calls::*;
use crate::support::*;

async fn register(app: &TestApp, name: &str, invite: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"username": name, "email": format!("{name}@example.test"), "password": PASSWORD});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    post(&app.http(), "/api/register", body).await
}

async fn set_registration(admin: &parley_client::HttpClient, mode: &str) {
    let (status, body) = patch(admin, "/api/admin/settings", json!({"registration": mode})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["registration"], mode);
}

async fn new_invite(admin: &parley_client::HttpClient, body: Value) -> Value {
    let (status, invite) = post(admin, "/api/admin/invites", body).await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    invite
}

#[tokio::test]
async fn the_first_account_is_an_admin_and_the_next_ones_are_members() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let (_, me) = ann.get_json("/api/me").await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["avatar_url"], Value::Null);
    for field in ["id", "username", "display_name", "avatar_color"] {
        assert!(!me[field].is_null(), "{field} in {me}");
    }
    let (_, me) = bob.get_json("/api/me").await.unwrap();
    assert_eq!(me["role"], "member");
}

#[tokio::test]
async fn members_get_forbidden_and_strangers_401_on_every_admin_route() {
    let app = spawn_app().await;
    let _admin = app.user("ann").await;
    let bob = app.user("bob").await;
    let routes: [(reqwest::Method, &str, Option<Value>); 6] = [
        (reqwest::Method::GET, "/api/admin/settings", None),
        (reqwest::Method::PATCH, "/api/admin/settings", Some(json!({"registration": "closed"}))),
        (reqwest::Method::POST, "/api/admin/invites", Some(json!({}))),
        (reqwest::Method::GET, "/api/admin/invites", None),
        (reqwest::Method::DELETE, "/api/admin/invites/1", None),
        (reqwest::Method::PATCH, "/api/admin/users/1", Some(json!({"role": "member"}))),
    ];
    for (method, path, body) in routes {
        let (status, answer) = call(&bob, method.clone(), path, body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::FORBIDDEN, "forbidden"), "{method} {path}");
        let (status, answer) = call(&app.http(), method.clone(), path, body).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::UNAUTHORIZED, "not_authenticated"), "{method} {path}");
    }
    // Nothing changed: registration is still open, ann still an admin.
    assert_eq!(register(&app, "cyd", None).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn settings_start_open_and_bad_settings_are_refused_without_storing_anything() {
    let app = spawn_app().await;
    let admin = app.user("ann").await;
    let (status, settings) = admin.get_json("/api/admin/settings").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(settings, json!({"registration": "open", "edit_window_s": null}));

    let cases = [
        (json!({"registration": "moderated"}), "invalid_setting"),
        (json!({"registration": "Open"}), "invalid_setting"),
        (json!({"edit_window_s": -1}), "invalid_setting"),
        (json!({"registration": 1}), "invalid_payload"),
        (json!({"edit_window_s": "ten"}), "invalid_payload"),
        (json!({"edit_window_s": 1.5}), "invalid_payload"),
        (json!("closed"), "invalid_payload"),
    ];
    for (body, code) in cases {
        let (status, answer) = patch(&admin, "/api/admin/settings", body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    assert_eq!(admin.get_json("/api/admin/settings").await.unwrap().1, settings, "nothing stored");

    let (_, changed) = patch(&admin, "/api/admin/settings", json!({"edit_window_s": 900})).await;
    assert_eq!(changed, json!({"registration": "open", "edit_window_s": 900}));
    let (_, changed) = patch(&admin, "/api/admin/settings", json!({"registration": "invite_only"})).await;
    assert_eq!(changed, json!({"registration": "invite_only", "edit_window_s": 900}), "what is not given stays");
    let (_, changed) = patch(&admin, "/api/admin/settings", json!({"edit_window_s": null})).await;
    assert_eq!(changed, json!({"registration": "invite_only", "edit_window_s": null}), "null: unlimited");
    assert_eq!(admin.get_json("/api/admin/settings").await.unwrap().1, changed);
}

#[tokio::test]
async fn closed_registration_refuses_everyone_but_the_first_account() {
    let app = spawn_app().await;
    let admin = app.user("ann").await;
    set_registration(&admin, "closed").await;
    let (status, body) = register(&app, "bob", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "registration_closed"));
    let form = [("username", "bob"), ("email", "bob@example.test"), ("password", PASSWORD)];
    let r = app.http().inner().post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("Registration is closed"));
    // Nothing was stored: once open again, the name is free.
    set_registration(&admin, "open").await;
    assert_eq!(register(&app, "bob", None).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn the_first_account_may_register_whatever_the_stored_mode_says() {
    let app = spawn_app().await;
    run_sql(&app.database_url, "INSERT INTO server_settings (name, value) VALUES ('registration', 'closed')").await;
    let (status, body) = register(&app, "ann", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = register(&app, "bob", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "registration_closed"));
}

#[tokio::test]
async fn invite_only_registration_needs_a_live_invite_and_counts_its_uses() {
    let app = spawn_app().await;
    let admin = app.user("ann").await;
    set_registration(&admin, "invite_only").await;
    let (status, body) = register(&app, "bob", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_required"));
    let (status, body) = register(&app, "bob", Some("")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_required"));
    let (status, body) = register(&app, "bob", Some("AAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_invalid"));

    let invite = new_invite(&admin, json!({"max_uses": 2})).await;
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 22);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{code}");
    assert_eq!(invite["url"], format!("/register?invite={code}"));
    assert_eq!((invite["max_uses"].as_i64(), invite["uses"].as_i64()), (Some(2), Some(0)));
    assert!(invite["expires_at"].is_string());

    // A registration that fails for another reason does not spend a use.
    let (status, _) = post(&app.http(), "/api/register", json!({"username": "ann", "email": "x@example.test", "password": PASSWORD, "invite": code})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(register(&app, "bob", Some(&code)).await.0, StatusCode::CREATED);
    assert_eq!(register(&app, "cyd", Some(&code)).await.0, StatusCode::CREATED);
    let (status, body) = register(&app, "dee", Some(&code)).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_invalid"), "used up");
    let (_, listed) = admin.get_json("/api/admin/invites").await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "a used-up invite is not live: {listed}");

    // Revoked.
    let invite = new_invite(&admin, json!({})).await;
    let (_, listed) = admin.get_json("/api/admin/invites").await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], invite["id"]);
    assert!(listed[0].get("code").is_none(), "the code is shown once: {listed}");
    assert_eq!(listed[0]["max_uses"], 1, "one use by default");
    let (status, _) = delete(&admin, &format!("/api/admin/invites/{}", invite["id"])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = register(&app, "dee", invite["code"].as_str()).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_invalid"), "revoked");
    let (status, body) = delete(&admin, &format!("/api/admin/invites/{}", invite["id"])).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "invite_not_found"), "revoked already");
    for path in ["/api/admin/invites/999999", "/api/admin/invites/abc", "/api/admin/invites/-1"] {
        let (status, body) = delete(&admin, path).await;
        assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "invite_not_found"), "{path}");
    }

    // Expired (the passing of a week, straight in the database).
    let invite = new_invite(&admin, json!({"expires_in_s": 60})).await;
    run_sql(&app.database_url, &format!("UPDATE invites SET expires_at = 1 WHERE id = {}", invite["id"])).await;
    let (status, body) = register(&app, "dee", invite["code"].as_str()).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "invite_invalid"), "expired");
    assert_eq!(app.http().api_login("dee", PASSWORD).await.unwrap().status(), StatusCode::UNAUTHORIZED, "nothing stored");
}

#[tokio::test]
async fn an_invite_link_opens_the_form_with_the_invite_and_signs_the_new_person_in() {
    let app = spawn_app().await;
    let admin = app.user("ann").await;
    set_registration(&admin, "invite_only").await;
    let invite = new_invite(&admin, json!({})).await;
    let code = invite["code"].as_str().unwrap();
    let page = app.http().inner().get(app.url(invite["url"].as_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("name=\"invite\" value=\"{code}\"")), "{page}");
    let plain = app.http().inner().get(app.url("/register")).send().await.unwrap().text().await.unwrap();
    assert!(!plain.contains("name=\"invite\""));

    let bob = app.http();
    let form = [("username", "bob"), ("email", "bob@example.test"), ("password", PASSWORD), ("invite", code)];
    let r = bob.inner().post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()[LOCATION], "/");
    let (status, me) = bob.get_json("/api/me").await.unwrap();
    assert_eq!((status, me["username"].as_str()), (StatusCode::OK, Some("bob")));
    let (_, rooms) = bob.get_json("/api/rooms").await.unwrap();
    assert!(rooms.as_array().unwrap().iter().any(|r| r["room_name"] == "General"), "{rooms}");

    // The same link again: used up; the form keeps the invite and says why.
    let form = [("username", "cyd"), ("email", "cyd@example.test"), ("password", PASSWORD), ("invite", code)];
    let r = app.http().inner().post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("invite link is not valid"), "{page}");
    assert!(page.contains(&format!("value=\"{code}\"")));
}

#[tokio::test]
async fn bad_invite_requests_are_refused_and_the_101st_live_invite_too() {
    let app = spawn_app().await;
    let admin = app.user("ann").await;
    let cases = [
        json!({"max_uses": 0}),
        json!({"max_uses": 1001}),
        json!({"max_uses": "5"}),
        json!({"max_uses": -1}),
        json!({"expires_in_s": 59}),
        json!({"expires_in_s": 2_592_001}),
        json!({"expires_in_s": true}),
        json!("invite"),
    ];
    for body in cases {
        let (status, answer) = post(&admin, "/api/admin/invites", body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::BAD_REQUEST, "invalid_payload"), "{body}");
    }
    assert_eq!(admin.get_json("/api/admin/invites").await.unwrap().1, json!([]), "nothing stored");
    new_invite(&admin, json!({"max_uses": 1000, "expires_in_s": 2_592_000})).await;
    for _ in 1..100 {
        new_invite(&admin, json!({})).await;
    }
    let (status, answer) = post(&admin, "/api/admin/invites", json!({})).await;
    assert_eq!((status, error_code(&answer)), (StatusCode::CONFLICT, "too_many_invites"));
    let (_, listed) = admin.get_json("/api/admin/invites").await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 100);
    // Revoking one makes room for one.
    delete(&admin, &format!("/api/admin/invites/{}", listed[0]["id"])).await;
    new_invite(&admin, json!({})).await;
}

#[tokio::test]
async fn an_admin_changes_roles_but_never_leaves_the_server_without_an_admin() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let (ann_id, bob_id) = (id_of(&ann).await, id_of(&bob).await);
    for body in [json!({"role": "member"}), json!({"deactivated": true}), json!({"role": "member", "deactivated": true})] {
        let (status, answer) = patch(&ann, &format!("/api/admin/users/{ann_id}"), body.clone()).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::CONFLICT, "last_admin"), "{body}");
    }
    let (status, user) = patch(&ann, &format!("/api/admin/users/{bob_id}"), json!({"role": "admin"})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!((user["username"].as_str(), user["role"].as_str(), user["deactivated"].as_bool()), (Some("bob"), Some("admin"), Some(false)));
    assert_eq!(bob.get_json("/api/admin/settings").await.unwrap().0, 200, "bob is an admin at once");
    // Now ann may step down; then bob is the last one.
    let (status, _) = patch(&ann, &format!("/api/admin/users/{ann_id}"), json!({"role": "member"})).await;
    assert_eq!(status, 200);
    assert_eq!(ann.get_json("/api/admin/settings").await.unwrap().0, StatusCode::FORBIDDEN);
    let (status, answer) = patch(&bob, &format!("/api/admin/users/{bob_id}"), json!({"role": "member"})).await;
    assert_eq!((status, error_code(&answer)), (StatusCode::CONFLICT, "last_admin"));

    let cases = [
        (format!("/api/admin/users/{ann_id}"), json!({"role": "moderator"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (format!("/api/admin/users/{ann_id}"), json!({"role": 1}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (format!("/api/admin/users/{ann_id}"), json!({"deactivated": "yes"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        ("/api/admin/users/999999".to_owned(), json!({"role": "admin"}), StatusCode::NOT_FOUND, "user_not_found"),
        ("/api/admin/users/ann".to_owned(), json!({"role": "admin"}), StatusCode::NOT_FOUND, "user_not_found"),
        ("/api/admin/users/0".to_owned(), json!({"role": "admin"}), StatusCode::NOT_FOUND, "user_not_found"),
    ];
    for (path, body, want, code) in cases {
        let (status, answer) = patch(&bob, &path, body.clone()).await;
        assert_eq!((status, error_code(&answer)), (want, code), "{path} {body}");
    }
    let (_, me) = ann.get_json("/api/me").await.unwrap();
    assert_eq!(me["role"], "member", "nothing stored by the refusals");
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_everywhere_at_once_and_cannot_log_in() {
    let app = spawn_app().await;
    let (admin, mut admin_socket) = app.connected("ann").await;
    let (bob, mut bob_socket) = app.connected("bob").await;
    let bob_id = id_of(&bob).await;
    let (status, user) = patch(&admin, &format!("/api/admin/users/{bob_id}"), json!({"deactivated": true})).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["deactivated"], true);
    assert_eq!(user["is_online"], false);
    bob_socket.disconnected(WAIT).await.expect("bob's open socket is closed at once");
    assert_eq!(bob.get_json("/api/me").await.unwrap().0, StatusCode::UNAUTHORIZED);
    let updated = admin_socket.wait_for("user_updated", |u| u["id"] == bob_id, WAIT).await.unwrap();
    assert_eq!(updated["deactivated"], true);

    let r = app.http().api_login("bob", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "account_deactivated");
    let r = app.http().api_login("bob", "not the password").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "only the right password learns of the deactivation");

    // Left out of the directory, but admins may ask for them.
    let (_, people) = admin.get_json("/api/users").await.unwrap();
    assert!(!people.as_array().unwrap().iter().any(|u| u["username"] == "bob"), "{people}");
    let (_, people) = admin.get_json("/api/users?include_deactivated=true").await.unwrap();
    assert!(people.as_array().unwrap().iter().any(|u| u["username"] == "bob" && u["deactivated"] == true), "{people}");

    // Reactivated: bob logs in again.
    let (status, _) = patch(&admin, &format!("/api/admin/users/{bob_id}"), json!({"deactivated": false})).await;
    assert_eq!(status, 200);
    assert_eq!(app.http().api_login("bob", PASSWORD).await.unwrap().status(), StatusCode::OK);
}

/// Runs `parley users set-role NAME ROLE` on the test's database.
fn set_role_cli(app: &TestApp, name: &str, role: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["users", "set-role", name, role])
        .env("DATABASE_URL", &app.database_url)
        .env("PARLEY_LOG", "warn")
        .output()
        .expect("parley runs")
}

#[tokio::test]
async fn the_command_line_sets_a_role_and_keeps_one_admin() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let out = set_role_cli(&app, "BOB", "admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bob is now admin"));
    assert_eq!(bob.get_json("/api/admin/settings").await.unwrap().0, 200, "the running server sees it at once");
    assert!(set_role_cli(&app, "ann", "member").status.success());
    assert_eq!(ann.get_json("/api/admin/settings").await.unwrap().0, StatusCode::FORBIDDEN);

    let out = set_role_cli(&app, "bob", "member");
    assert!(!out.status.success(), "the last admin stays");
    assert!(String::from_utf8_lossy(&out.stderr).contains("last admin"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!set_role_cli(&app, "nobody", "admin").status.success(), "an unknown name");
    assert!(!set_role_cli(&app, "ann", "moderator").status.success(), "an unknown role");
    assert_eq!(bob.get_json("/api/admin/settings").await.unwrap().0, 200);
}
