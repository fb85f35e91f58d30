//! The authorization matrix of docs/protocol.md ("Who may do what"), through
//! the real routes and events: room type × who × action, each cell's answer
//! code. Every cell that could change something gets a room of its own.

use parley_client::{HttpClient, SioClient, SioError};
use reqwest::Method;
use serde_json::{Value, json};

use crate::membership::{call, me, membership_socket, new_direct, new_room};
use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Member,
    Stranger,
    /// A server admin who is not a member of the room.
    Admin,
    /// A member of the room whose account the admin then deactivated: their
    /// sessions are gone and their sockets closed.
    Deactivated,
}

const ACTIONS: [&str; 8] = ["see", "read", "send", "join", "add_others", "remove_others", "leave", "manage"];

struct People {
    admin: (HttpClient, i64),
    owner: (HttpClient, i64),
    member: (HttpClient, i64),
    stranger: (HttpClient, i64),
    victim: (HttpClient, i64),
    gone: (HttpClient, i64),
    newcomer: i64,
}

impl People {
    fn of(&self, who: Who) -> &(HttpClient, i64) {
        match who {
            Who::Owner => &self.owner,
            Who::Member => &self.member,
            Who::Stranger => &self.stranger,
            Who::Admin => &self.admin,
            Who::Deactivated => &self.gone,
        }
    }
}

/// The code of an HTTP answer; `not_authenticated` only with its 401.
fn code_of_http(status: reqwest::StatusCode, body: &Value) -> String {
    match error_code(body) {
        _ if status.is_success() => "ok".into(),
        "not_authenticated" if status != reqwest::StatusCode::UNAUTHORIZED => format!("not_authenticated ({status})"),
        code => code.to_owned(),
    }
}

/// The code of an ack; `socket_closed` when the server had closed the socket.
fn code_of_ack(ack: Result<Value, SioError>) -> String {
    match ack {
        Ok(ack) if ack["ok"] == true => "ok".into(),
        Ok(ack) => error_code(&ack).to_owned(),
        Err(SioError::Closed) => "socket_closed".into(),
        Err(e) => format!("no ack: {e}"),
    }
}

/// Does `action` as `who` in `room`; the answer's code (`ok` on success).
async fn attempt(p: &People, socket: &SioClient, plain: &SioClient, who: Who, room: i64, action: &str) -> String {
    let (http, me) = p.of(who);
    match action {
        "see" => {
            let (s, b) = http.get_json(&format!("/api/rooms/{room}/members")).await.unwrap();
            code_of_http(s, &b)
        }
        "read" => {
            let (s, b) = http.get_json(&format!("/api/messages/{room}")).await.unwrap();
            code_of_http(s, &b)
        }
        "send" => {
            let ack = socket.emit_with_ack("send_message", json!({"room_id": room, "message": "matrix"}), WAIT).await;
            code_of_ack(ack)
        }
        "join" => code_of_ack(plain.emit_with_ack("join_room", json!({"room_id": room, "room_name": ""}), WAIT).await),
        "add_others" => {
            let body = json!({"user_ids": [p.newcomer]});
            let (s, b) = call(http, Method::POST, &format!("/api/rooms/{room}/members"), Some(body)).await;
            code_of_http(s, &b)
        }
        "remove_others" => {
            let (s, b) = call(http, Method::DELETE, &format!("/api/rooms/{room}/members/{}", p.victim.1), None).await;
            code_of_http(s, &b)
        }
        "leave" => {
            let (s, b) = call(http, Method::DELETE, &format!("/api/rooms/{room}/members/{me}"), None).await;
            code_of_http(s, &b)
        }
        "manage" => {
            let (s, b) = call(http, Method::PATCH, &format!("/api/rooms/{room}"), Some(json!({"topic": "set"}))).await;
            code_of_http(s, &b)
        }
        other => panic!("no action {other}"),
    }
}

