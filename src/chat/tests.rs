//! Use-case tests on a real (in-memory) SQLite store, with the outbound port
//! recorded and time paused where timing matters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Audience, AuthSession, Chat, ChatConfig, Event, Notifier, Registration};
use crate::domain::{ConnId, RoomId, SystemClock};
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

async fn chat_with(config: ChatConfig) -> (Chat, Arc<Recorder>) {
    let store = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
    let recorder = Arc::new(Recorder::default());
    (Chat::new(store, recorder.clone(), None, Arc::new(SystemClock), config), recorder)
}

async fn connected(chat: &Chat, name: &str, conn: &str) -> ConnId {
    let user = chat
        .register(Registration { username: name, email: &format!("{name}@example.com"), display_name: None, password: "password1" })
        .await
        .unwrap();
    let conn = ConnId(conn.into());
    chat.connect(conn.clone(), AuthSession { user, token_hash: vec![1] }).await;
    conn
}

// Time is paused after the setup: the store's own I/O runs on real time.
#[tokio::test]
async fn a_typing_flag_expires_after_the_ttl_and_not_before() {
    let (chat, rec) = chat_with(ChatConfig { typing_ttl: Duration::from_secs(5), ..ChatConfig::default() }).await;
    let ann = connected(&chat, "ann", "c1").await;
    chat.join_room(&ann, RoomId(1)).await.unwrap();
    tokio::time::pause();
    chat.typing(&ann, RoomId(1), true).unwrap();
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(rec.typing(), [true]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.typing(), [true, false]);
}

#[tokio::test]
async fn only_the_newest_typing_flag_expires() {
    let (chat, rec) = chat_with(ChatConfig { typing_ttl: Duration::from_secs(5), ..ChatConfig::default() }).await;
    let ann = connected(&chat, "ann", "c1").await;
    chat.join_room(&ann, RoomId(1)).await.unwrap();
    tokio::time::pause();
    chat.typing(&ann, RoomId(1), true).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    chat.typing(&ann, RoomId(1), true).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.typing(), [true, true], "the first flag's expiry did not clear the second");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rec.typing(), [true, true, false]);
}

#[tokio::test]
async fn a_user_goes_offline_only_when_their_last_connection_closes() {
    let (chat, rec) = chat_with(ChatConfig::default()).await;
    let tab1 = connected(&chat, "ann", "c1").await;
    let user = chat.user_of(&tab1).unwrap();
    let tab2 = ConnId("c2".into());
    chat.connect(tab2.clone(), AuthSession { user, token_hash: vec![1] }).await;
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
