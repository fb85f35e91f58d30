//! [`crate::store::InviteStore`].

use super::new_user;
use crate::domain::{NewInvite, Timestamp};
use crate::store::Store;

fn invite(code: u8, by: crate::domain::UserId, expires_at: i64, max_uses: u32) -> NewInvite {
    NewInvite {
        code_hash: vec![code; 32],
        created_by: by,
        created_at: Timestamp::from_millis(10),
        expires_at: Timestamp::from_millis(expires_at),
        max_uses,
    }
}

pub async fn an_invite_is_live_until_used_up_expired_or_revoked(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let twice = store.create_invite(invite(1, ann.id, 1_000, 2)).await.unwrap();
    assert_eq!((twice.created_by, twice.max_uses, twice.uses, twice.expires_at), (Some(ann.id), 2, 0, Timestamp::from_millis(1_000)));
    let soon = store.create_invite(invite(2, ann.id, 100, 5)).await.unwrap();
    let revoked = store.create_invite(invite(3, ann.id, 1_000, 5)).await.unwrap();
    let now = Timestamp::from_millis(50);
    let ids = |v: Vec<crate::domain::Invite>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(store.live_invites(now).await.unwrap()), [twice.id, soon.id, revoked.id]);
    assert_eq!(store.count_live_invites(now).await.unwrap(), 3);

    assert!(store.revoke_invite(revoked.id, now).await.unwrap());
    assert!(!store.revoke_invite(revoked.id, now).await.unwrap(), "revoked once");
    assert!(!store.revoke_invite(999_999, now).await.unwrap());
    assert!(!store.use_invite(&[3; 32], now).await.unwrap(), "a revoked invite is not used");

    assert!(store.use_invite(&[1; 32], now).await.unwrap());
    let live = store.live_invites(now).await.unwrap();
    assert_eq!(live.iter().find(|i| i.id == twice.id).map(|i| i.uses), Some(1));
    assert!(store.use_invite(&[1; 32], now).await.unwrap());
    assert!(!store.use_invite(&[1; 32], now).await.unwrap(), "used up");

    assert!(!store.use_invite(&[2; 32], Timestamp::from_millis(100)).await.unwrap(), "expired");
    assert!(!store.use_invite(&[9; 32], now).await.unwrap(), "unknown");
    assert_eq!(ids(store.live_invites(now).await.unwrap()), [soon.id]);
    assert_eq!(store.count_live_invites(Timestamp::from_millis(100)).await.unwrap(), 0);
}

pub async fn an_invite_s_last_use_is_taken_once_by_concurrent_registrations(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    store.create_invite(invite(7, ann.id, 1_000, 3)).await.unwrap();
    let uses = (0..10).map(|_| store.use_invite(&[7; 32], Timestamp::from_millis(50)));
    let used = futures_util::future::join_all(uses).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(used, 3);
}
