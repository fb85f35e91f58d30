use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Ids on the wire are positive integers; anything else names nothing.
            pub fn parse(raw: i64) -> Option<Self> {
                (raw > 0).then_some(Self(raw))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// A user's id (`users.id`).
    UserId
);
int_id!(
    /// A room's id (`rooms.id`).
    RoomId
);
int_id!(
    /// A message's id (`messages.id`); commit-ordered within a room.
    MessageId
);

/// One live connection of a user (a browser tab, a device). The transport
/// chooses the string; the chat layer only compares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnId(pub String);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_negative_ids_name_nothing() {
        assert_eq!(RoomId::parse(0), None);
        assert_eq!(RoomId::parse(-3), None);
        assert_eq!(RoomId::parse(7), Some(RoomId(7)));
    }
}
