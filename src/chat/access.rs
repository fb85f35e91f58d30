//! Who may do what with a room: the one function every route and event that
//! names a room goes through (docs/protocol.md, "Who may do what").
//!
//! [`decide`] is the table itself, a pure function of the room's type, whether
//! it is archived, and the user's standing in it; `Chat::access` (in
//! `members.rs`) gathers those facts from memory and asks it.

use crate::domain::{ChatError, RoomType};

/// What a user wants to do with a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Know that it exists: the room list, `GET /members`, `online-users`.
    See,
    /// Read its history.
    Read,
    /// Send a message or a typing notice.
    Send,
    /// Become a member (`join_room`, `POST members` with one's own id), or
    /// subscribe one more socket to a room one is a member of.
    Join,
    /// Add other users as members.
    AddOthers,
    /// Remove another member.
    RemoveOthers,
    /// End one's own membership.
    Leave,
    /// Rename, set the topic, archive or unarchive.
    Manage,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::See,
        Action::Read,
        Action::Send,
        Action::Join,
        Action::AddOthers,
        Action::RemoveOthers,
        Action::Leave,
        Action::Manage,
    ];
}

/// A user's standing in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// The user is a member of the room.
    pub member: bool,
    /// The user is one of the room's owners (implies `member`).
    pub owner: bool,
    /// The user is a server admin.
    pub admin: bool,
}

impl Standing {
    pub const STRANGER: Standing = Standing { member: false, owner: false, admin: false };
    pub const MEMBER: Standing = Standing { member: true, owner: false, admin: false };
    pub const OWNER: Standing = Standing { member: true, owner: true, admin: false };

    /// An owner's rights: an owner, or an admin (who sees the room at all).
    fn manages(self) -> bool {
        self.owner || self.admin
    }
}

/// Decides whether a user of `standing` may do `action` in a room of
/// `room_type`, archived or not. The order of the checks is the contract:
/// a room one may not see is `room_not_found` whatever was asked, before
/// anything else is looked at; then what a direct room never allows; then
/// what an archived room no longer allows; then roles.
pub fn decide(room_type: RoomType, archived: bool, standing: Standing, action: Action) -> Result<(), ChatError> {
    let visible = room_type == RoomType::Public || standing.member;
    if !visible {
        return Err(ChatError::RoomNotFound);
    }
    let direct = room_type == RoomType::Direct;
    match action {
        Action::See | Action::Read => Ok(()),
        Action::Send if archived => Err(ChatError::RoomArchived),
        Action::Send if standing.member => Ok(()),
        Action::Send => Err(ChatError::NotInRoom),
        Action::Join if archived => Err(ChatError::RoomArchived),
        // A member subscribes one more socket to a room of theirs, whatever its type.
        Action::Join if standing.member => Ok(()),
        Action::Join => match room_type {
            RoomType::Public => Ok(()),
            RoomType::Private => Err(ChatError::Forbidden),
            RoomType::Direct => Err(ChatError::DirectRoom),
        },
        Action::AddOthers | Action::RemoveOthers | Action::Leave | Action::Manage if direct => {
            Err(ChatError::DirectRoom)
        }
        Action::AddOthers if room_type == RoomType::Public => Err(ChatError::Forbidden),
        Action::AddOthers if archived => Err(ChatError::RoomArchived),
        Action::AddOthers | Action::RemoveOthers | Action::Manage => {
            if standing.manages() { Ok(()) } else { Err(ChatError::Forbidden) }
        }
        Action::Leave if standing.member => Ok(()),
        Action::Leave => Err(ChatError::NotAMember),
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    const ADMIN: Standing = Standing { member: false, owner: false, admin: true };
    const ADMIN_MEMBER: Standing = Standing { member: true, owner: false, admin: true };

    fn code(room_type: RoomType, archived: bool, standing: Standing, action: Action) -> &'static str {
        match decide(room_type, archived, standing, action) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    /// docs/protocol.md's table, row by row: (who, [see, read, send, join,
    /// add others, remove others, leave, manage]).
    #[test]
    fn the_table_of_who_may_do_what() {
        use RoomType::*;
        let table: &[(RoomType, &str, Standing, [&str; 8])] = &[
            (Public, "stranger", Standing::STRANGER,
             ["ok", "ok", "not_in_room", "ok", "forbidden", "forbidden", "not_a_member", "forbidden"]),
            (Public, "member", Standing::MEMBER,
             ["ok", "ok", "ok", "ok", "forbidden", "forbidden", "ok", "forbidden"]),
            (Public, "owner", Standing::OWNER,
             ["ok", "ok", "ok", "ok", "forbidden", "ok", "ok", "ok"]),
            (Public, "admin", ADMIN,
             ["ok", "ok", "not_in_room", "ok", "forbidden", "ok", "not_a_member", "ok"]),
            (Private, "stranger", Standing::STRANGER, ["room_not_found"; 8]),
            (Private, "admin, not a member", ADMIN, ["room_not_found"; 8]),
            (Private, "member", Standing::MEMBER,
             ["ok", "ok", "ok", "ok", "forbidden", "forbidden", "ok", "forbidden"]),
            (Private, "owner", Standing::OWNER, ["ok"; 8]),
            (Private, "admin member", ADMIN_MEMBER, ["ok"; 8]),
            (Direct, "stranger", Standing::STRANGER, ["room_not_found"; 8]),
            (Direct, "admin, not a member", ADMIN, ["room_not_found"; 8]),
            (Direct, "member", Standing::MEMBER,
             ["ok", "ok", "ok", "ok", "direct_room", "direct_room", "direct_room", "direct_room"]),
            (Direct, "admin member", ADMIN_MEMBER,
             ["ok", "ok", "ok", "ok", "direct_room", "direct_room", "direct_room", "direct_room"]),
        ];
        for (room_type, who, standing, expected) in table {
            for (action, want) in Action::ALL.iter().zip(expected) {
                assert_eq!(code(*room_type, false, *standing, *action), *want, "{room_type:?} {who} {action:?}");
            }
        }
    }

    #[test]
    fn an_archived_room_stays_readable_but_nobody_sends_to_it_or_joins_it() {
        for room_type in [RoomType::Public, RoomType::Private, RoomType::Direct] {
            for standing in [Standing::MEMBER, Standing::OWNER, ADMIN_MEMBER] {
                assert_eq!(code(room_type, true, standing, Read), "ok");
                assert_eq!(code(room_type, true, standing, Send), "room_archived");
                assert_eq!(code(room_type, true, standing, Join), "room_archived");
            }
        }
        assert_eq!(code(RoomType::Public, true, Standing::STRANGER, Join), "room_archived");
    }

    #[test]
    fn an_owner_may_unarchive_and_members_may_still_leave_an_archived_room() {
        assert_eq!(code(RoomType::Private, true, Standing::OWNER, Manage), "ok");
        assert_eq!(code(RoomType::Private, true, Standing::MEMBER, Leave), "ok");
        assert_eq!(code(RoomType::Private, true, Standing::OWNER, AddOthers), "room_archived");
    }

    #[test]
    fn a_room_one_may_not_see_is_not_found_whatever_is_asked() {
        for action in Action::ALL {
            for archived in [false, true] {
                assert_eq!(code(RoomType::Private, archived, ADMIN, action), "room_not_found");
                assert_eq!(code(RoomType::Direct, archived, Standing::STRANGER, action), "room_not_found");
            }
        }
    }
}
