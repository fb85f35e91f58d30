//! Typing indicators, with expiry for flags that are never cleared.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Audience, Chat, Event};
use crate::domain::{ChatError, ConnId, RoomId, UserId, UserSummary};

/// Who is typing where; each flag carries a generation so that only the
/// newest `typing: true` can expire.
#[derive(Default)]
pub(super) struct Typing {
    flags: Mutex<HashMap<(RoomId, UserId), u64>>,
    next: Mutex<u64>,
}

impl Typing {
    fn set(&self, key: (RoomId, UserId)) -> u64 {
        let generation = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            *next
        };
        self.flags.lock().unwrap_or_else(|p| p.into_inner()).insert(key, generation);
        generation
    }

    /// Clears the flag; with `generation`, only if it is still that one.
    fn clear(&self, key: (RoomId, UserId), generation: Option<u64>) -> bool {
        let mut flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
        match (flags.get(&key), generation) {
            (Some(g), Some(want)) if *g != want => false,
            (Some(_), _) => flags.remove(&key).is_some(),
            (None, _) => false,
        }
    }
}

impl Chat {
    /// A user started or stopped typing in a room their connection joined.
    /// The others in the room hear it; a `true` that is never followed by
    /// `false` expires after the typing TTL.
    pub fn typing(&self, conn: &ConnId, room: RoomId, is_typing: bool) -> Result<(), ChatError> {
        let user = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        if !self.inner.presence.is_in_room(conn, room) {
            return Err(ChatError::NotInRoom);
        }
        if !is_typing {
            self.stop_typing(room, &user, conn);
            return Ok(());
        }
        let key = (room, user.id);
        let generation = self.inner.typing.set(key);
        let event = Event::Typing { room, user: user.clone(), is_typing: true };
        self.publish(Audience::RoomExcept(room, conn.clone()), event);

        let chat = self.clone();
        let conn = conn.clone();
        let ttl = self.inner.config.typing_ttl;
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            if chat.inner.typing.clear(key, Some(generation)) {
                let event = Event::Typing { room, user, is_typing: false };
                chat.publish(Audience::RoomExcept(room, conn), event);
            }
        });
        Ok(())
    }

    /// Clears a typing flag if one is set, telling the others.
    pub(super) fn stop_typing(&self, room: RoomId, user: &UserSummary, conn: &ConnId) {
        if self.inner.typing.clear((room, user.id), None) {
            let event = Event::Typing { room, user: user.clone(), is_typing: false };
            self.publish(Audience::RoomExcept(room, conn.clone()), event);
        }
    }
}
