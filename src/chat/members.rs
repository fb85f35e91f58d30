//! Lasting membership: what each user is a member of, kept in memory so that
//! the authorization check on every send costs no query.
//!
//! A user's entry is loaded from the store once (one read of their rooms and
//! roles) and dropped whenever one of their memberships changes: here at once,
//! and on the other instances by [`super::ClusterMsg::MembershipChanged`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use super::access::{Action, Standing, decide};
use super::{Chat, ClusterMsg, store_error};
use crate::domain::{ChatError, ConnId, MemberRole, Role, Room, RoomId, UserId, UserSummary};

/// What [`Chat::access`] found: the room, and the user's standing in it.
#[derive(Debug, Clone)]
pub struct Access {
    pub room: Room,
    pub standing: Standing,
}

/// Users whose memberships an instance keeps; beyond that the least used are
/// read again when asked for.
const USERS: usize = 50_000;

/// Stripes of the change counters (see [`MembershipCache::get_or_load`]).
const STRIPES: usize = 64;

/// What one user is a member of (rooms that are not archived), and whether
/// they are a server admin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRooms {
    pub admin: bool,
    /// Each room with whether the user owns it.
    pub rooms: HashMap<RoomId, bool>,
}

impl UserRooms {
    pub fn is_member(&self, room: RoomId) -> bool {
        self.rooms.contains_key(&room)
    }

    pub fn owns(&self, room: RoomId) -> bool {
        self.rooms.get(&room).copied().unwrap_or(false)
    }
}

pub(super) struct MembershipCache {
    entries: Cache<UserId, Arc<UserRooms>>,
    /// Counts changes per stripe of users, so that a load that raced a change
    /// does not keep what it read before it (insert, then check).
    changes: [AtomicU64; STRIPES],
}

impl MembershipCache {
    pub(super) fn new() -> Self {
        Self { entries: Cache::new(USERS), changes: std::array::from_fn(|_| AtomicU64::new(0)) }
    }

    fn stripe(&self, user: UserId) -> &AtomicU64 {
        &self.changes[user.0.unsigned_abs() as usize % STRIPES]
    }

    /// The user's memberships, from memory or else from `load`. Concurrent
    /// lookups of one user share one load (a reconnect storm after a restart).
    pub(super) async fn get_or_load<E, F>(&self, user: UserId, load: F) -> Result<Arc<UserRooms>, E>
    where
        F: AsyncFnOnce() -> Result<UserRooms, E>,
    {
        match self.entries.get_value_or_guard_async(&user).await {
            Ok(rooms) => Ok(rooms),
            Err(guard) => {
                let changes = self.stripe(user).load(Ordering::SeqCst);
                let rooms = Arc::new(load().await?);
                // An Err only means a change removed the entry meanwhile.
                if guard.insert(rooms.clone()).is_ok() && self.stripe(user).load(Ordering::SeqCst) != changes {
                    self.entries.remove(&user);
                }
                Ok(rooms)
            }
        }
    }

    /// One of the user's memberships (or their role) changed: call after the
    /// store has it.
    pub(super) fn changed(&self, user: UserId) {
        self.stripe(user).fetch_add(1, Ordering::SeqCst);
        self.entries.remove(&user);
    }
}

impl Chat {
    /// May `user` do `action` with `room`? The one check every route and
    /// event that names a room makes (docs/protocol.md, "Who may do what").
    /// A room the user may not see is `room_not_found`, exactly like one that
    /// does not exist. Costs no query on the common path: the room and the
    /// user's memberships come from memory (an archived room's membership is
    /// read from the store: archived rooms are not kept with the others).
    pub async fn access(&self, user: &UserSummary, room: RoomId, action: Action) -> Result<Access, ChatError> {
        let store = &self.inner.store;
        let room = self
            .inner
            .rooms
            .get_or_load(room, async || store.room(room).await.map_err(store_error))
            .await?
            .ok_or(ChatError::RoomNotFound)?;
        let mine = self.user_rooms(user.id).await?;
        let standing = if room.archived {
            let membership = store.membership(room.id, user.id).await.map_err(store_error)?;
            Standing {
                member: membership.is_some(),
                owner: membership.is_some_and(|m| m.role == MemberRole::Owner),
                admin: mine.admin,
            }
        } else {
            Standing { member: mine.is_member(room.id), owner: mine.owns(room.id), admin: mine.admin }
        };
        decide(room.room_type, room.archived, standing, action)?;
        Ok(Access { room, standing })
    }

