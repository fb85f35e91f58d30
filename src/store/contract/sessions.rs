//! [`crate::store::SessionStore`].

use super::new_user;
use crate::domain::Timestamp;
use crate::store::{NewSession, Store};

pub async fn a_session_finds_its_user_until_it_expires_or_is_deleted(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let session = NewSession {
        token_hash: vec![7; 32],
        user_id: user.id,
        created_at: Timestamp::from_millis(1_000),
        expires_at: Timestamp::from_millis(5_000),
    };
    store.create_session(session).await.unwrap();
    let found = store.session_user(&[7; 32], Timestamp::from_millis(4_999)).await.unwrap().expect("live session");
    assert_eq!(found.user.id, user.id);
    assert_eq!(found.expires_at, Timestamp::from_millis(5_000));
    assert!(store.session_user(&[7; 32], Timestamp::from_millis(5_000)).await.unwrap().is_none(), "expired");
    assert!(store.session_user(&[8; 32], Timestamp::from_millis(1_000)).await.unwrap().is_none());
    store.delete_session(&[7; 32]).await.unwrap();
    assert!(store.session_user(&[7; 32], Timestamp::from_millis(2_000)).await.unwrap().is_none());
}

fn session(token: u8, user: crate::domain::UserId) -> NewSession {
    NewSession {
        token_hash: vec![token; 32],
        user_id: user,
        created_at: Timestamp::from_millis(1),
        expires_at: Timestamp::from_millis(9_000),
    }
}

pub async fn a_deactivated_user_s_sessions_find_no_one(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    store.create_session(session(1, ann.id)).await.unwrap();
    store.set_deactivated(ann.id, Some(Timestamp::from_millis(5))).await.unwrap();
    assert!(store.session_user(&[1; 32], Timestamp::from_millis(10)).await.unwrap().is_none());
    store.set_deactivated(ann.id, None).await.unwrap();
    assert!(store.session_user(&[1; 32], Timestamp::from_millis(10)).await.unwrap().is_some(), "reactivated");
}

pub async fn ending_a_user_s_sessions_keeps_the_one_excepted_and_names_those_ended(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    for (token, user) in [(1, ann.id), (2, ann.id), (3, ann.id), (4, bob.id)] {
        store.create_session(session(token, user)).await.unwrap();
    }
    let now = Timestamp::from_millis(10);
    let mut ended = store.delete_sessions_of(ann.id, Some(&[2; 32])).await.unwrap();
    ended.sort();
    assert_eq!(ended, [vec![1; 32], vec![3; 32]]);
    assert!(store.session_user(&[1; 32], now).await.unwrap().is_none());
    assert!(store.session_user(&[2; 32], now).await.unwrap().is_some(), "the one excepted stays");
    assert!(store.session_user(&[4; 32], now).await.unwrap().is_some(), "another user's stays");
    assert_eq!(store.delete_sessions_of(ann.id, None).await.unwrap(), [vec![2; 32]]);
    assert!(store.delete_sessions_of(ann.id, None).await.unwrap().is_empty());
}
