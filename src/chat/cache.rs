//! What the chat layer keeps in memory so that a busy client's requests do not
//! each go to the database: the sessions it saw lately, rooms by id, and each
//! busy room's latest messages.
//!
//! All are bounded (`quick_cache`: a concurrent map with an eviction policy,
//! no background threads); a miss only costs the query it would have cost
//! anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use crate::domain::{Message, Page, Room, RoomId, Timestamp, UserSummary};
use crate::store::SessionUser;

/// How long (in seconds) a session found in the store is trusted without
/// asking again.
///
/// Logout drops the session here and, through the cluster, on every other
/// instance at once, so this only bounds how long a session that ended behind
/// this instance's back (a cluster message lost while Redis was away, a row
/// deleted by hand) stays usable here.
pub const SESSION_RECHECK_SECS: i64 = 5;

/// Sessions an instance serves within [`SESSION_RECHECK_SECS`]; beyond that the
/// least used are asked for again.
const SESSIONS: usize = 10_000;

/// Rooms by id; more rooms than this are read from the store when asked for.
const ROOMS: usize = 10_000;

#[derive(Clone)]
struct CachedSession {
    user: UserSummary,
    /// When the session itself ends.
    expires_at: Timestamp,
    /// When the store last said the session was live.
    checked_at: Timestamp,
}

pub(super) struct SessionCache {
    entries: Cache<Vec<u8>, CachedSession>,
    /// Counts sessions ended, so that a lookup that raced a logout does not
    /// put the ended session back (see [`SessionCache::confirmed`]).
    endings: AtomicU64,
}

impl SessionCache {
    pub(super) fn new() -> Self {
        Self { entries: Cache::new(SESSIONS), endings: AtomicU64::new(0) }
    }

    /// The user of a live session: from memory if the store confirmed it less
    /// than [`SESSION_RECHECK_SECS`] ago (and it has not ended since), else
    /// from `load`, which asks the store for the user and the session's end.
    ///
    /// Concurrent lookups of one session share one `load`: after a restart
    /// every socket of a user comes back at once, and they wait for the first
    /// one's query instead of each queueing for a database connection. If that
    /// load fails or finds nothing, the next waiter loads in its turn.
    ///
    /// A lookup that raced a logout must not put the ended session back: the
    /// entry is inserted, then taken out again if any session ended since the
    /// load began ([`SessionCache::ended`] counts, then removes, so one of the
    /// two removals always comes after the insert).
    pub(super) async fn get_or_load<E, F>(
        &self,
        token_hash: &[u8],
        now: Timestamp,
        load: F,
    ) -> Result<Option<UserSummary>, E>
    where
        F: AsyncFnOnce() -> Result<Option<(UserSummary, Timestamp)>, E>,
    {
        loop {
            match self.entries.get_value_or_guard_async(token_hash).await {
                Ok(entry) if now < entry.expires_at && now < entry.checked_at.plus_seconds(SESSION_RECHECK_SECS) => {
                    return Ok(Some(entry.user));
                }
                Ok(_) => {
                    self.entries.remove(token_hash);
                }
                Err(guard) => {
                    let endings = self.endings.load(Ordering::SeqCst);
                    let Some((user, expires_at)) = load().await? else { return Ok(None) };
                    // An Err means the entry was removed while the store was
                    // asked (a logout): there is nothing to keep, by design.
                    if guard.insert(CachedSession { user: user.clone(), expires_at, checked_at: now }).is_ok()
                        && self.endings.load(Ordering::SeqCst) != endings
                    {
                        self.entries.remove(token_hash);
                    }
                    return Ok(Some(user));
                }
            }
        }
    }

    /// Sessions the store has just confirmed live, all at once (at a start,
    /// those of the users who were online at the last stop).
    pub(super) fn confirmed(&self, sessions: Vec<(Vec<u8>, SessionUser)>, now: Timestamp) {
        for (token_hash, found) in sessions {
            let user = UserSummary::from(&found.user);
            self.entries.insert(token_hash, CachedSession { user, expires_at: found.expires_at, checked_at: now });
        }
    }