    /// The user's memberships (rooms not archived) and whether they are an
    /// admin: from memory, or one read of the store.
    pub(super) async fn user_rooms(&self, user: UserId) -> Result<Arc<UserRooms>, ChatError> {
        let store = &self.inner.store;
        self.inner
            .memberships
            .get_or_load(user, async || {
                let rooms = store.member_rooms(user).await.map_err(store_error)?;
                let account = store.user(user).await.map_err(store_error)?;
                Ok(UserRooms {
                    admin: account.is_some_and(|u| u.role == Role::Admin && !u.deactivated),
                    rooms: rooms.into_iter().map(|(room, role)| (room, role == MemberRole::Owner)).collect(),
                })
            })
            .await
    }

    /// The user's server role or account changed (promoted, demoted,
    /// deactivated): every instance reads their standing again.
    pub async fn standing_changed(&self, user: UserId) {
        self.inner.shared.broadcast(ClusterMsg::StandingChanged { user });
        self.inner.memberships.changed(user);
    }

    /// A user's membership of a room began (`member`) or ended, in the store:
    /// every instance forgets the user's memberships it kept and (un)subscribes
    /// the user's sockets. The other instances hear it before any event that
    /// follows it (one ordered channel), so a removed member's next send is
    /// refused wherever their socket is, by the time their sockets hear
    /// `room_removed`.
    pub(super) async fn membership_changed(&self, room: RoomId, user: UserId, member: bool) {
        self.inner.shared.broadcast(ClusterMsg::MembershipChanged { room, user, member });
        self.apply_membership(room, user, member).await;
    }

    /// What a membership change means for this instance: with `member`, the
    /// user's `membership` connections start receiving the room; without,
    /// every connection of the user stops.
    pub(super) async fn apply_membership(&self, room: RoomId, user: UserId, member: bool) {
        self.inner.memberships.changed(user);
        if member {
            for conn in self.inner.presence.enter_following(user, room) {
                self.inner.notifier.subscribe(&conn, room);
                self.shared_room_delta(room, user, true).await;
            }
        } else {
            for (conn, summary) in self.inner.presence.exit_all(user, room) {
                self.stop_typing(room, &summary, &conn);
                self.inner.notifier.unsubscribe(&conn, room);
                self.shared_room_delta(room, user, false).await;
            }
        }
    }

    /// Counts a connection in or out of a room in the shared state.
    async fn shared_room_delta(&self, room: RoomId, user: UserId, entered: bool) {
        if entered {
            self.inner.shared.entered_room(room, user).await;
        } else {
            self.inner.shared.left_room(room, user).await;
        }
    }

    /// Subscribes a `membership` connection to every room its user is a
    /// member of, at once: one read of the memberships (usually from memory),
    /// one update of the shared state, no announcement.
    pub async fn follow_memberships(&self, conn: &ConnId) -> Result<(), crate::domain::ChatError> {
        let user = self.user_of(conn)?;
        // Following first: a membership that begins while the rooms are
        // read is added to this connection by `apply_membership` meanwhile.
        self.inner.presence.follow_memberships(conn, []);
        let rooms = self.user_rooms(user.id).await?;
        let Some((user, added)) = self.inner.presence.follow_memberships(conn, rooms.rooms.keys().copied()) else {
            return Ok(());
        };
        self.inner.notifier.subscribe_many(conn, &added);
        self.inner.shared.entered_rooms(&added, user.id).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    fn member_of(rooms: &[i64]) -> UserRooms {
        UserRooms { admin: false, rooms: rooms.iter().map(|r| (RoomId(*r), false)).collect() }
    }

    #[tokio::test]
    async fn a_users_rooms_are_read_once_until_they_change() {
        let (cache, loads) = (MembershipCache::new(), AtomicUsize::new(0));
        let load = async || {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(member_of(&[1, 2]))
        };
        assert!(cache.get_or_load(UserId(1), load).await.unwrap().is_member(RoomId(2)));
        assert!(cache.get_or_load(UserId(1), load).await.unwrap().is_member(RoomId(1)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.changed(UserId(1));
        cache.get_or_load(UserId(1), load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_load_that_raced_a_change_is_not_kept() {
        let cache = Arc::new(MembershipCache::new());
        let slow = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load(UserId(3), async || {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, ()>(member_of(&[9]))
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        cache.changed(UserId(3)); // removed from room 9 while the store was read
        slow.await.unwrap().unwrap();
        let now = cache.get_or_load(UserId(3), async || Ok::<_, ()>(member_of(&[]))).await.unwrap();
        assert!(!now.is_member(RoomId(9)), "the stale read was dropped");
    }
}
