use serde::{Deserialize, Serialize};

use super::{ChatError, MessageId, RoomId, Timestamp, User, UserId, text};

/// A room's name: 1..=50 characters, stored NFKC with its blanks folded, no
/// invisible or text-direction characters ([`super::text`]). Unique by its
/// confusable skeleton ([`RoomName::key`]), so no room can pass for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = text::clean_name(raw).map_err(|p| match p {
            text::NameProblem::Blank => ChatError::RoomNameEmpty,
            text::NameProblem::Hidden => ChatError::InvalidRoomName,
        })?;
        // The key's bound is checked for every character by a test; this is
        // the belt to it, so the store never sees a key its column cannot hold.
        if s.chars().count() > Self::MAX_CHARS || text::skeleton_key(&s).chars().count() > text::MAX_KEY_CHARS {
            return Err(ChatError::RoomNameTooLong);
        }
        Ok(Self(s))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form (the `room_name_folded` column, unique since the
    /// first schema).
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }

    /// The key uniqueness is checked on (the `name_key` column): the UTS #39
    /// skeleton, case-folded. `General`, `general` and `Gеneral` (Cyrillic
    /// `е`) have one key.
    pub fn key(&self) -> String {
        text::skeleton_key(&self.0)
    }
}

/// Who may see and use a room. Only `Public` exists today; `Private` and
/// `Direct` are the roadmap's invite-only rooms and DMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    Public,
    Private,
    Direct,
}

impl RoomType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            "direct" => Some(Self::Direct),
            _ => None,
        }
    }

    /// The type a client may ask for when creating a room (`POST /api/rooms`):
    /// a direct room is made by `POST /api/direct`, not by name.
    pub fn parse_creatable(raw: &str) -> Result<Self, ChatError> {
        match raw {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            _ => Err(ChatError::invalid("room_type must be public or private")),
        }
    }
}

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    /// For a direct room, its members' usernames joined by ", " in id order.
    pub name: RoomName,
    pub room_type: RoomType,
    /// `None` for the rooms a fresh install starts with, and for direct rooms.
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    /// `""` when none.
    pub topic: String,
    pub archived: bool,
}

/// A room's topic: 0..=250 characters after trimming, one line (no control
/// characters). Empty means no topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Topic(String);

impl Topic {
    pub const MAX_CHARS: usize = 250;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        if s.chars().count() > Self::MAX_CHARS || s.chars().any(char::is_control) {
            return Err(ChatError::InvalidTopic);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's role in a room (the server-wide role is [`super::Role`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Member,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }

    pub fn from_db(s: &str) -> Self {
        if s == "owner" { Self::Owner } else { Self::Member }
    }
}

/// One user's membership of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub joined_at: Timestamp,
}

/// A room as one user's room list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomListing {
    pub room: Room,
    /// `None` when the user is not a member.
    pub my_role: Option<MemberRole>,
    /// `None` for a room with no message yet.
    pub last_message_id: Option<MessageId>,
}

/// A member of a room, with the account as stored.
#[derive(Debug, Clone)]
pub struct MemberEntry {
    pub user: User,
    pub role: MemberRole,
    pub joined_at: Timestamp,
}

/// What creating a public or private room stores: the room, `created_by` as
/// its owner and each of `members` as a member, in one transaction.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: RoomName,
    pub room_type: RoomType,
    pub topic: Topic,
    pub created_by: UserId,
    pub at: Timestamp,
    pub members: Vec<UserId>,
}

/// What `PATCH /api/rooms/<id>` changes; `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct RoomChanges {
    pub name: Option<RoomName>,
    pub topic: Option<Topic>,
    pub archived: Option<bool>,
    /// When the change is made (an archived room's `archived_at`).
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_may_create_public_and_private_rooms_but_not_direct_ones_by_type() {
        assert_eq!(RoomType::parse_creatable("public"), Ok(RoomType::Public));
        assert_eq!(RoomType::parse_creatable("private"), Ok(RoomType::Private));
        for raw in ["direct", "Public", ""] {
            assert_eq!(RoomType::parse_creatable(raw).map_err(|e| e.code()), Err("invalid_payload"), "{raw}");
        }
    }

    #[test]
    fn a_room_name_is_trimmed_and_kept_as_typed() {
        assert_eq!(RoomName::parse("  Rust Lovers ").unwrap().as_str(), "Rust Lovers");
    }

    #[test]
    fn an_empty_or_blank_room_name_is_rejected() {
        assert_eq!(RoomName::parse(""), Err(ChatError::RoomNameEmpty));
        assert_eq!(RoomName::parse(" \t "), Err(ChatError::RoomNameEmpty));
    }

    #[test]
    fn a_room_name_longer_than_fifty_characters_is_rejected() {
        assert!(RoomName::parse(&"é".repeat(50)).is_ok());
        assert_eq!(RoomName::parse(&"é".repeat(51)), Err(ChatError::RoomNameTooLong));
    }

    #[test]
    fn a_room_name_with_invisible_or_bidi_characters_is_rejected() {
        for bad in ["General\u{200B}", "\u{202E}lareneG", "Gen\u{00AD}eral", "\u{3164}"] {
            assert_eq!(RoomName::parse(bad), Err(ChatError::InvalidRoomName), "{bad:?}");
        }
        assert_eq!(RoomName::parse("\u{2800}\u{3000}"), Err(ChatError::RoomNameEmpty));
    }

    #[test]
    fn a_topic_of_up_to_two_hundred_fifty_characters_on_one_line_is_accepted() {
        assert_eq!(Topic::parse("  Plans for Q3 ").unwrap().as_str(), "Plans for Q3");
        assert_eq!(Topic::parse("").unwrap().as_str(), "");
        assert!(Topic::parse(&"é".repeat(250)).is_ok());
        for bad in ["é".repeat(251), "two\nlines".into(), "tab\there".into(), "bell\u{7}".into()] {
            assert_eq!(Topic::parse(&bad), Err(ChatError::InvalidTopic), "{bad:?}");
        }
    }

    #[test]
    fn confusable_and_differently_normalized_room_names_share_one_key() {
        let key = |s: &str| RoomName::parse(s).unwrap().key();
        assert_eq!(key("General"), key("G\u{0435}neral"));
        assert_eq!(key("General"), key("general"));
        assert_eq!(RoomName::parse("Cafe\u{0301}").unwrap(), RoomName::parse("Caf\u{00E9}").unwrap());
        assert_ne!(key("General"), key("Random"));
    }
}
