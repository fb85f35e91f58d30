//! Lasting membership, private and direct rooms, room management (docs/protocol.md
//! Part C, "Part C as Parley decides it"): every route and event, with bad input.

use parley_client::{HttpClient, SioClient};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// A request with an optional JSON body; the status and the body as JSON.
pub async fn call(http: &HttpClient, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = http.inner().request(method, http.url(path));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, body)
}

pub async fn me(http: &HttpClient) -> i64 {
    http.get_json("/api/me").await.unwrap().1["id"].as_i64().unwrap()
}

/// `POST /api/rooms`, checked to succeed; the room.
pub async fn new_room(http: &HttpClient, name: &str, room_type: &str, members: &[i64]) -> Value {
    let body = json!({"room_name": name, "room_type": room_type, "member_ids": members});
    let (status, room) = call(http, Method::POST, "/api/rooms", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room
}

/// `POST /api/direct`, checked to succeed; the room.
pub async fn new_direct(http: &HttpClient, others: &[i64]) -> Value {
    let (status, room) = call(http, Method::POST, "/api/direct", Some(json!({"user_ids": others}))).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status} {room}");
    room
}

/// A socket with the `membership` capability.
pub async fn membership_socket(app: &TestApp, http: &HttpClient) -> SioClient {
    let mut opts = http.sio_options();
    opts.auth = Some(json!({"capabilities": ["membership"]}));
    let mut s = app.connect_raw(opts).await.expect("socket connects");
    s.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
    s
}

/// The first account of a fresh install is its admin: tests about roles
/// register one first, so that the people they name are plain members.
pub async fn with_admin(app: &TestApp) -> HttpClient {
    app.user("root").await
}

fn listed(rooms: &Value, id: &Value) -> Option<Value> {
    rooms.as_array().unwrap().iter().find(|r| r["id"] == *id).cloned()
}

#[tokio::test]
async fn a_private_room_is_listed_to_its_members_only_and_is_not_found_for_others() {
    let app = spawn_app().await;
    with_admin(&app).await;
    let (ann, bob, cy) = (app.user("ann").await, app.user("bob").await, app.user("cyd").await);
    let room = new_room(&ann, "secret", "private", &[me(&bob).await]).await;
    assert_eq!(room["room_type"], "private");
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["is_member"], true);
    assert_eq!(room["topic"], "");
    assert_eq!(room["archived"], false);
    assert!(room["last_message_id"].is_null());
    let id = &room["id"];
    assert_eq!(listed(&bob.get_json("/api/rooms").await.unwrap().1, id).unwrap()["my_role"], "member");
    assert!(listed(&cy.get_json("/api/rooms").await.unwrap().1, id).is_none());
    for path in [format!("/api/messages/{id}"), format!("/api/online-users/{id}"), format!("/api/rooms/{id}/members")] {
        let (status, body) = cy.get_json(&path).await.unwrap();
        assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "room_not_found"), "{path}");
    }
}

