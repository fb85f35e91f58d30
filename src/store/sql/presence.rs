//! Presence that outlives a connection ([`crate::store::PresenceStore`]).

use super::Stmt;
use crate::domain::{Timestamp, UserId};
use crate::store::rows;

pub fn set_last_seen(user: UserId, at: Timestamp) -> Stmt {
    Stmt::new("UPDATE users SET last_seen = ").bind(at.as_millis()).push(" WHERE id = ").bind(user.0)
}

pub fn forget_online() -> Stmt {
    Stmt::new("DELETE FROM presence_carryover")
}

/// Remembers `users` (at most 1,000: call it per chunk), skipping repeats;
/// `ignore` is [`super::Exec::INSERT_IGNORE`].
pub fn remember_online(users: &[UserId], stopped_at: Timestamp, ignore: (&'static str, &'static str)) -> Stmt {
    let mut s = Stmt::new(ignore.0).push("presence_carryover (user_id, stopped_at) VALUES ");
    for (i, user) in users.iter().enumerate() {
        s = s.push(if i == 0 { "(" } else { ", (" }).bind(user.0).push(", ").bind(stopped_at.as_millis()).push(")");
    }
    s.push(ignore.1)
}

pub fn carried_over() -> Stmt {
    Stmt::new(rows::CARRIED_OVER)
}

pub fn carried_sessions(now: Timestamp) -> Stmt {
    Stmt::new(concat!(
        "SELECT s.token_hash, ",
        user_columns!(),
        ", s.expires_at FROM presence_carryover c JOIN sessions s ON s.user_id = c.user_id \
         JOIN users u ON u.id = c.user_id WHERE s.expires_at > "
    ))
    .bind(now.as_millis())
    .push(" ORDER BY s.expires_at DESC LIMIT 10000")
}

use crate::store::rows::user_columns;
