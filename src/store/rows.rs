//! Row → domain mapping shared by every backend: the column names and the
//! storage types (BIGINT ids and millisecond times, text) are the same on each.

use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use super::{CarriedOver, SessionUser};

use crate::domain::{
    AvatarColor, ClientId, DisplayName, Message, MessageBody, MessageId, MessageType, Room, RoomId, RoomName,
    RoomType, Timestamp, User, UserId, UserSummary, Username,
};

/// The column types Parley reads. Every sqlx backend decodes them, and so
/// does the SQLite writer's own connection ([`super::sqlite`]).
pub trait ParleyRow {
    type Error;
    fn int(&self, col: &str) -> Result<i64, Self::Error>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, Self::Error>;
    fn text(&self, col: &str) -> Result<String, Self::Error>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, Self::Error>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, Self::Error>;
}

impl<R, DB> ParleyRow for R
where
    R: Row<Database = DB>,
    DB: Database,
    for<'r> &'r str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
{
    type Error = sqlx::Error;
    fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        self.try_get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(col)
    }
    fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        self.try_get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(col)
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(col)
    }
}

/// `SELECT` list for [`user`], on `users u`.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.email, u.display_name, u.avatar_color, u.password_hash, u.created_at, u.last_seen"
    };
}

/// `SELECT` list for [`room`], on `rooms r`.
macro_rules! room_columns {
    () => {
        "r.id, r.room_name, r.room_type, r.created_by, r.created_at"
    };
}

/// `SELECT` list for [`message`], on `messages m JOIN users u`.
macro_rules! message_columns {
    () => {
        "m.id, m.room_id, m.user_id, u.username, u.display_name, u.avatar_color, \
         m.message, m.message_type, m.client_id, m.created_at"
    };
}

pub(crate) use {message_columns, room_columns, user_columns};

/// Who the last graceful stop left online, with when it stopped ([`super::Store::take_online`]).
pub const CARRIED_OVER: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", c.stopped_at FROM presence_carryover c JOIN users u ON u.id = c.user_id ORDER BY u.id"
);

/// A row of [`CARRIED_OVER`].
fn carried_over<R: ParleyRow>(r: &R) -> Result<(User, Timestamp), R::Error> {
    Ok((user(r)?, Timestamp::from_millis(r.int("stopped_at")?)))
}

/// The live sessions of those [`CARRIED_OVER`] names, given the placeholder
/// for `now` ([`super::CarriedOver::sessions`]).
macro_rules! carried_sessions {
    ($now:literal) => {
        concat!(
            "SELECT s.token_hash, ",
            crate::store::rows::user_columns!(),
            ", s.expires_at FROM presence_carryover c JOIN sessions s ON s.user_id = c.user_id \
             JOIN users u ON u.id = c.user_id WHERE s.expires_at > ",
            $now,
            " ORDER BY s.expires_at DESC LIMIT 10000"
        )
    };
}
pub(crate) use carried_sessions;

/// A row of [`carried_sessions`].
fn carried_session<R: ParleyRow>(r: &R) -> Result<(Vec<u8>, SessionUser), R::Error> {
    Ok((r.bytes("token_hash")?, session_user(r)?))
}

/// What [`CARRIED_OVER`] and [`carried_sessions`] found.
pub fn carried<R: ParleyRow>(online: &[R], sessions: &[R]) -> Result<CarriedOver, R::Error> {
    Ok(CarriedOver {
        online: online.iter().map(carried_over).collect::<Result<_, _>>()?,
        sessions: sessions.iter().map(carried_session).collect::<Result<_, _>>()?,
    })
}

/// A [`user`] row with the session's `expires_at` beside it.
pub fn session_user<R: ParleyRow>(r: &R) -> Result<SessionUser, R::Error> {
    Ok(SessionUser { user: user(r)?, expires_at: Timestamp::from_millis(r.int("expires_at")?) })
}

pub fn user<R: ParleyRow>(r: &R) -> Result<User, R::Error> {
    Ok(User {
        id: UserId(r.int("id")?),
        username: Username::from_trusted(r.text("username")?),
        email: r.text("email")?,
        display_name: DisplayName::from_trusted(r.text("display_name")?),
        avatar_color: AvatarColor::from_trusted(r.text("avatar_color")?),
        password_hash: r.text("password_hash")?,
        created_at: Timestamp::from_millis(r.int("created_at")?),
        last_seen: r.opt_int("last_seen")?.map(Timestamp::from_millis),
    })
}

pub fn room<R: ParleyRow>(r: &R) -> Result<Room, R::Error> {
    Ok(Room {
        id: RoomId(r.int("id")?),
        name: RoomName::from_trusted(r.text("room_name")?),
        room_type: RoomType::from_db(&r.text("room_type")?).unwrap_or(RoomType::Private),
        created_by: r.opt_int("created_by")?.map(UserId),
        created_at: Timestamp::from_millis(r.int("created_at")?),
    })
}

pub fn message<R: ParleyRow>(r: &R) -> Result<Message, R::Error> {
    Ok(Message {
        id: MessageId(r.int("id")?),
        room_id: RoomId(r.int("room_id")?),
        author: UserSummary {
            id: UserId(r.int("user_id")?),
            username: Username::from_trusted(r.text("username")?),
            display_name: DisplayName::from_trusted(r.text("display_name")?),
            avatar_color: AvatarColor::from_trusted(r.text("avatar_color")?),
        },
        body: MessageBody::from_trusted(r.text("message")?),
        message_type: MessageType::from_db(&r.text("message_type")?),
        client_id: r.opt_text("client_id")?.map(ClientId::from_trusted),
        created_at: Timestamp::from_millis(r.int("created_at")?),
    })
}

/// Reverses a page read newest-first, so every page is oldest first.
pub fn oldest_first(mut messages: Vec<Message>, newest_first: bool) -> Vec<Message> {
    if newest_first {
        messages.reverse();
    }
    messages
}
