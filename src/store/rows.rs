//! Row → domain mapping shared by every backend: the column names and the
//! storage types (BIGINT ids and millisecond times, text) are the same on each.

use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use super::{CarriedOver, SessionUser};

use crate::domain::{
    AvatarColor, ClientId, DisplayName, Invite, MemberEntry, MemberRole, Membership, Message, MessageBody, MessageId,
    MessageType, Role, Room, RoomId, RoomListing, RoomName, RoomType, Timestamp, User, UserId, UserSummary, Username,
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
        "u.id, u.username, u.email, u.display_name, u.avatar_color, u.password_hash, u.created_at, u.last_seen, \
         u.role, u.deactivated_at"
    };
}

/// `SELECT` list for [`room`], on `rooms r`.
macro_rules! room_columns {
    () => {
        "r.id, r.room_name, r.room_type, r.created_by, r.created_at, r.topic, r.archived_at"
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

/// A row of `sql::presence::carried_sessions`.
fn carried_session<R: ParleyRow>(r: &R) -> Result<(Vec<u8>, SessionUser), R::Error> {
    Ok((r.bytes("token_hash")?, session_user(r)?))
}

/// What [`CARRIED_OVER`] and `sql::presence::carried_sessions` found.
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
        role: Role::from_db(&r.text("role")?),
        deactivated: r.opt_int("deactivated_at")?.is_some(),
    })
}

pub fn room<R: ParleyRow>(r: &R) -> Result<Room, R::Error> {
    Ok(Room {
        id: RoomId(r.int("id")?),
        name: RoomName::from_trusted(r.text("room_name")?),
        room_type: RoomType::from_db(&r.text("room_type")?).unwrap_or(RoomType::Private),
        created_by: r.opt_int("created_by")?.map(UserId),
        created_at: Timestamp::from_millis(r.int("created_at")?),
        topic: r.text("topic")?,
        archived: r.opt_int("archived_at")?.is_some(),
    })
}

/// A [`room`] row with `my_role` and `last_message_id` beside it.
pub fn listing<R: ParleyRow>(r: &R) -> Result<RoomListing, R::Error> {
    Ok(RoomListing {
        room: room(r)?,
        my_role: r.opt_text("my_role")?.as_deref().map(MemberRole::from_db),
        last_message_id: r.opt_int("last_message_id")?.map(MessageId),
    })
}

/// A `room_members` row (`room_id, user_id, role, joined_at`).
pub fn membership<R: ParleyRow>(r: &R) -> Result<Membership, R::Error> {
    Ok(Membership {
        room_id: RoomId(r.int("room_id")?),
        user_id: UserId(r.int("user_id")?),
        role: MemberRole::from_db(&r.text("role")?),
        joined_at: Timestamp::from_millis(r.int("joined_at")?),
    })
}

/// A [`user`] row with the membership's `member_role` and `joined_at` beside it.
pub fn member_entry<R: ParleyRow>(r: &R) -> Result<MemberEntry, R::Error> {
    Ok(MemberEntry {
        user: user(r)?,
        role: MemberRole::from_db(&r.text("member_role")?),
        joined_at: Timestamp::from_millis(r.int("joined_at")?),
    })
}

/// `SELECT` list for [`invite`], on `invites`.
pub const INVITE_COLUMNS: &str = "id, created_by, created_at, expires_at, max_uses, uses";

pub fn invite<R: ParleyRow>(r: &R) -> Result<Invite, R::Error> {
    Ok(Invite {
        id: r.int("id")?,
        created_by: r.opt_int("created_by")?.map(UserId),
        created_at: Timestamp::from_millis(r.int("created_at")?),
        expires_at: Timestamp::from_millis(r.int("expires_at")?),
        max_uses: u32::try_from(r.int("max_uses")?).unwrap_or(0),
        uses: u32::try_from(r.int("uses")?).unwrap_or(0),
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