    /// The user's name or colour changed: their sessions are read from the
    /// store again (counted as endings, so a load that raced the change does
    /// not keep the old name).
    pub(super) fn user_changed(&self, user: crate::domain::UserId) {
        self.endings.fetch_add(1, Ordering::SeqCst);
        self.entries.retain(|_, s| s.user.id != user);
    }

    /// The session ended (logout here or on another instance); call after the
    /// store has forgotten it.
    pub(super) fn ended(&self, token_hash: &[u8]) {
        self.endings.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(token_hash);
    }
}

/// Rooms by id. A room never changes once created (there is no rename or
/// delete yet); whatever adds one must drop the room here and tell the other
/// instances, as logout does for sessions.
pub(super) struct RoomCache {
    entries: Cache<RoomId, Room>,
}

impl RoomCache {
    pub(super) fn new() -> Self {
        Self { entries: Cache::new(ROOMS) }
    }

    /// The room, from memory or else from `load`. Concurrent lookups of one
    /// room share one `load` (a restart brings thousands of joins of a few
    /// rooms at once); if it fails or finds nothing, the next waiter loads.
    pub(super) async fn get_or_load<E, F>(&self, id: RoomId, load: F) -> Result<Option<Room>, E>
    where
        F: AsyncFnOnce() -> Result<Option<Room>, E>,
    {
        match self.entries.get_value_or_guard_async(&id).await {
            Ok(room) => Ok(Some(room)),
            Err(guard) => {
                let room = load().await?;
                // Waiters get the room either way; an Err only means the
                // entry was replaced meanwhile, which leaves a room as good.
                if let Some(room) = &room
                    && guard.insert(room.clone()).is_err()
                {
                    tracing::trace!(room_id = %room.id, "room cached meanwhile");
                }
                Ok(room)
            }
        }
    }
}

/// How long (in seconds) a room's latest messages are served from memory
/// without asking the store again. A new message drops them at once, here and
/// (through the cluster) on every other instance; this only bounds how long a
/// page stays stale when that word is lost (Redis away).
pub const RECENT_RECHECK_SECS: i64 = 5;

/// Rooms whose latest messages are kept, about; the least read are dropped first.
const RECENT_ROOMS: usize = 1_000;

/// Bytes the kept messages may take, about: 1,000 pages of 100 short messages,
/// or fewer pages of long ones.
const RECENT_BYTES: u64 = 32 << 20;

/// An author's names and colour, about, in each kept message.
const AUTHOR_BYTES: usize = 96;

/// Stripes of the change counters: a change in one room only spoils loads of
/// the rooms that share its stripe.
const STRIPES: usize = 64;

#[derive(Clone)]
struct Recent {
    /// The room's newest messages, oldest first.
    messages: Arc<[Message]>,
    /// Fewer messages than were asked for: this is all the room has.
    complete: bool,
    loaded_at: Timestamp,
    /// What the messages take in memory, about (counted once, at load).
    bytes: u64,
}

#[derive(Clone)]
struct RecentWeight;

impl quick_cache::Weighter<RoomId, Recent> for RecentWeight {
    fn weight(&self, _: &RoomId, recent: &Recent) -> u64 {
        recent.bytes
    }
}

/// Each room's newest messages, as the store last gave them: the page every
/// client reads when it opens a room.
pub(super) struct RecentMessages {
    entries: Cache<RoomId, Recent, RecentWeight>,
    /// Counts new messages per stripe of rooms, so that a load that raced a new
    /// message does not keep a page without it (the same insert-then-check as
    /// [`SessionCache::get_or_load`]).
    changes: [AtomicU64; STRIPES],
}

