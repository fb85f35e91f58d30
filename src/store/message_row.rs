//! One shape for a stored message: [`MessageRow`], its columns listed once.
//!
//! Every read of a message goes through it: the `SELECT` list of every
//! backend ([`MessageRow::COLUMNS`]), the row mapping ([`MessageRow::read`]),
//! SQLite's page of history as one JSON array ([`MessageRow::JSON_ARRAY`],
//! decoded by serde in the same field order), and the domain [`Message`]
//! ([`MessageRow::into_message`]). A new stored field (`seq`, `edited_at`,
//! `parent_id`, ...) is one line in [`stored_message!`] and one in
//! `into_message`.

use serde::Deserialize;

use super::rows::ParleyRow;
use crate::domain::{
    AvatarColor, ClientId, DisplayName, Message, MessageBody, MessageId, MessageType, RoomId, Timestamp, UserId,
    UserSummary, Username,
};

/// A column's Rust type, read by name from any backend's row.
pub(crate) trait Column: Sized {
    fn get<R: ParleyRow>(row: &R, name: &str) -> Result<Self, R::Error>;
}

impl Column for i64 {
    fn get<R: ParleyRow>(row: &R, name: &str) -> Result<Self, R::Error> {
        row.int(name)
    }
}
impl Column for Option<i64> {
    fn get<R: ParleyRow>(row: &R, name: &str) -> Result<Self, R::Error> {
        row.opt_int(name)
    }
}
impl Column for String {
    fn get<R: ParleyRow>(row: &R, name: &str) -> Result<Self, R::Error> {
        row.text(name)
    }
}
impl Column for Option<String> {
    fn get<R: ParleyRow>(row: &R, name: &str) -> Result<Self, R::Error> {
        row.opt_text(name)
    }
}

/// Defines [`MessageRow`] from one list of `field: Type = "SQL expression"`,
/// on `messages m JOIN users u ON u.id = m.user_id`.
macro_rules! stored_message {
    ($first:ident: $first_ty:ty = $first_sql:literal $(, $field:ident: $ty:ty = $sql:literal)* $(,)?) => {
        /// A message as stored, with its author as they are now; one field per
        /// column of [`MessageRow::COLUMNS`], in that order.
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        pub(crate) struct MessageRow {
            pub $first: $first_ty,
            $(pub $field: $ty,)*
        }

        impl MessageRow {
            /// The `SELECT` list, each expression named as its field.
            pub const COLUMNS: &'static str =
                concat!($first_sql, " AS ", stringify!($first) $(, ", ", $sql, " AS ", stringify!($field))*);

            /// SQLite's `json_array(...)` of the fields, over a subquery of [`Self::COLUMNS`].
            pub const JSON_ARRAY: &'static str =
                concat!("json_array(", stringify!($first) $(, ", ", stringify!($field))*, ")");

            /// Reads a row of [`Self::COLUMNS`] on any backend.
            pub fn read<R: ParleyRow>(row: &R) -> Result<Self, R::Error> {
                Ok(Self {
                    $first: Column::get(row, stringify!($first))?,
                    $($field: Column::get(row, stringify!($field))?,)*
                })
            }
        }
    };
}

stored_message! {
    id: i64 = "m.id",
    room_id: i64 = "m.room_id",
    user_id: i64 = "m.user_id",
    username: String = "u.username",
    display_name: String = "u.display_name",
    avatar_color: String = "u.avatar_color",
    message: String = "m.message",
    message_type: String = "m.message_type",
    client_id: Option<String> = "m.client_id",
    created_at: i64 = "m.created_at",
}

impl MessageRow {
    /// `FROM` and `JOIN` that [`Self::COLUMNS`] reads.
    pub const FROM: &'static str = " FROM messages m JOIN users u ON u.id = m.user_id";

    pub fn into_message(self) -> Message {
        Message {
            id: MessageId(self.id),
            room_id: RoomId(self.room_id),
            author: UserSummary {
                id: UserId(self.user_id),
                username: Username::from_trusted(self.username),
                display_name: DisplayName::from_trusted(self.display_name),
                avatar_color: AvatarColor::from_trusted(self.avatar_color),
            },
            body: MessageBody::from_trusted(self.message),
            message_type: MessageType::from_db(&self.message_type),
            client_id: self.client_id.map(ClientId::from_trusted),
            created_at: Timestamp::from_millis(self.created_at),
        }
    }
}

/// `SELECT <columns> FROM messages m JOIN users u ...`, for a `WHERE` to follow.
pub(crate) fn select() -> &'static str {
    static SELECT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {}{}", MessageRow::COLUMNS, MessageRow::FROM));
    &SELECT
}

/// Reads a message row into the domain's [`Message`].
pub fn message<R: ParleyRow>(r: &R) -> Result<Message, R::Error> {
    MessageRow::read(r).map(MessageRow::into_message)
}

#[cfg(test)]
mod tests {
    use super::MessageRow;

    #[test]
    fn the_columns_and_the_json_array_name_the_fields_in_one_order() {
        assert!(MessageRow::COLUMNS.starts_with("m.id AS id, m.room_id AS room_id, "));
        assert!(MessageRow::COLUMNS.ends_with("m.created_at AS created_at"));
        assert!(MessageRow::JSON_ARRAY.starts_with("json_array(id, room_id, user_id, "));
        let row: MessageRow =
            serde_json::from_str(r##"[7, 1, 2, "ann", "Ann", "#e53935", "hi", "text", null, 1000]"##).unwrap();
        assert_eq!((row.id, row.message.as_str(), row.client_id, row.created_at), (7, "hi", None, 1000));
    }
}
