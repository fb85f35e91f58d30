//! Sessions ([`crate::store::SessionStore`]).

use super::Stmt;
use crate::domain::{Timestamp, UserId};
use crate::store::NewSession;
use crate::store::rows::user_columns;

pub fn insert(s: &NewSession) -> Stmt {
    Stmt::new("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (")
        .bind(s.token_hash.clone())
        .push(", ")
        .bind_list([s.user_id.0, s.created_at.as_millis(), s.expires_at.as_millis()])
        .push(")")
}

/// The user of a live session; a deactivated user has none.
pub fn user_of(token_hash: &[u8], now: Timestamp) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        user_columns!(),
        ", s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = "
    ))
    .bind(token_hash)
    .push(" AND s.expires_at > ")
    .bind(now.as_millis())
    .push(" AND u.deactivated_at IS NULL")
}

pub fn delete(token_hash: &[u8]) -> Stmt {
    Stmt::new("DELETE FROM sessions WHERE token_hash = ").bind(token_hash)
}

/// The token hashes of `user`'s sessions but `except`.
pub fn hashes_of(user: UserId, except: Option<&[u8]>) -> Stmt {
    let s = Stmt::new("SELECT token_hash FROM sessions WHERE user_id = ").bind(user.0);
    match except {
        Some(keep) => s.push(" AND token_hash <> ").bind(keep),
        None => s,
    }
}

/// Deletes the sessions of `hashes` (those [`hashes_of`] found, so that one
/// made meanwhile is neither deleted nor reported); `None` for an empty list.
pub fn delete_hashes(user: UserId, hashes: &[Vec<u8>]) -> Option<Stmt> {
    if hashes.is_empty() {
        return None;
    }
    Some(
        Stmt::new("DELETE FROM sessions WHERE user_id = ")
            .bind(user.0)
            .push(" AND token_hash IN (")
            .bind_list(hashes.iter().cloned())
            .push(")"),
    )
}
