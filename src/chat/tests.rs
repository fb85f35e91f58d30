//! Use-case tests on a real SQLite store (a fresh file each), with the outbound port
//! recorded and time paused where timing matters.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache::{RECENT_RECHECK_SECS, SESSION_RECHECK_SECS};
use super::{Audience, AuthSession, Chat, ChatConfig, ClusterMsg, Event, Notifier, Registration, SessionToken};
use crate::domain::{ChatError, Clock, ConnId, MessageBody, MessageType, NewMessage, Page, RoomId, SystemClock, Timestamp, UserSummary};
use crate::store::ports::*;
use crate::store::sqlite::SqliteStore;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(Audience, Event)>>,
}

impl Notifier for Recorder {
    fn publish(&self, audience: Audience, event: Event) {
        self.events.lock().unwrap().push((audience, event));
    }
    fn subscribe(&self, _: &ConnId, _: RoomId) {}
    fn unsubscribe(&self, _: &ConnId, _: RoomId) {}
    fn disconnect(&self, _: &ConnId) {}
}

impl Recorder {
    fn typing(&self) -> Vec<bool> {
        let events = self.events.lock().unwrap();
        events.iter().filter_map(|(_, e)| if let Event::Typing { is_typing, .. } = e { Some(*is_typing) } else { None }).collect()
    }
}

/// A fresh SQLite database in a directory of its own, removed when the
/// returned guard drops.
async fn fresh_store() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("chat.db").display());
    (Arc::new(SqliteStore::open(&url).await.unwrap()), dir)
}

async fn chat_with(config: ChatConfig) -> (Chat, Arc<Recorder>, tempfile::TempDir) {
    let (store, dir) = fresh_store().await;
    let recorder = Arc::new(Recorder::default());
    (Chat::new(store, recorder.clone(), None, Arc::new(SystemClock), config), recorder, dir)
}

async fn connected(chat: &Chat, name: &str, conn: &str) -> ConnId {
    let user = chat
        .register(
            Registration { username: name, email: &format!("{name}@example.com"), display_name: None, password: "correct horse battery", invite: None },
            std::net::IpAddr::from([127, 0, 0, 1]),
        )
        .await
        .unwrap();
    let conn = ConnId(conn.into());
    chat.connect(conn.clone(), AuthSession { user, token_hash: vec![1] }).await.unwrap();
    conn
}

// Time is paused after the setup: the store's own I/O runs on real time.
#[tokio::test]
async fn a_typing_flag_expires_after_the_ttl_and_not_before() {
    let (chat, rec, _db) = chat_with(ChatConfig { typing_ttl: Duration::from_secs(5), ..ChatConfig::default() }).await;
    let ann = connected(&chat, "ann", "c1").await;
    chat.join_room(&ann, RoomId(1)).await.unwrap();
    tokio::time::pause();
    chat.typing(&ann, RoomId(1), true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(rec.typing(), [true]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.typing(), [true, false]);
}

#[tokio::test]
async fn only_the_newest_typing_flag_expires() {
    let (chat, rec, _db) = chat_with(ChatConfig { typing_ttl: Duration::from_secs(5), ..ChatConfig::default() }).await;
    let ann = connected(&chat, "ann", "c1").await;
    chat.join_room(&ann, RoomId(1)).await.unwrap();
    tokio::time::pause();
    chat.typing(&ann, RoomId(1), true).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    chat.typing(&ann, RoomId(1), true).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.typing(), [true, true], "the first flag's expiry did not clear the second");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.typing(), [true, true, false]);
}

#[tokio::test]
async fn a_user_goes_offline_only_when_their_last_connection_closes() {
    let (chat, rec, _db) = chat_with(ChatConfig { presence_linger: Duration::ZERO, ..ChatConfig::default() }).await;
    let tab1 = connected(&chat, "ann", "c1").await;
    let user = chat.user_of(&tab1).unwrap();
    let tab2 = ConnId("c2".into());
    chat.connect(tab2.clone(), AuthSession { user, token_hash: vec![1] }).await.unwrap();
    chat.disconnect(&tab1).await;
    assert_eq!(chat.online_users().await.unwrap().len(), 1);
    chat.disconnect(&tab2).await;
    assert!(chat.online_users().await.unwrap().is_empty());
    let presence: Vec<bool> = rec
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| if let Event::Presence { is_online, .. } = e { Some(*is_online) } else { None })
        .collect();
    assert_eq!(presence, [true, false]);
}

fn presence_of(rec: &Recorder) -> Vec<bool> {
    let events = rec.events.lock().unwrap();
    events.iter().filter_map(|(_, e)| if let Event::Presence { is_online, .. } = e { Some(*is_online) } else { None }).collect()
}

