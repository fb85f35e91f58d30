use std::time::Duration;

/// Everything a user can get wrong, and the few things that can go wrong for them.
///
/// Each variant has a stable snake_case [`code`](ChatError::code) that clients may
/// match on (docs/protocol.md Part B); the `Display` text is the human message sent with
/// it. Internal details never appear in either: they are logged where they happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    InvalidPayload(String),
    #[error("Username must be 3 to 32 characters: letters, digits, '_', '.' or '-'")]
    InvalidUsername,
    #[error("Please enter a valid email address")]
    InvalidEmail,
    #[error("Password must be 8 to 256 characters")]
    InvalidPassword,
    #[error("That password is too common or too easy to guess; please choose another")]
    PasswordTooCommon,
    #[error(
        "Display name must be at most 64 characters, with no invisible or text-direction characters, \
         and no word mixing alphabets"
    )]
    InvalidDisplayName,
    #[error("That username is already taken")]
    UsernameTaken,
    #[error("That email address is already registered")]
    EmailTaken,
    #[error("Invalid username or password")]
    InvalidCredentials,
    #[error("You are not logged in")]
    NotAuthenticated,
    #[error("This request came from another site and was refused")]
    CrossSite,
    #[error("Room name cannot be empty")]
    RoomNameEmpty,
    #[error("Room name must be at most {max} characters", max = super::RoomName::MAX_CHARS)]
    RoomNameTooLong,
    #[error("A room with that name already exists")]
    RoomNameTaken,
    #[error("Room not found")]
    RoomNotFound,
    #[error("You have not joined this room")]
    NotInRoom,
    #[error("Message cannot be empty")]
    MessageEmpty,
    #[error("Message must be at most {max} characters", max = super::MessageBody::MAX_CHARS)]
    MessageTooLong,
    #[error("Too many requests; try again in {} s", .retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("The request is too large")]
    PayloadTooLarge,
    #[error("Unknown event '{0}'")]
    UnknownEvent(String),
    #[error("The server is busy; try again in {} s", .retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
    #[error("The service is temporarily unavailable; try again")]
    Unavailable,
    #[error("Something went wrong on our side")]
    Internal,
    #[error("This server does not answer to that host name")]
    UnknownHost,
    // Finding 7: names that hide or impersonate.
    #[error("Room name cannot contain invisible or text-direction characters")]
    InvalidRoomName,
    #[error("Too many connections for this account (at most {max}); close another tab or window")]
    TooManyConnections { max: u32 },
    #[error("The server's storage is full, so nothing was saved; try again later")]
    StorageFull,
    // Team conversations (docs/protocol.md, "Errors Part C adds").
    #[error("You are not allowed to do that")]
    Forbidden,
    #[error("This room is archived")]
    RoomArchived,
    #[error("A direct conversation cannot be changed that way")]
    DirectRoom,
    #[error("A direct conversation has 2 to 9 people, you included; at most 100 people per request")]
    InvalidMembers,
    #[error("User not found")]
    UserNotFound,
    #[error("That person is not a member of this room")]
    NotAMember,
    #[error("You are a member of too many rooms (at most 1,000); leave one first")]
    TooManyRooms,
    #[error("This room is full (at most 10,000 members)")]
    TooManyMembers,
    #[error("A topic is one line of at most 250 characters")]
    InvalidTopic,
    #[error("An avatar colour is written #rrggbb")]
    InvalidAvatarColor,
    #[error("Your current password is not correct")]
    WrongPassword,
    #[error("This account has been deactivated")]
    AccountDeactivated,
    #[error("Registration is closed on this server")]
    RegistrationClosed,
    #[error("Registration on this server needs an invite link")]
    InviteRequired,
    #[error("That invite link is not valid (unknown, expired or used up)")]
    InviteInvalid,
    #[error("There are too many live invites (at most 100); revoke one first")]
    TooManyInvites,
    #[error("No such invite (it may have been revoked already)")]
    InviteNotFound,
    #[error("The last admin cannot be demoted or deactivated")]
    LastAdmin,
    #[error("{0}")]
    InvalidSetting(String),
}

impl ChatError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPayload(_) => "invalid_payload",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidPassword => "invalid_password",
            Self::InvalidDisplayName => "invalid_display_name",
            Self::PasswordTooCommon => "password_too_common",
            Self::UsernameTaken => "username_taken",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::NotAuthenticated => "not_authenticated",
            Self::CrossSite => "cross_site_request",
            Self::RoomNameEmpty => "room_name_empty",
            Self::RoomNameTooLong => "room_name_too_long",
            Self::RoomNameTaken => "room_name_taken",
            Self::RoomNotFound => "room_not_found",
            Self::NotInRoom => "not_in_room",
            Self::MessageEmpty => "message_empty",
            Self::MessageTooLong => "message_too_long",
            Self::RateLimited { .. } => "rate_limited",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnknownEvent(_) => "unknown_event",
            Self::Busy { .. } => "server_busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::UnknownHost => "unknown_host",
            Self::InvalidRoomName => "invalid_room_name",
            Self::TooManyConnections { .. } => "too_many_connections",
            Self::StorageFull => "storage_full",
            Self::Forbidden => "forbidden",
            Self::RoomArchived => "room_archived",
            Self::DirectRoom => "direct_room",
            Self::InvalidMembers => "invalid_members",
            Self::UserNotFound => "user_not_found",
            Self::NotAMember => "not_a_member",
            Self::TooManyRooms => "too_many_rooms",
            Self::TooManyMembers => "too_many_members",
            Self::InvalidTopic => "invalid_topic",
            Self::InvalidAvatarColor => "invalid_avatar_color",
            Self::WrongPassword => "wrong_password",
            Self::AccountDeactivated => "account_deactivated",
            Self::RegistrationClosed => "registration_closed",
            Self::InviteRequired => "invite_required",
            Self::InviteInvalid => "invite_invalid",
            Self::TooManyInvites => "too_many_invites",
            Self::InviteNotFound => "invite_not_found",
            Self::LastAdmin => "last_admin",
            Self::InvalidSetting(_) => "invalid_setting",
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidPayload(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_message_says_when_to_retry() {
        let e = ChatError::RateLimited { retry_after: Duration::from_millis(2500) };
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.to_string(), "Too many requests; try again in 2 s");
    }
}
