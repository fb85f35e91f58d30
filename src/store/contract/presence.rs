//! [`crate::store::PresenceStore`].

use super::new_user;
use crate::domain::Timestamp;
use crate::store::{NewSession, Store};

pub async fn last_seen_is_kept_to_the_millisecond(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    store.set_last_seen(user.id, Timestamp::from_millis(1_795_492_347_123)).await.unwrap();
    let found = store.user_by_username("ann").await.unwrap().unwrap();
    assert_eq!(found.last_seen, Some(Timestamp::from_millis(1_795_492_347_123)));
}

pub async fn who_was_online_at_a_stop_is_remembered_until_taken(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let now = Timestamp::from_millis(100);
    let nothing = store.take_online(now).await.unwrap();
    assert!(nothing.online.is_empty() && nothing.sessions.is_empty(), "a fresh database remembers no one");
    // Ann has two live sessions and an expired one; cat a live one, but cat
    // was not online at the stop.
    for (token, user, expires_at) in [(1u8, ann.id, 500), (2, ann.id, 900), (3, ann.id, 50), (4, cat.id, 900)] {
        let session = NewSession {
            token_hash: vec![token; 32],
            user_id: user,
            created_at: Timestamp::from_millis(1),
            expires_at: Timestamp::from_millis(expires_at),
        };
        store.create_session(session).await.unwrap();
    }
    store.save_online(&[cat.id, ann.id], Timestamp::from_millis(5)).await.unwrap();
    store.save_online(&[bob.id, ann.id, bob.id], Timestamp::from_millis(9)).await.unwrap();
    let taken = store.take_online(now).await.unwrap();
    let names: Vec<_> = taken.online.iter().map(|(u, at)| (u.username.as_str(), at.as_millis())).collect();
    assert_eq!(names, [("ann", 9), ("bob", 9)], "the latest stop replaces the one before; each user once, in id order");
    let sessions: Vec<_> =
        taken.sessions.iter().map(|(hash, s)| (hash[0], s.user.username.as_str(), s.expires_at.as_millis())).collect();
    assert_eq!(sessions, [(2, "ann", 900), (1, "ann", 500)], "the live sessions of who was online, latest to expire first");
    assert!(store.take_online(now).await.unwrap().online.is_empty(), "taken once");
    store.save_online(&[], Timestamp::from_millis(10)).await.unwrap();
    assert!(store.take_online(now).await.unwrap().online.is_empty());
}
