//! The authorization matrix of docs/protocol.md ("Who may do what"), through
//! the real routes and events: room type × who × action, each cell's answer
//! code. Every cell that could change something gets a room of its own.

use parley_client::{HttpClient, SioClient};
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
    // TODO(H3b, deactivated users): a `Deactivated` column once PATCH
    // /api/admin/users/<id> {deactivated} is merged: every cell is then
    // `not_authenticated` (their sessions are gone).
}

const ACTIONS: [&str; 8] = ["see", "read", "send", "join", "add_others", "remove_others", "leave", "manage"];

struct People {
    admin: (HttpClient, i64),
    owner: (HttpClient, i64),
    member: (HttpClient, i64),
    stranger: (HttpClient, i64),
    victim: (HttpClient, i64),
    newcomer: i64,
}

impl People {
    fn of(&self, who: Who) -> &(HttpClient, i64) {
        match who {
            Who::Owner => &self.owner,
            Who::Member => &self.member,
            Who::Stranger => &self.stranger,
            Who::Admin => &self.admin,
        }
    }
}

fn code_of_http(status: reqwest::StatusCode, body: &Value) -> String {
    if status.is_success() { "ok".into() } else { error_code(body).to_owned() }
}

fn code_of_ack(ack: &Value) -> String {
    if ack["ok"] == true { "ok".into() } else { error_code(ack).to_owned() }
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
        "send" => code_of_ack(&send(socket, room, "matrix").await),
        "join" => {
            let ack = plain.emit_with_ack("join_room", json!({"room_id": room, "room_name": ""}), WAIT).await.unwrap();
            code_of_ack(&ack)
        }
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
        newcomer: user("newcomer").await.1,
    };
    let mut sockets = Vec::new();
    for who in [Owner, Member, Stranger, Admin] {
        let http = &people.of(who).0;
        sockets.push((who, membership_socket(&app, http).await, app.socket(http).await));
    }
    let socket_of = |who: Who| sockets.iter().find(|(w, _, _)| *w == who).map(|(_, m, p)| (m, p)).unwrap();

    let ok = "ok";
    let nf = "room_not_found";
    let fb = "forbidden";
    let dr = "direct_room";
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
    ];
    let mut n = 0;
    let mut failures = Vec::new();
    for (room_type, who, expected) in table {
        for (action, want) in ACTIONS.iter().zip(expected) {
            // A fresh room per cell: owned by `owner`, with `member` and `victim` in it.
            n += 1;
            let room = match *room_type {
                "direct" => new_direct(&people.owner.0, &[people.member.1, people.victim.1]).await,
                "private" => new_room(&people.owner.0, &format!("m{n}"), "private", &[people.member.1, people.victim.1]).await,
                _ => {
                    let room = new_room(&people.owner.0, &format!("m{n}"), "public", &[]).await;
                    for (http, id) in [&people.member, &people.victim] {
                        let path = format!("/api/rooms/{}/members", room["id"]);
                        call(http, Method::POST, &path, Some(json!({"user_ids": [id]}))).await;
                    }
                    room
                }
            };
            let (socket, plain) = socket_of(*who);
            let got = attempt(&people, socket, plain, *who, room["id"].as_i64().unwrap(), action).await;
            if got != *want {
                failures.push(format!("{room_type} × {who:?} × {action}: got {got}, want {want}"));
            }
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
    assert_eq!(code_of_ack(&send(&s, id, "no").await), "room_archived");
    let ack = plain.emit_with_ack("join_room", json!({"room_id": id, "room_name": ""}), WAIT).await.unwrap();
    assert_eq!(code_of_ack(&ack), "room_archived");
    let (status, history) = other.get_json(&format!("/api/messages/{id}")).await.unwrap();
    assert_eq!((status.as_u16(), history[0]["message"].as_str()), (200, Some("kept")));
    plain.expect_none("new_message", |_| true, QUIET).await.unwrap();
}