#[tokio::test]
async fn a_user_who_comes_back_within_the_linger_is_never_announced_offline() {
    let linger = Duration::from_millis(1500);
    let (chat, rec, _db) = chat_with(ChatConfig { presence_linger: linger, ..ChatConfig::default() }).await;
    let tab1 = connected(&chat, "ann", "c1").await;
    let user = chat.user_of(&tab1).unwrap();
    for i in 0..10 {
        chat.disconnect(&ConnId(if i == 0 { "c1".into() } else { format!("c{}", i + 1) })).await;
        assert_eq!(chat.online_users().await.unwrap().len(), 1, "lingering counts as online");
        let next = ConnId(format!("c{}", i + 2));
        chat.connect(next, AuthSession { user: user.clone(), token_hash: vec![1] }).await.unwrap();
    }
    chat.disconnect(&ConnId("c11".into())).await;
    tokio::time::pause();
    tokio::time::sleep(linger - Duration::from_millis(100)).await;
    assert_eq!(presence_of(&rec), [true], "ten reconnects and a last close: nothing announced yet");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(presence_of(&rec), [true, false]);
    assert!(chat.online_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_user_at_the_socket_cap_is_refused_one_more_and_others_keep_theirs() {
    let (chat, _rec, _db) = chat_with(ChatConfig { max_sockets_per_user: 2, ..ChatConfig::default() }).await;
    let tab1 = connected(&chat, "ann", "c1").await;
    let ann = AuthSession { user: chat.user_of(&tab1).unwrap(), token_hash: vec![1] };
    chat.admit(&ann).await.unwrap();
    chat.connect(ConnId("c2".into()), ann.clone()).await.unwrap();
    assert_eq!(chat.admit(&ann).await, Err(ChatError::TooManyConnections { max: 2 }));
    assert_eq!(chat.connect(ConnId("c3".into()), ann.clone()).await.err(), Some(ChatError::TooManyConnections { max: 2 }));
    assert_eq!(chat.connection_count(), 2);
    chat.disconnect(&tab1).await;
    chat.connect(ConnId("c4".into()), ann).await.unwrap();
}

/// A clock that moves only when told to.
struct ManualClock(Mutex<Timestamp>);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = Timestamp::from_millis(now.as_millis() + i64::try_from(by.as_millis()).unwrap());
    }
}

async fn chat_on_manual_clock(config: ChatConfig) -> (Chat, Arc<SqliteStore>, Arc<ManualClock>, tempfile::TempDir) {
    let (store, dir) = fresh_store().await;
    let clock = Arc::new(ManualClock(Mutex::new(Timestamp::from_millis(1_700_000_000_000))));
    let chat = Chat::new(store.clone(), Arc::new(Recorder::default()), None, clock.clone(), config);
    (chat, store, clock, dir)
}

async fn logged_in(chat: &Chat, name: &str) -> SessionToken {
    let form = Registration { username: name, email: &format!("{name}@example.com"), display_name: None, password: "correct horse battery", invite: None };
    chat.register(form, IpAddr::from([127, 0, 0, 1])).await.unwrap();
    chat.login(name, "correct horse battery", IpAddr::from([127, 0, 0, 1])).await.unwrap().0
}

fn refused(result: Result<AuthSession, ChatError>) -> bool {
    matches!(result, Err(ChatError::NotAuthenticated))
}

#[tokio::test]
async fn a_session_ended_behind_the_chats_back_is_refused_once_the_recheck_interval_is_over() {
    let (chat, store, clock, _db) = chat_on_manual_clock(ChatConfig::default()).await;
    let token = logged_in(&chat, "ann").await;
    chat.authenticate(&token).await.unwrap();
    // What a logout on another instance leaves when its cluster message is lost.
    store.delete_session(&token.hash()).await.unwrap();
    clock.advance(Duration::from_secs(SESSION_RECHECK_SECS.unsigned_abs()) - Duration::from_millis(1));
    assert!(chat.authenticate(&token).await.is_ok(), "answered from memory within the interval");
    clock.advance(Duration::from_millis(1));
    assert!(refused(chat.authenticate(&token).await));
}

#[tokio::test]
async fn logout_here_or_on_another_instance_ends_the_session_at_once() {
    let (chat, store, _, _db) = chat_on_manual_clock(ChatConfig::default()).await;
    let here = logged_in(&chat, "ann").await;
    let there = chat.login("ann", "correct horse battery", IpAddr::from([127, 0, 0, 1])).await.unwrap().0;
    chat.authenticate(&here).await.unwrap();
    chat.authenticate(&there).await.unwrap();

    chat.logout(&here).await.unwrap();
    assert!(refused(chat.authenticate(&here).await));

    // Another instance logs `there` out: the row goes, then the cluster says so.
    store.delete_session(&there.hash()).await.unwrap();
    chat.on_cluster_message(ClusterMsg::SessionEnded { token_hash: there.hash() }).await;
    assert!(refused(chat.authenticate(&there).await));
}