impl RecentMessages {
    pub(super) fn new() -> Self {
        Self {
            entries: Cache::with_weighter(RECENT_ROOMS, RECENT_BYTES, RecentWeight),
            changes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn stripe(&self, room: RoomId) -> &AtomicU64 {
        &self.changes[room.0.unsigned_abs() as usize % STRIPES]
    }

    /// The newest `limit` messages of the room, oldest first (a window on a
    /// shared list), from memory or else from `load`, which is asked for at
    /// least `limit`.
    pub(super) async fn latest<E, F>(&self, room: RoomId, limit: u32, now: Timestamp, load: F) -> Result<HistoryPage, E>
    where
        F: AsyncFnOnce(u32) -> Result<Vec<Message>, E>,
    {
        if let Some(recent) = self.entries.get(&room) {
            let fits = recent.complete || recent.messages.len() >= limit as usize;
            if fits && now < recent.loaded_at.plus_seconds(RECENT_RECHECK_SECS) {
                return Ok(HistoryPage::newest(recent.messages, limit));
            }
        }
        let changes = self.stripe(room).load(Ordering::SeqCst);
        // A page read cold is the default size at least, so that the common
        // requests that follow it are answered from memory.
        let asked = limit.max(Page::DEFAULT_LIMIT);
        let messages: Arc<[Message]> = load(asked).await?.into();
        let complete = messages.len() < asked as usize;
        let bytes = messages.iter().map(|m| size_of::<Message>() + m.body.as_str().len() + AUTHOR_BYTES).sum::<usize>();
        self.entries.insert(room, Recent { messages: messages.clone(), complete, loaded_at: now, bytes: bytes as u64 });
        if self.stripe(room).load(Ordering::SeqCst) != changes {
            self.entries.remove(&room);
        }
        Ok(HistoryPage::newest(messages, limit))
    }

    /// A message was stored in the room (here or on another instance): call
    /// after its commit.
    pub(super) fn changed(&self, room: RoomId) {
        self.stripe(room).fetch_add(1, Ordering::SeqCst);
        self.entries.remove(&room);
    }
}

/// A page of history: the newest messages of a list that other readers may
/// share.
pub struct HistoryPage {
    messages: Arc<[Message]>,
    start: usize,
}

impl HistoryPage {
    fn newest(messages: Arc<[Message]>, limit: u32) -> Self {
        Self { start: messages.len().saturating_sub(limit as usize), messages }
    }

    pub(super) fn all(messages: Vec<Message>) -> Self {
        Self { messages: messages.into(), start: 0 }
    }

    /// Oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;
    use crate::domain::{AvatarColor, DisplayName, UserId, Username};

    fn ann() -> UserSummary {
        let username = Username::parse("ann").unwrap();
        UserSummary {
            id: UserId(1),
            display_name: DisplayName::parse(None, &username).unwrap(),
            avatar_color: AvatarColor::for_username(&username),
            username,
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000)
    }

    /// Concurrent lookups of one session while the store is slow.
    async fn storm(cache: &SessionCache, loads: &AtomicUsize, fail_first: bool) -> Vec<Result<Option<UserSummary>, ()>> {
        let lookups = (0..20).map(|_| {
            cache.get_or_load(b"token", now(), async || {
                let n = loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if fail_first && n == 0 { Err(()) } else { Ok(Some((ann(), now().plus_seconds(60)))) }
            })
        });
        futures_util::future::join_all(lookups).await
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_session_share_one_query() {
        let (cache, loads) = (SessionCache::new(), AtomicUsize::new(0));
        let found = storm(&cache, &loads, false).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(found.iter().all(|f| f.as_ref().is_ok_and(|u| u.as_ref().is_some_and(|u| u.id == UserId(1)))));
    }

    #[tokio::test]
    async fn when_the_shared_query_fails_the_next_waiter_asks_again() {
        let (cache, loads) = (SessionCache::new(), AtomicUsize::new(0));
        let found = storm(&cache, &loads, true).await;
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert_eq!(found.iter().filter(|f| f.is_err()).count(), 1, "only the failed query's caller sees its error");
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_room_share_one_query() {
        let (cache, loads) = (RoomCache::new(), AtomicUsize::new(0));
        let room = Room {
            id: RoomId(7),
            name: crate::domain::RoomName::parse("General").unwrap(),
            room_type: crate::domain::RoomType::Public,
            created_by: None,
            created_at: now(),
            topic: String::new(),
            archived: false,
        };
        let lookups = (0..20).map(|_| {
            cache.get_or_load(RoomId(7), async || {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, ()>(Some(room.clone()))
            })
        });
        let found = futures_util::future::join_all(lookups).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(found.iter().all(|f| matches!(f, Ok(Some(r)) if r.id == RoomId(7))));
    }
}
