use serde::{Deserialize, Serialize};

use super::{ChatError, MessageId, RoomId, Timestamp, UserSummary};

/// A message's text: 1..=4000 Unicode scalar values after trimming. Stored
/// exactly as sent (after the trim); rendering is the client's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ChatError::MessageEmpty);
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(ChatError::MessageTooLong);
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

/// The client's own name for a send, so a retry is recognised: 1..=64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let n = raw.chars().count();
        if n == 0 || n > Self::MAX_CHARS || raw.chars().any(char::is_control) {
            return Err(ChatError::invalid("client_id must be 1 to 64 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    System,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::System => "system",
        }
    }

    pub fn from_db(s: &str) -> Self {
        if s == "system" { Self::System } else { Self::Text }
    }
}

/// Which slice of a room's history to read. Every page comes back oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages.
    Latest { limit: u32 },
    /// The `limit` messages just older than `id`.
    Before { id: MessageId, limit: u32 },
    /// The `limit` messages just newer than `id`.
    After { id: MessageId, limit: u32 },
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 200;

    /// Reads the `before`, `after` and `limit` query parameters of a history
    /// request: cursors are positive ids (`after=0` reads from the first
    /// message), `limit` is 1..=200 (default 100), and at most one cursor is given.
    pub fn parse(before: Option<&str>, after: Option<&str>, limit: Option<&str>) -> Result<Self, ChatError> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| ChatError::invalid("limit must be a whole number from 1 to 200"))?,
        };
        let cursor = |name: &str, raw: &str, lowest: i64| {
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= lowest)
                .map(MessageId)
                .ok_or_else(|| ChatError::invalid(format!("{name} must be a message id (a positive whole number)")))
        };
        match (before, after) {
            (Some(_), Some(_)) => Err(ChatError::invalid("give either before or after, not both")),
            (Some(b), None) => Ok(Self::Before { id: cursor("before", b, 1)?, limit }),
            (None, Some(a)) => Ok(Self::After { id: cursor("after", a, 0)?, limit }),
            (None, None) => Ok(Self::Latest { limit }),
        }
    }
}

/// What a send asks the store to keep.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub author: UserSummary,
    pub body: MessageBody,
    pub message_type: MessageType,
    pub client_id: Option<ClientId>,
    pub created_at: Timestamp,
}

impl NewMessage {
    /// The message as stored under `id`.
    pub fn stored_as(self, id: MessageId) -> Message {
        Message {
            id,
            room_id: self.room_id,
            author: self.author,
            body: self.body,
            message_type: self.message_type,
            client_id: self.client_id,
            created_at: self.created_at,
        }
    }
}

/// A stored message with its author as they were when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub author: UserSummary,
    pub body: MessageBody,
    pub message_type: MessageType,
    pub client_id: Option<ClientId>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_trimmed_and_must_not_be_blank() {
        assert_eq!(MessageBody::parse("  hi \n").unwrap().as_str(), "hi");
        assert_eq!(MessageBody::parse(" \n\t"), Err(ChatError::MessageEmpty));
    }

    #[test]
    fn a_message_of_four_thousand_scalar_values_is_accepted_and_one_more_is_not() {
        assert!(MessageBody::parse(&"😀".repeat(4000)).is_ok());
        assert_eq!(MessageBody::parse(&"😀".repeat(4001)), Err(ChatError::MessageTooLong));
    }

    #[test]
    fn markup_is_kept_verbatim() {
        let raw = "<script>alert(1)</script>";
        assert_eq!(MessageBody::parse(raw).unwrap().as_str(), raw);
    }

    #[test]
    fn a_history_page_defaults_to_the_latest_hundred() {
        assert_eq!(Page::parse(None, None, None), Ok(Page::Latest { limit: 100 }));
        assert_eq!(Page::parse(Some("9"), None, Some("5")), Ok(Page::Before { id: MessageId(9), limit: 5 }));
        assert_eq!(Page::parse(None, Some("3"), Some("200")), Ok(Page::After { id: MessageId(3), limit: 200 }));
        assert_eq!(Page::parse(None, Some("0"), None), Ok(Page::After { id: MessageId(0), limit: 100 }), "from the start");
    }

    #[test]
    fn a_limit_outside_one_to_two_hundred_or_a_bad_cursor_is_rejected() {
        for (b, a, l) in [(None, None, Some("0")), (None, None, Some("201")), (None, None, Some("x")),
                          (Some("abc"), None, None), (None, Some("-1"), None), (Some("0"), None, None), (Some("1"), Some("2"), None)] {
            assert!(matches!(Page::parse(b, a, l), Err(ChatError::InvalidPayload(_))), "{b:?} {a:?} {l:?}");
        }
    }

    #[test]
    fn a_client_id_longer_than_sixty_four_characters_is_rejected() {
        assert!(ClientId::parse(&"a".repeat(64)).is_ok());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
        assert!(ClientId::parse("").is_err());
    }
}