#[tokio::test]
async fn a_remembered_session_still_ends_when_the_session_expires() {
    let (chat, _, clock, _db) = chat_on_manual_clock(ChatConfig { session_ttl: Duration::from_secs(2), ..ChatConfig::default() }).await;
    let token = logged_in(&chat, "ann").await;
    clock.advance(Duration::from_millis(1_999));
    chat.authenticate(&token).await.unwrap();
    clock.advance(Duration::from_millis(1));
    assert!(refused(chat.authenticate(&token).await), "expired, though checked less than the interval ago");
}

/// The bodies of a room's newest `limit` messages, as a client reads them.
async fn latest(chat: &Chat, user: &UserSummary, limit: u32) -> Vec<String> {
    let page = chat.history(user, RoomId(1), Page::Latest { limit }).await.unwrap();
    page.messages().iter().map(|m| m.body.as_str().to_owned()).collect()
}

async fn say(chat: &Chat, conn: &ConnId, text: &str) {
    chat.send_message(conn, RoomId(1), MessageBody::parse(text).unwrap(), None).await.unwrap();
}

/// What another instance stores: the row, without this instance's send path.
fn stored_elsewhere(author: &UserSummary, text: &str, at: Timestamp) -> NewMessage {
    NewMessage {
        room_id: RoomId(1),
        author: author.clone(),
        body: MessageBody::parse(text).unwrap(),
        message_type: MessageType::Text,
        client_id: None,
        created_at: at,
    }
}

#[tokio::test]
async fn the_newest_page_shows_each_new_message_at_once_whatever_its_size() {
    let (chat, _, _, _db) = chat_on_manual_clock(ChatConfig { message_burst: 1_000, ..ChatConfig::default() }).await;
    let conn = ConnId("c1".into());
    let token = logged_in(&chat, "ann").await;
    let ann = chat.authenticate(&token).await.unwrap();
    chat.connect(conn.clone(), ann.clone()).await.unwrap();
    chat.join_room(&conn, RoomId(1)).await.unwrap();
    let ann = ann.user;

    assert!(latest(&chat, &ann, 100).await.is_empty());
    say(&chat, &conn, "one").await;
    assert_eq!(latest(&chat, &ann, 100).await, ["one"], "an empty page read before is not served again");
    say(&chat, &conn, "two").await;
    assert_eq!(latest(&chat, &ann, 1).await, ["two"]);
    assert_eq!(latest(&chat, &ann, 100).await, ["one", "two"]);
    for i in 3..=150 {
        say(&chat, &conn, &i.to_string()).await;
    }
    let page = latest(&chat, &ann, 5).await;
    assert_eq!(page, ["146", "147", "148", "149", "150"]);
    let page = latest(&chat, &ann, 100).await;
    assert_eq!((page.len(), page[0].as_str(), page[99].as_str()), (100, "51", "150"));
    let page = latest(&chat, &ann, 200).await;
    assert_eq!((page.len(), page[0].as_str()), (150, "one"), "more than a kept page holds is read from the store");
}

#[tokio::test]
async fn a_message_stored_by_another_instance_shows_when_its_event_arrives_or_after_the_recheck_interval() {
    let (chat, store, clock, _db) = chat_on_manual_clock(ChatConfig::default()).await;
    let token = logged_in(&chat, "ann").await;
    let ann = chat.authenticate(&token).await.unwrap().user;
    assert!(latest(&chat, &ann, 100).await.is_empty());

    let (first, _) = store.insert_message(stored_elsewhere(&ann, "from b", clock.now())).await.unwrap();
    chat.on_cluster_message(ClusterMsg::Event { audience: Audience::Room(RoomId(1)), event: Event::NewMessage(first) }).await;
    assert_eq!(latest(&chat, &ann, 100).await, ["from b"], "the cluster event drops the kept page");

    // The event of this one is lost (Redis away): the page is stale until the recheck.
    store.insert_message(stored_elsewhere(&ann, "lost event", clock.now())).await.unwrap();
    clock.advance(Duration::from_secs(RECENT_RECHECK_SECS.unsigned_abs()) - Duration::from_millis(1));
    assert_eq!(latest(&chat, &ann, 100).await, ["from b"]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(latest(&chat, &ann, 100).await, ["from b", "lost event"]);
}
