//! What the chat layer keeps in memory so that a busy client's requests do not
//! each go to the database: the sessions it saw lately, and rooms by id.
//!
//! Both are bounded (`quick_cache`: a concurrent map with an eviction policy,
//! no background threads); a miss only costs the query it would have cost
//! anyway.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use crate::domain::{Room, RoomId, Timestamp, UserSummary};

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

/// Taken before asking the store; see [`SessionCache::confirmed`].
pub(super) struct Lookup(u64);

impl SessionCache {
    pub(super) fn new() -> Self {
        Self { entries: Cache::new(SESSIONS), endings: AtomicU64::new(0) }
    }

    /// Call before asking the store for a session.
    pub(super) fn lookup(&self) -> Lookup {
        Lookup(self.endings.load(Ordering::SeqCst))
    }

    /// The user of a session the store confirmed less than [`SESSION_RECHECK_SECS`]
    /// ago and that has not ended since.
    pub(super) fn get(&self, token_hash: &[u8], now: Timestamp) -> Option<UserSummary> {
        let entry = self.entries.get(token_hash)?;
        if now < entry.expires_at && now < entry.checked_at.plus_seconds(SESSION_RECHECK_SECS) {
            Some(entry.user)
        } else {
            self.entries.remove(token_hash);
            None
        }
    }

    /// The store said, since `lookup`, that this session is live until `expires_at`.
    ///
    /// If any session ended meanwhile, the entry is taken out again: it may be
    /// that one, read just before its logout deleted it. (Insert, then check:
    /// [`SessionCache::ended`] counts, then removes, so one of the two removals
    /// always comes after the insert.)
    pub(super) fn confirmed(
        &self,
        lookup: Lookup,
        token_hash: &[u8],
        user: &UserSummary,
        expires_at: Timestamp,
        now: Timestamp,
    ) {
        let entry = CachedSession { user: user.clone(), expires_at, checked_at: now };
        self.entries.insert(token_hash.to_vec(), entry);
        if self.endings.load(Ordering::SeqCst) != lookup.0 {
            self.entries.remove(token_hash);
        }
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

    pub(super) fn get(&self, id: RoomId) -> Option<Room> {
        self.entries.get(&id)
    }

    pub(super) fn insert(&self, room: &Room) {
        self.entries.insert(room.id, room.clone());
    }
}
