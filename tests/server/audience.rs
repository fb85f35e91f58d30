//! `Audience::User`: an event addressed to a user reaches every socket of
//! that user (every tab and device, on every instance), whatever rooms it
//! joined, and no socket of anyone else.

use parley::chat::{Audience, Event};
use parley::domain::{Room, RoomId, RoomName, RoomType, Timestamp, UserId};
use parley_client::SioClient;

use crate::support::{QUIET, WAIT, spawn_app, spawn_beside};

/// An event a client recognises (`room_created {room_id, room_name}`).
fn marker(id: i64) -> Event {
    Event::RoomCreated(Room {
        id: RoomId(id),
        name: RoomName::from_trusted(format!("marker-{id}")),
        room_type: RoomType::Public,
        created_by: None,
        created_at: Timestamp::from_millis(0),
        topic: String::new(),
        archived: false,
    })
}

/// The id of the user logged in on `http`.
async fn user_id(http: &parley_client::HttpClient) -> UserId {
    let (status, me) = http.get_json("/api/me").await.expect("me");
    assert_eq!(status, 200, "{me}");
    UserId(me["id"].as_i64().expect("id"))
}

async fn hears(s: &mut SioClient, id: i64) -> bool {
    s.wait_for("room_created", |v| v["room_id"] == id, WAIT).await.is_ok()
}

async fn stays_quiet(s: &mut SioClient, id: i64) -> bool {
    s.wait_for("room_created", |v| v["room_id"] == id, QUIET).await.is_err()
}

#[tokio::test]
async fn an_event_for_a_user_reaches_each_of_their_sockets_and_no_one_else() {
    let app = spawn_app().await;
    let (ann_http, mut ann_tab) = app.connected("ann").await;
    let mut ann_phone = app.socket(&ann_http).await;
    let (_, mut bob) = app.connected("bob").await;
    let ann = user_id(&ann_http).await;

    app.chat.publish(Audience::User(ann), marker(101));

    assert!(hears(&mut ann_tab, 101).await, "ann's first socket");
    assert!(hears(&mut ann_phone, 101).await, "ann's second socket");
    assert!(stays_quiet(&mut bob, 101).await, "bob's socket must not hear ann's event");
}

#[tokio::test]
async fn an_event_for_a_user_reaches_their_sockets_on_every_instance() {
    let a = spawn_app().await;
    let Some(b) = spawn_beside(&a).await else {
        eprintln!("skipped: set PARLEY_TEST_REDIS_URL and PARLEY_TEST_DATABASE for two instances");
        return;
    };
    let (ann_http, mut ann_on_a) = a.connected("ann").await;
    // The same login on the other instance (they share the sessions table).
    let mut ann_on_b = b.socket(&ann_http).await;
    let (_, mut bob_on_b) = b.connected("bob").await;
    let ann = user_id(&ann_http).await;

    a.chat.publish(Audience::User(ann), marker(202));

    assert!(hears(&mut ann_on_a, 202).await, "ann's socket on the instance that published");
    assert!(hears(&mut ann_on_b, 202).await, "ann's socket on the other instance");
    assert!(stays_quiet(&mut bob_on_b, 202).await, "bob's socket must not hear ann's event");
}
