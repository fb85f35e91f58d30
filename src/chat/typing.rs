//! Typing indicators, with expiry for flags that are never cleared, and a
//! throttle: a client repeating `typing: true` (every keystroke) costs one
//! announcement per repeat window, not one per event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Audience, Chat, Event};
use crate::domain::{ChatError, ConnId, RoomId, UserId, UserSummary};

type Key = (RoomId, UserId);

struct Flag {
    /// Which flag this is: only its own timer expires it.
    generation: u64,
    /// When it was last announced to the room.
    announced: Instant,
    /// When it expires unless refreshed.
    expires: Instant,
}

/// Who is typing where.
#[derive(Default)]
pub(super) struct Typing {
    flags: Mutex<HashMap<Key, Flag>>,
    next: Mutex<u64>,
}

/// What a `typing: true` does.
#[derive(Debug, PartialEq)]
enum Set {
    /// A new flag: announced, with a timer that expires it.
    New(u64),
    /// A refresh after the repeat window: announced again.
    Again,
    /// A refresh within the window: only the expiry moves.
    Absorbed,
}

impl Typing {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Flag>> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Would a `typing: true` now be announced?
    fn announces(&self, key: Key, now: Instant, repeat: Duration) -> bool {
        self.lock().get(&key).is_none_or(|f| now.duration_since(f.announced) >= repeat)
    }

    fn set(&self, key: Key, now: Instant, ttl: Duration, repeat: Duration) -> Set {
        let generation = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        let mut flags = self.lock();
        match flags.get_mut(&key) {
            Some(f) => {
                f.expires = now + ttl;
                if now.duration_since(f.announced) >= repeat {
                    f.announced = now;
                    Set::Again
                } else {
                    Set::Absorbed
                }
            }
            None => {
                flags.insert(key, Flag { generation, announced: now, expires: now + ttl });
                Set::New(generation)
            }
        }
    }

    /// For the timer of flag `generation`: wait until its expiry, stop (the
    /// flag was cleared or replaced), or it expired now and is removed.
    fn expiry(&self, key: Key, generation: u64, now: Instant) -> Expiry {
        let mut flags = self.lock();
        match flags.get(&key) {
            Some(f) if f.generation != generation => Expiry::Gone,
            Some(f) if f.expires > now => Expiry::Later(f.expires),
            Some(_) => {
                flags.remove(&key);
                Expiry::Expired
            }
            None => Expiry::Gone,
        }
    }

    /// Clears the flag; true if there was one.
    fn clear(&self, key: Key) -> bool {
        self.lock().remove(&key).is_some()
    }
}

enum Expiry {
    Gone,
    Later(Instant),
    Expired,
}

impl Chat {
    /// A user started or stopped typing in a room their connection joined.
    /// The others in the room hear it; a `true` that is never followed by
    /// `false` expires after the typing TTL. A repeated `true` within
    /// `typing_repeat` of the last announcement only keeps the flag alive;
    /// announcements of `true` take a token of the user's typing bucket
    /// (`false` never does: it must not be held back).
    pub async fn typing(&self, conn: &ConnId, room: RoomId, is_typing: bool) -> Result<(), ChatError> {
        let user = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        // Stopping is always allowed: it must not be held back.
        let action = if is_typing { super::access::Action::Send } else { super::access::Action::See };
        self.access(&user, room, action).await?;
        if !self.inner.presence.is_in_room(conn, room) {
            return Err(ChatError::NotInRoom);
        }
        if !is_typing {
            self.stop_typing(room, &user, conn);
            return Ok(());
        }
        let key = (room, user.id);
        let config = &self.inner.config;
        if self.inner.typing.announces(key, Instant::now(), config.typing_repeat) {
            self.take_token("typing", &self.inner.typing_limit, config.typing, user.id).await?;
        }
        let generation = match self.inner.typing.set(key, Instant::now(), config.typing_ttl, config.typing_repeat) {
            Set::Absorbed => return Ok(()),
            Set::Again => None,
            Set::New(generation) => Some(generation),
        };
        let event = Event::Typing { room, user: user.clone(), is_typing: true };
        self.publish(Audience::RoomExcept(room, conn.clone()), event);

        let Some(generation) = generation else { return Ok(()) };
        let chat = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            loop {
                match chat.inner.typing.expiry(key, generation, Instant::now()) {
                    Expiry::Gone => return,
                    Expiry::Later(at) => tokio::time::sleep_until(at).await,
                    Expiry::Expired => {
                        let event = Event::Typing { room, user, is_typing: false };
                        chat.publish(Audience::RoomExcept(room, conn), event);
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// Clears a typing flag if one is set, telling the others.
    pub(super) fn stop_typing(&self, room: RoomId, user: &UserSummary, conn: &ConnId) {
        if self.inner.typing.clear((room, user.id)) {
            let event = Event::Typing { room, user: user.clone(), is_typing: false };
            self.publish(Audience::RoomExcept(room, conn.clone()), event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_repeated_true_within_the_window_is_absorbed_and_only_moves_the_expiry() {
        let t = Typing::default();
        let key = (RoomId(1), UserId(2));
        let (ttl, repeat) = (Duration::from_secs(5), Duration::from_millis(1500));
        let start = Instant::now();
        let Set::New(generation) = t.set(key, start, ttl, repeat) else { panic!("a new flag") };
        assert!(!t.announces(key, start + Duration::from_secs(1), repeat));
        assert_eq!(t.set(key, start + Duration::from_secs(1), ttl, repeat), Set::Absorbed);
        assert!(matches!(t.expiry(key, generation, start + ttl), Expiry::Later(at) if at == start + Duration::from_secs(6)));
        assert_eq!(t.set(key, start + Duration::from_secs(2), ttl, repeat), Set::Again);
        assert!(matches!(t.expiry(key, generation, start + Duration::from_secs(7)), Expiry::Expired));
        assert!(matches!(t.expiry(key, generation, start + Duration::from_secs(7)), Expiry::Gone));
    }
}