#[tokio::test]
async fn who_may_do_what_in_public_private_and_direct_rooms() {
    use Who::*;
    let app = spawn_app().await;
    let user = async |name: &str| {
        let http = app.user(name).await;
        let id = me(&http).await;
        (http, id)
    };
    // The first account is the server's admin.
    let admin = user("root").await;
    let people = People {
        admin,
        owner: user("owner").await,
        member: user("member").await,
        stranger: user("stranger").await,
        victim: user("victim").await,
        gone: user("gone").await,
        newcomer: user("newcomer").await.1,
    };
    let mut sockets = Vec::new();
    for who in [Owner, Member, Stranger, Admin, Deactivated] {
        let http = &people.of(who).0;
        sockets.push((who, membership_socket(&app, http).await, app.socket(http).await));
    }

    let ok = "ok";
    let nf = "room_not_found";
    let fb = "forbidden";
    let dr = "direct_room";
    let na = "not_authenticated";
    let closed = "socket_closed";
    let table: &[(&str, Who, [&str; 8])] = &[
        //               see  read send           join add  remove leave           manage
        ("public", Owner, [ok, ok, ok, ok, fb, ok, ok, ok]),
        ("public", Member, [ok, ok, ok, ok, fb, fb, ok, fb]),
        ("public", Stranger, [ok, ok, "not_in_room", ok, fb, fb, "not_a_member", fb]),
        ("public", Admin, [ok, ok, "not_in_room", ok, fb, ok, "not_a_member", ok]),
        ("private", Owner, [ok; 8]),
        ("private", Member, [ok, ok, ok, ok, fb, fb, ok, fb]),
        ("private", Stranger, [nf; 8]),
        ("private", Admin, [nf; 8]),
        // A direct room has no owner: its maker is a member like the others.
        ("direct", Owner, [ok, ok, ok, ok, dr, dr, dr, dr]),
        ("direct", Member, [ok, ok, ok, ok, dr, dr, dr, dr]),
        ("direct", Stranger, [nf; 8]),
        ("direct", Admin, [nf; 8]),
        // Over HTTP a 401; the socket actions find their sockets closed.
        ("public", Deactivated, [na, na, closed, closed, na, na, na, na]),
        ("private", Deactivated, [na, na, closed, closed, na, na, na, na]),
        ("direct", Deactivated, [na, na, closed, closed, na, na, na, na]),
    ];
    // A fresh room per cell, made before `gone` is deactivated: owned by
    // `owner`, with `member` and `victim` in it (and `gone`, in their own rows).
    let mut cells = Vec::new();
    for (room_type, who, expected) in table {
        let mut members = vec![people.member.1, people.victim.1];
        if *who == Deactivated {
            members.push(people.gone.1);
        }
        for (action, want) in ACTIONS.iter().zip(expected) {
            let n = cells.len();
            let room = match *room_type {
                "direct" => new_direct(&people.owner.0, &members).await,
                "private" => new_room(&people.owner.0, &format!("m{n}"), "private", &members).await,
                _ => {
                    let room = new_room(&people.owner.0, &format!("m{n}"), "public", &[]).await;
                    for id in &members {
                        let (http, _) = [&people.member, &people.victim, &people.gone].into_iter().find(|p| p.1 == *id).unwrap();
                        let path = format!("/api/rooms/{}/members", room["id"]);
                        let (status, body) = call(http, Method::POST, &path, Some(json!({"user_ids": [id]}))).await;
                        assert!(status.is_success(), "joining {path}: {status} {body}");
                    }
                    room
                }
            };
            cells.push((*room_type, *who, *action, *want, room["id"].as_i64().unwrap()));
        }
    }

    let path = format!("/api/admin/users/{}", people.gone.1);
    let (status, body) = call(&people.admin.0, Method::PATCH, &path, Some(json!({"deactivated": true}))).await;
    assert_eq!(status, 200, "{body}");
    let (_, gone_socket, gone_plain) = sockets.iter_mut().find(|(w, _, _)| *w == Deactivated).unwrap();
    gone_socket.disconnected(WAIT).await.expect("the deactivated user's membership socket is closed");
    gone_plain.disconnected(WAIT).await.expect("the deactivated user's socket is closed");

    let socket_of = |who: Who| sockets.iter().find(|(w, _, _)| *w == who).map(|(_, m, p)| (m, p)).unwrap();
    let mut failures = Vec::new();
    for (room_type, who, action, want, room) in cells {
        let (socket, plain) = socket_of(who);
        let got = attempt(&people, socket, plain, who, room, action).await;
        if got != want {
            failures.push(format!("{room_type} × {who:?} × {action}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{} cells differ:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn an_archived_room_is_read_but_not_sent_to_or_joined() {
    let app = spawn_app().await;
    let _admin = app.user("root").await;
    let owner = app.user("owner").await;
    let (other, mut plain) = app.connected("other").await;
    let room = new_room(&owner, "old", "public", &[]).await;
    let id = room["id"].as_i64().unwrap();
    let s = membership_socket(&app, &owner).await;
    send(&s, id, "kept").await;
    call(&owner, Method::PATCH, &format!("/api/rooms/{id}"), Some(json!({"archived": true}))).await;
    assert_eq!(code_of_ack(Ok(send(&s, id, "no").await)), "room_archived");
    let ack = plain.emit_with_ack("join_room", json!({"room_id": id, "room_name": ""}), WAIT).await;
    assert_eq!(code_of_ack(ack), "room_archived");
    let (status, history) = other.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!((status.as_u16(), history[0]["message"].as_str()), (200, Some("kept")));
    plain.expect_none("new_message", |_| true, QUIET).await.unwrap();
}
