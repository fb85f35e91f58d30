//! Rooms ([`crate::store::RoomStore`]).

use super::Stmt;
use crate::domain::{NewRoom, RoomChanges, RoomId, RoomType, Timestamp, UserId};
use crate::store::rows::room_columns;

const SELECT: &str = concat!("SELECT ", room_columns!(), " FROM rooms r");

/// What a direct room holds in the unique name columns (`room_name_folded`,
/// `name_key`): a value no typed name can have (names hold no control
/// character), so direct rooms never take a name from anyone.
pub fn direct_name_key(key: &str) -> String {
    format!("\u{1}direct:{key}")
}

pub fn by_id(id: RoomId) -> Stmt {
    Stmt::new(SELECT).push(" WHERE r.id = ").bind(id.0)
}

pub fn by_name(folded: &str) -> Stmt {
    Stmt::new(SELECT).push(" WHERE r.room_name_folded = ").bind(folded)
}

pub fn by_direct_key(key: &str) -> Stmt {
    Stmt::new(SELECT).push(" WHERE r.direct_key = ").bind(key)
}

pub fn insert(room: &NewRoom) -> Stmt {
    Stmt::new("INSERT INTO rooms (room_name, room_name_folded, name_key, room_type, topic, created_by, created_at) VALUES (")
        .bind_list([
            room.name.as_str().to_owned(),
            room.name.folded(),
            room.name.key(),
            room.room_type.as_str().to_owned(),
            room.topic.as_str().to_owned(),
        ])
        .push(", ")
        .bind_list([room.created_by.0, room.at.as_millis()])
        .push(")")
}

pub fn insert_direct(key: &str, label: &str, at: Timestamp) -> Stmt {
    Stmt::new(
        "INSERT INTO rooms (room_name, room_name_folded, name_key, room_type, direct_key, created_at) VALUES (",
    )
    .bind_list([label.to_owned(), direct_name_key(key), direct_name_key(key), RoomType::Direct.as_str().to_owned(), key.to_owned()])
    .push(", ")
    .bind(at.as_millis())
    .push(")")
}

pub fn visible_to(user: UserId) -> Stmt {
    Stmt::new(SELECT)
        .push(
            " WHERE r.room_type = 'public' \
             OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = ",
        )
        .bind(user.0)
        .push(") ORDER BY r.id")
}

/// The room list of `user` (see [`crate::store::RoomStore::rooms_for`]).
pub fn listing(user: UserId, archived: bool) -> Stmt {
    Stmt::new(concat!(
        "SELECT ",
        room_columns!(),
        ", m.role AS my_role, (SELECT MAX(x.id) FROM messages x WHERE x.room_id = r.id) AS last_message_id \
         FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = "
    ))
    .bind(user.0)
    .push(" WHERE (r.room_type = 'public' OR m.user_id IS NOT NULL) AND r.archived_at ")
    .push(if archived { "IS NOT NULL" } else { "IS NULL" })
    .push(
        " ORDER BY CASE WHEN r.room_type = 'direct' THEN 1 ELSE 0 END, \
         CASE WHEN r.room_type = 'direct' THEN '' ELSE r.room_name_folded END, r.id",
    )
}

/// `None` when `changes` changes nothing.
pub fn update(id: RoomId, changes: &RoomChanges) -> Option<Stmt> {
    let mut s = Stmt::new("UPDATE rooms SET ");
    let mut any = false;
    let mut sep = |s: Stmt| {
        let s = if any { s.push(", ") } else { s };
        any = true;
        s
    };
    if let Some(name) = &changes.name {
        s = sep(s).push("room_name = ").bind(name.as_str()).push(", room_name_folded = ").bind(name.folded());
        s = s.push(", name_key = ").bind(name.key());
    }
    if let Some(topic) = &changes.topic {
        s = sep(s).push("topic = ").bind(topic.as_str());
    }
    if let Some(archived) = changes.archived {
        s = sep(s).push("archived_at = ").bind(archived.then(|| changes.at.as_millis()));
    }
    if !any {
        return None;
    }
    Some(s.push(" WHERE id = ").bind(id.0))
}
