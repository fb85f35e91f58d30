use serde::{Deserialize, Serialize};

use super::{ChatError, RoomId, Timestamp, UserId};

/// A room's name: 1..=50 characters after trimming, no control characters.
/// Unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ChatError::RoomNameEmpty);
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(ChatError::RoomNameTooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(ChatError::invalid("Room name cannot contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness is checked on.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
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
}

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub name: RoomName,
    pub room_type: RoomType,
    /// `None` for the rooms a fresh install starts with.
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
