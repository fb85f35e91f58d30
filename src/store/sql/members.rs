//! Room membership ([`crate::store::MemberStore`]).

use super::Stmt;
use crate::domain::{MemberRole, RoomId, Timestamp, UserId};
use crate::store::rows::user_columns;

/// Plain `INSERT`, for [`insert`] into a room made in the same transaction.
pub const INSERT: (&str, &str) = ("INSERT INTO ", "");

/// The members a new room starts with: its owner first, then each of
/// `members` once. A user who does not exist then fails the room (MariaDB's
/// `INSERT IGNORE` would skip them), so the new room's inserts are plain ones.
pub fn first_members(owner: Option<UserId>, members: &[UserId]) -> Vec<(UserId, MemberRole)> {
    let mut seen = std::collections::HashSet::new();
    owner
        .map(|o| (o, MemberRole::Owner))
        .into_iter()
        .chain(members.iter().map(|&m| (m, MemberRole::Member)))
        .filter(|(u, _)| seen.insert(*u))
        .collect()
}

/// Adds `user` unless they are a member already; `ignore` is [`super::Exec::INSERT_IGNORE`]
/// (on MariaDB a user who does not exist is skipped too), or [`INSERT`].
pub fn insert(room: RoomId, user: UserId, role: MemberRole, at: Timestamp, ignore: (&'static str, &'static str)) -> Stmt {
    Stmt::new(ignore.0)
        .push("room_members (room_id, user_id, role, joined_at) VALUES (")
        .bind_list([room.0, user.0])
        .push(", ")
        .bind(role.as_str())
        .push(", ")
        .bind(at.as_millis())
        .push(")")
        .push(ignore.1)
}

pub fn is_member(room: RoomId, user: UserId) -> Stmt {
    Stmt::new("SELECT 1 AS n FROM room_members WHERE room_id = ").bind(room.0).push(" AND user_id = ").bind(user.0)
}

pub fn membership(room: RoomId, user: UserId) -> Stmt {
    Stmt::new("SELECT room_id, user_id, role, joined_at FROM room_members WHERE room_id = ")
        .bind(room.0)
        .push(" AND user_id = ")
        .bind(user.0)
}

pub fn rooms_of(user: UserId) -> Stmt {
    Stmt::new(
        "SELECT m.room_id, m.user_id, m.role, m.joined_at FROM room_members m JOIN rooms r ON r.id = m.room_id \
         WHERE m.user_id = ",
    )
    .bind(user.0)
    .push(" AND r.archived_at IS NULL ORDER BY m.room_id")
}

pub fn entries(room: RoomId) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        user_columns!(),
        ", m.role AS member_role, m.joined_at FROM room_members m JOIN users u ON u.id = m.user_id WHERE m.room_id = "
    ))
    .bind(room.0)
    .push(" ORDER BY m.joined_at, u.id")
}

/// The members of each of `rooms`, by room id then user id; `None` for an
/// empty list (no query to run).
pub fn of_rooms(rooms: &[RoomId]) -> Option<Stmt> {
    if rooms.is_empty() {
        return None;
    }
    let s = Stmt::new(concat!(
        "SELECT m.room_id AS member_room, ",
        user_columns!(),
        " FROM room_members m JOIN users u ON u.id = m.user_id WHERE m.room_id IN ("
    ));
    Some(s.bind_list(rooms.iter().map(|r| r.0)).push(") ORDER BY m.room_id, u.id"))
}

pub fn ids(room: RoomId) -> Stmt {
    Stmt::new("SELECT user_id AS n FROM room_members WHERE room_id = ").bind(room.0).push(" ORDER BY user_id")
}

pub fn remove(room: RoomId, user: UserId) -> Stmt {
    Stmt::new("DELETE FROM room_members WHERE room_id = ").bind(room.0).push(" AND user_id = ").bind(user.0)
}

pub fn set_role(room: RoomId, user: UserId, role: MemberRole) -> Stmt {
    Stmt::new("UPDATE room_members SET role = ")
        .bind(role.as_str())
        .push(" WHERE room_id = ")
        .bind(room.0)
        .push(" AND user_id = ")
        .bind(user.0)
}

pub fn count(room: RoomId) -> Stmt {
    Stmt::new("SELECT COUNT(*) AS n FROM room_members WHERE room_id = ").bind(room.0)
}

pub fn count_rooms_of(user: UserId) -> Stmt {
    Stmt::new("SELECT COUNT(*) AS n FROM room_members WHERE user_id = ").bind(user.0)
}
