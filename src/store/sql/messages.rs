//! Messages ([`crate::store::MessageStore`]) as the database servers read
//! them; SQLite reads a page as one JSON row (`sqlite::messages`), and each
//! backend stores them with its own group commit.

use super::Stmt;
use crate::domain::{ClientId, Page, RoomId, UserId};
use crate::store::rows::message_columns;

const SELECT: &str = concat!("SELECT ", message_columns!(), " FROM messages m JOIN users u ON u.id = m.user_id");

/// A page of `room`, and whether it comes newest first (to be reversed).
pub fn page(room: RoomId, page: Page) -> (Stmt, bool) {
    let s = Stmt::new(SELECT).push(" WHERE m.room_id = ").bind(room.0);
    match page {
        Page::Latest { limit } => (s.push(" ORDER BY m.id DESC LIMIT ").bind(i64::from(limit)), true),
        Page::Before { id, limit } => {
            (s.push(" AND m.id < ").bind(id.0).push(" ORDER BY m.id DESC LIMIT ").bind(i64::from(limit)), true)
        }
        Page::After { id, limit } => {
            (s.push(" AND m.id > ").bind(id.0).push(" ORDER BY m.id ASC LIMIT ").bind(i64::from(limit)), false)
        }
    }
}

/// The message `user` sent with `client_id`.
pub fn by_client_id(user: UserId, client_id: &ClientId) -> Stmt {
    Stmt::new(SELECT).push(" WHERE m.user_id = ").bind(user.0).push(" AND m.client_id = ").bind(client_id.as_str())
}