#[tokio::test]
async fn the_room_list_gives_public_rooms_with_is_member_and_the_room_object_fields() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    let names: Vec<_> = rooms.as_array().unwrap().iter().map(|r| r["room_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["General", "Random", "Technology"], "by name");
    for r in rooms.as_array().unwrap() {
        for field in ["id", "room_name", "room_type", "created_by", "created_at", "topic", "is_member", "archived", "last_message_id", "my_role"] {
            assert!(r.get(field).is_some(), "{field} in {r}");
        }
        assert!(r.get("members").is_none(), "only direct rooms list members");
    }
}

#[tokio::test]
async fn joining_a_public_room_makes_a_lasting_member_announced_once() {
    let app = spawn_app().await;
    let (ann, ann_s) = app.connected("ann").await;
    let (_, mut obs) = app.connected("obs").await;
    let tech = room_id(&ann, "Technology").await;
    join(&obs, tech).await;
    join(&ann_s, tech).await;
    let joined = obs.wait_for("user_joined", |d| d["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(joined["new_member"], true);
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    assert_eq!(listed(&rooms, &json!(tech)).unwrap()["is_member"], true);
    // A second socket (a reload) subscribes without a new membership.
    ann_s.close().await;
    let again = app.socket(&ann).await;
    join(&again, tech).await;
    let rejoined = obs.wait_for("user_joined", |d| d["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(rejoined["new_member"], false);
}

#[tokio::test]
async fn a_membership_socket_hears_its_rooms_without_join_room_and_a_plain_one_does_not() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let room = new_room(&ann, "team", "private", &[me(&bob).await]).await;
    let id = room["id"].as_i64().unwrap();
    let mut follows = membership_socket(&app, &bob).await;
    let mut plain = app.socket(&bob).await;
    let ann_s = membership_socket(&app, &ann).await;
    let ack = send(&ann_s, id, "hello team").await;
    assert_eq!(ack["ok"], true, "{ack}");
    follows.wait_for("new_message", |m| m["message"] == "hello team", WAIT).await.unwrap();
    plain.expect_none("new_message", |_| true, QUIET).await.unwrap();
    follows.expect_none("user_joined", |_| true, QUIET).await.unwrap();
    // A plain socket still sends only to a room it joined.
    let ack = send(&plain, id, "from plain").await;
    assert_eq!(error_code(&ack), "not_in_room");
}

#[tokio::test]
async fn a_membership_socket_starts_hearing_a_room_the_moment_its_user_is_added() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let mut bob_s = membership_socket(&app, &bob).await;
    let room = new_room(&ann, "later", "private", &[]).await;
    let id = room["id"].as_i64().unwrap();
    let bob_id = me(&bob).await;
    let (status, _) = call(&ann, Method::POST, &format!("/api/rooms/{id}/members"), Some(json!({"user_ids": [bob_id]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let added = bob_s.wait_for("room_added", |r| r["id"] == id, WAIT).await.unwrap();
    assert_eq!(added["my_role"], "member");
    let member = bob_s.wait_for("member_added", |m| m["room_id"] == id, WAIT).await.unwrap();
    assert_eq!(member["user"]["id"], bob_id);
    assert_eq!(member["user"]["role"], "member");
    let ann_s = membership_socket(&app, &ann).await;
    send(&ann_s, id, "welcome").await;
    bob_s.wait_for("new_message", |m| m["message"] == "welcome", WAIT).await.unwrap();
}

#[tokio::test]
async fn a_removed_member_stops_hearing_the_room_on_every_socket_and_is_refused() {
    let app = spawn_app().await;
    with_admin(&app).await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let bob_id = me(&bob).await;
    let id = new_room(&ann, "crew", "private", &[bob_id]).await["id"].as_i64().unwrap();
    let mut follows = membership_socket(&app, &bob).await;
    let mut plain = app.socket(&bob).await;
    join(&plain, id).await;
    let mut ann_s = membership_socket(&app, &ann).await;
    let (status, _) = call(&ann, Method::DELETE, &format!("/api/rooms/{id}/members/{bob_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    follows.wait_for("room_removed", |r| r["room_id"] == id, WAIT).await.unwrap();
    ann_s.wait_for("member_removed", |r| r["room_id"] == id && r["user_id"] == bob_id, WAIT).await.unwrap();
    for socket in [&follows, &plain] {
        let ack = send(socket, id, "still here?").await;
        assert_eq!(error_code(&ack), "room_not_found");
    }
    send(&ann_s, id, "after").await;
    follows.expect_none("new_message", |_| true, QUIET).await.unwrap();
    plain.expect_none("new_message", |m| m["message"] == "after", QUIET).await.unwrap();
    let (status, _) = bob.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn leaving_by_a_membership_socket_ends_the_membership_and_lasts() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = (app.user("ann").await, None::<SioClient>);
    let tech = room_id(&ann, "Technology").await;
    let s = membership_socket(&app, &ann).await;
    join(&s, tech).await;
    let (_, mut obs) = app.connected("obs").await;
    join(&obs, tech).await;
    let ack = s.emit_with_ack("leave_room", json!({"room_id": tech}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    let left = obs.wait_for("user_left_room", |d| d["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(left["new_member"], true);
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    assert_eq!(listed(&rooms, &json!(tech)).unwrap()["is_member"], false);
    ann_s.replace(membership_socket(&app, &ann).await);
    send(&obs, tech, "anyone?").await;
    ann_s.as_mut().unwrap().expect_none("new_message", |_| true, QUIET).await.unwrap();
}

#[tokio::test]
async fn a_plain_sockets_leave_room_keeps_the_membership() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let tech = room_id(&ann, "Technology").await;
    join(&s, tech).await;
    let (_, mut obs) = app.connected("obs").await;
    join(&obs, tech).await;
    let ack = s.emit_with_ack("leave_room", json!({"room_id": tech}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true);
    let left = obs.wait_for("user_left_room", |d| d["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(left["new_member"], false);
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    assert_eq!(listed(&rooms, &json!(tech)).unwrap()["is_member"], true);
}

#[tokio::test]
async fn a_public_room_is_announced_by_room_created_and_a_private_one_only_to_its_members() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let (_, mut cy_s) = app.connected("cyd").await;
    let mut bob_s = membership_socket(&app, &bob).await;
    let private = new_room(&ann, "hush", "private", &[me(&bob).await]).await;
    bob_s.wait_for("room_added", |r| r["id"] == private["id"], WAIT).await.unwrap();
    let public = new_room(&ann, "open", "public", &[]).await;
    cy_s.wait_for("room_created", |r| r["room_id"] == public["id"], WAIT).await.unwrap();
    cy_s.expect_none("room_created", |r| r["room_id"] == private["id"], QUIET).await.unwrap();
    cy_s.expect_none("room_added", |_| true, QUIET).await.unwrap();
}

#[tokio::test]
async fn creating_a_room_with_bad_input_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let bob = me(&app.user("bob").await).await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({"room_type": "public"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"room_name": "x", "room_type": "secret"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"room_name": "x", "room_type": "direct"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"room_name": 5, "room_type": "public"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"room_name": "x", "room_type": "private", "member_ids": "all"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({"room_name": "", "room_type": "public"}), StatusCode::BAD_REQUEST, "room_name_empty"),
        (json!({"room_name": "general", "room_type": "private"}), StatusCode::CONFLICT, "room_name_taken"),
        (json!({"room_name": "x", "room_type": "public", "topic": "a\nb"}), StatusCode::BAD_REQUEST, "invalid_topic"),
        (json!({"room_name": "x", "room_type": "public", "topic": "t".repeat(251)}), StatusCode::BAD_REQUEST, "invalid_topic"),
        (json!({"room_name": "x", "room_type": "private", "member_ids": [999_999]}), StatusCode::NOT_FOUND, "user_not_found"),
        (json!({"room_name": "x", "room_type": "private", "member_ids": [0]}), StatusCode::NOT_FOUND, "user_not_found"),
        (json!({"room_name": "x", "room_type": "public", "member_ids": [bob]}), StatusCode::FORBIDDEN, "forbidden"),
        (json!({"room_name": "x", "room_type": "private", "member_ids": (1..=101).collect::<Vec<_>>()}), StatusCode::BAD_REQUEST, "invalid_members"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = call(&ann, Method::POST, "/api/rooms", Some(body.clone())).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
    }
    let (_, rooms) = ann.get_json("/api/rooms").await.unwrap();
    assert_eq!(rooms.as_array().unwrap().len(), 3, "nothing stored: {rooms}");
}

#[tokio::test]
async fn an_owner_renames_sets_a_topic_and_archives_and_members_hear_it() {
    let app = spawn_app().await;
    with_admin(&app).await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let id = new_room(&ann, "plans", "private", &[me(&bob).await]).await["id"].as_i64().unwrap();
    let mut bob_s = membership_socket(&app, &bob).await;
    let path = format!("/api/rooms/{id}");
    let (status, room) = call(&ann, Method::PATCH, &path, Some(json!({"room_name": "roadmap", "topic": " Q3 "}))).await;
    assert_eq!(status, StatusCode::OK, "{room}");
    assert_eq!((room["room_name"].as_str(), room["topic"].as_str()), (Some("roadmap"), Some("Q3")));
    let seen = bob_s.wait_for("room_updated", |r| r["id"] == id, WAIT).await.unwrap();
    assert_eq!(seen["room_name"], "roadmap");
    // A member who is not an owner may not.
    let (status, body) = call(&bob, Method::PATCH, &path, Some(json!({"topic": "mine"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    // Renaming to a taken name.
    let (status, body) = call(&ann, Method::PATCH, &path, Some(json!({"room_name": "General"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "room_name_taken"));
    // Archived: out of the list, still readable, nobody sends.
    let ann_s = membership_socket(&app, &ann).await;
    send(&ann_s, id, "before").await;
    let (status, _) = call(&ann, Method::PATCH, &path, Some(json!({"archived": true}))).await;
    assert_eq!(status, StatusCode::OK);
    bob_s.wait_for("room_removed", |r| r["room_id"] == id, WAIT).await.unwrap();
    assert!(listed(&bob.get_json("/api/rooms").await.unwrap().1, &json!(id)).is_none());
    assert!(listed(&bob.get_json("/api/rooms?archived=true").await.unwrap().1, &json!(id)).is_some());
    let (status, history) = bob.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history[0]["message"], "before");
    assert_eq!(error_code(&send(&ann_s, id, "after").await), "room_archived");
    let (status, room) = call(&ann, Method::PATCH, &path, Some(json!({"archived": false}))).await;
    assert_eq!((status, &room["archived"]), (StatusCode::OK, &json!(false)));
    assert!(listed(&bob.get_json("/api/rooms").await.unwrap().1, &json!(id)).is_some());
}

#[tokio::test]
async fn a_room_one_may_not_see_is_not_found_before_the_body_is_read() {
    let app = spawn_app().await;
    let (ann, cy) = (app.user("ann").await, app.user("cyd").await);
    let id = new_room(&ann, "closed", "private", &[]).await["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::PATCH, format!("/api/rooms/{id}")),
        (Method::POST, format!("/api/rooms/{id}/members")),
        (Method::PATCH, "/api/rooms/999999".to_owned()),
        (Method::POST, "/api/rooms/abc/members".to_owned()),
    ] {
        let (status, body) = call(&cy, method.clone(), &path, Some(json!({"room_name": 7, "user_ids": "no"}))).await;
        assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "room_not_found"), "{method} {path}");
    }
    let (status, body) = call(&cy, Method::DELETE, &format!("/api/rooms/{id}/members/1"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "room_not_found"));
}

#[tokio::test]
async fn members_lists_every_member_with_role_and_online_state() {
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let bob_id = me(&bob).await;
    let id = new_room(&ann, "duo", "private", &[bob_id]).await["id"].as_i64().unwrap();
    let _online = membership_socket(&app, &bob).await;
    let (status, members) = ann.get_json(&format!("/api/rooms/{id}/members")).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!((members[0]["username"].as_str(), members[0]["role"].as_str()), (Some("ann"), Some("owner")));
    let bob_entry = &members[1];
    assert_eq!((bob_entry["role"].as_str(), bob_entry["is_online"].as_bool()), (Some("member"), Some(true)));
    assert_eq!(members[0]["is_online"], false);
    assert!(bob_entry.get("last_seen").is_some() && bob_entry["avatar_url"].is_null());
    let (_, online) = ann.get_json(&format!("/api/online-users/{id}")).await.unwrap();
    let names: Vec<_> = online.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob"], "the members with a socket connected");
}

#[tokio::test]
async fn adding_and_removing_members_follows_the_rules() {
    let app = spawn_app().await;
    with_admin(&app).await;
    let (ann, bob, cy) = (app.user("ann").await, app.user("bob").await, app.user("cyd").await);
    let (bob_id, cy_id) = (me(&bob).await, me(&cy).await);
    let id = new_room(&ann, "club", "private", &[bob_id]).await["id"].as_i64().unwrap();
    let members = format!("/api/rooms/{id}/members");
    let cases: Vec<(&HttpClient, Value, StatusCode, &str)> = vec![
        (&bob, json!({"user_ids": [cy_id]}), StatusCode::FORBIDDEN, "forbidden"),
        (&ann, json!({"user_ids": [999_999]}), StatusCode::NOT_FOUND, "user_not_found"),
        (&ann, json!({"user_ids": "x"}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (&ann, json!({}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (&ann, json!({"user_ids": []}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (&ann, json!({"user_ids": (1..=101).collect::<Vec<_>>()}), StatusCode::BAD_REQUEST, "invalid_members"),
    ];
    for (who, body, status, code) in cases {
        let (got, answer) = call(who, Method::POST, &members, Some(body.clone())).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
    }
    let (status, _) = call(&ann, Method::POST, &members, Some(json!({"user_ids": [cy_id, cy_id]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Removing: not an owner, not a member, then the owner does it.
    let (status, body) = call(&bob, Method::DELETE, &format!("{members}/{cy_id}"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, body) = call(&ann, Method::DELETE, &format!("{members}/999999"), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_a_member"));
    let (status, _) = call(&ann, Method::DELETE, &format!("{members}/{cy_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = cy.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Public: only oneself, by joining.
    let general = room_id(&ann, "General").await;
    let public = format!("/api/rooms/{general}/members");
    let (status, body) = call(&ann, Method::POST, &public, Some(json!({"user_ids": [bob_id]}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _) = call(&cy, Method::POST, &public, Some(json!({"user_ids": [cy_id]}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, rooms) = cy.get_json("/api/rooms").await.unwrap();
    assert_eq!(listed(&rooms, &json!(general)).unwrap()["is_member"], true);
}

#[tokio::test]
async fn when_the_last_owner_leaves_the_earliest_member_owns_the_room_and_an_empty_room_is_archived() {
    let app = spawn_app().await;
    with_admin(&app).await;
    let (ann, bob, cy) = (app.user("ann").await, app.user("bob").await, app.user("cyd").await);
    let (ann_id, bob_id, cy_id) = (me(&ann).await, me(&bob).await, me(&cy).await);
    let id = new_room(&ann, "relay", "private", &[bob_id]).await["id"].as_i64().unwrap();
    let members = format!("/api/rooms/{id}/members");
    call(&ann, Method::POST, &members, Some(json!({"user_ids": [cy_id]}))).await;
    let (status, _) = call(&ann, Method::DELETE, &format!("{members}/{ann_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = bob.get_json(&members).await.unwrap();
    let bob_role = list.as_array().unwrap().iter().find(|m| m["id"] == bob_id).unwrap()["role"].clone();
    assert_eq!(bob_role, "owner", "{list}");
    call(&bob, Method::DELETE, &format!("{members}/{bob_id}"), None).await;
    call(&cy, Method::DELETE, &format!("{members}/{cy_id}"), None).await;
    // Nobody is left: archived (and seen by nobody, so not found).
    let (status, _) = ann.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_direct_room_is_one_per_set_of_people() {
    let app = spawn_app().await;
    let (ann, bob, cy) = (app.user("ann").await, app.user("bob").await, app.user("cyd").await);
    let (ann_id, bob_id, cy_id) = (me(&ann).await, me(&bob).await, me(&cy).await);
    let mut bob_s = membership_socket(&app, &bob).await;
    let (status, dm) = call(&ann, Method::POST, "/api/direct", Some(json!({"user_ids": [bob_id]}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(dm["room_type"], "direct");
    assert_eq!(dm["room_name"], "ann, bob");
    let ids: Vec<_> = dm["members"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [ann_id, bob_id]);
    bob_s.wait_for("room_added", |r| r["id"] == dm["id"], WAIT).await.unwrap();
    let (status, again) = call(&bob, Method::POST, "/api/direct", Some(json!({"user_ids": [ann_id]}))).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &dm["id"]), "the same people, the same room");
    let group = new_direct(&ann, &[cy_id, bob_id]).await;
    assert_ne!(group["id"], dm["id"]);
    assert!(listed(&cy.get_json("/api/rooms").await.unwrap().1, &dm["id"]).is_none(), "not cy's");
    let id = dm["id"].as_i64().unwrap();
    send(&bob_s, id, "hi ann").await;
    for (path, method, body) in [
        (format!("/api/rooms/{id}"), Method::PATCH, Some(json!({"topic": "x"}))),
        (format!("/api/rooms/{id}/members"), Method::POST, Some(json!({"user_ids": [cy_id]}))),
        (format!("/api/rooms/{id}/members/{bob_id}"), Method::DELETE, None),
    ] {
        let (status, answer) = call(&ann, method, &path, body).await;
        assert_eq!((status, error_code(&answer)), (StatusCode::BAD_REQUEST, "direct_room"), "{path}");
    }
}

#[tokio::test]
async fn a_direct_room_needs_two_to_nine_people_and_not_oneself_among_the_others() {
    let app = spawn_app().await;
    let ann = app.user("ann").await;
    let ann_id = me(&ann).await;
    let mut others = Vec::new();
    for i in 0..9 {
        others.push(me(&app.user(&format!("user{i}")).await).await);
    }
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({"user_ids": []}), StatusCode::BAD_REQUEST, "invalid_members"),
        (json!({"user_ids": [ann_id]}), StatusCode::BAD_REQUEST, "invalid_members"),
        (json!({"user_ids": [ann_id, others[0]]}), StatusCode::BAD_REQUEST, "invalid_members"),
        (json!({"user_ids": others.clone()}), StatusCode::BAD_REQUEST, "invalid_members"),
        (json!({"user_ids": [999_999]}), StatusCode::NOT_FOUND, "user_not_found"),
        (json!({"user_ids": ["x"]}), StatusCode::BAD_REQUEST, "invalid_payload"),
        (json!({}), StatusCode::BAD_REQUEST, "invalid_payload"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = call(&ann, Method::POST, "/api/direct", Some(body.clone())).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
    }
    let nine = new_direct(&ann, &others[..8]).await;
    assert_eq!(nine["members"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn sending_to_or_joining_a_room_that_does_not_exist_is_room_not_found() {
    let app = spawn_app().await;
    let (_ann, s) = app.connected("ann").await;
    for event in ["send_message", "join_room"] {
        let ack = s.emit_with_ack(event, json!({"room_id": 999_999, "message": "x", "room_name": ""}), WAIT).await.unwrap();
        assert_eq!(error_code(&ack), "room_not_found", "{event}");
    }
}
