//! What instances say to each other through Redis, as wire types of their own.
//!
//! The chat's [`ClusterMsg`], [`Event`] and [`Audience`] are domain types: they
//! change whenever a feature needs them to. What goes between instances must
//! not change with them, because during a rolling deploy an old instance reads
//! what a new one wrote, and the other way round. So every message is an
//! [`Envelope`] with an explicit version `v`, and version 1 is the structs
//! below, converted to and from the domain types in one place.
//!
//! Rules for changing this file:
//! - A field added to a V1 struct must be optional (`#[serde(default)]`), so
//!   that V1 written by an older instance still reads; an older instance
//!   ignores a field it does not know.
//! - A new kind of event or message is a new variant; an older instance logs
//!   and skips a variant it does not know, and so does this one.
//! - Anything else (a field that changes meaning or type, a removed field) is
//!   version 2, written only once every instance reads it.
//!
//! A message of a version this instance does not know, or that does not
//! read as its version says, is logged and skipped: never a crash.

use serde::{Deserialize, Serialize};

use crate::chat::{Audience, ClusterMsg, Event, MemberInfo, RoomInfo, Viewer};
use crate::domain::{
    AvatarColor, ClientId, ConnId, DisplayName, MemberRole, Message, MessageBody, MessageId, MessageType, Role, Room,
    RoomId, RoomName, RoomType, Timestamp, UserId, UserSummary, Username,
};

/// The version this instance writes.
pub const VERSION: u32 = 1;

/// A message between instances, with the instance that sent it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    pub from: String,
    pub msg: MsgV1,
}

/// What a message read from the channel turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A message for this instance to act on.
    Msg { from: String, msg: ClusterMsg },
    /// Sent by a newer instance in a form this one cannot read: skipped.
    Skipped(String),
}

/// Encodes `msg` as version 1; `None` for what never travels (a local signal).
pub fn encode(from: &str, msg: &ClusterMsg) -> Option<Result<String, serde_json::Error>> {
    let msg = MsgV1::from_domain(msg)?;
    Some(serde_json::to_string(&Envelope { v: VERSION, from: from.to_owned(), msg }))
}

/// Reads a message from the channel. `Err` only for text that is no
/// envelope at all; a version or a kind this instance does not know is
/// [`Decoded::Skipped`], with the reason.
pub fn decode(payload: &str) -> Result<Decoded, serde_json::Error> {
    #[derive(Deserialize)]
    struct Header {
        v: u32,
        from: String,
    }
    let header: Header = serde_json::from_str(payload)?;
    if header.v != VERSION {
        return Ok(Decoded::Skipped(format!("version {} from {} (this instance reads {VERSION})", header.v, header.from)));
    }
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) => Ok(Decoded::Msg { from: envelope.from, msg: envelope.msg.into_domain() }),
        Err(e) => Ok(Decoded::Skipped(format!("version 1 from {} not understood: {e}", header.from))),
    }
}

/// Version 1 of a message between instances.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MsgV1 {
    Event { audience: AudienceV1, event: EventV1 },
    SessionEnded { token_hash: Vec<u8> },
    SettingsChanged,
    MembershipChanged { room: i64, user: i64, member: bool },
    StandingChanged { user: i64 },
    RoomChanged { room: i64 },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum AudienceV1 {
    Everyone,
    Room { room: i64 },
    RoomExcept { room: i64, conn: String },
    User { user: i64 },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventV1 {
    NewMessage { message: MessageV1 },
    UserJoined {
        room: i64,
        user: UserV1,
        text: String,
        #[serde(default)]
        new_member: bool,
    },
    UserLeft {
        room: i64,
        user: UserV1,
        text: String,
        #[serde(default)]
        new_member: bool,
    },
    Typing { room: i64, user: UserV1, is_typing: bool },
    RoomCreated { room: RoomV1 },
    /// `last_seen` in milliseconds since the epoch.
    Presence { user: UserV1, is_online: bool, last_seen: Option<i64> },
    RoomAdded { room: RoomInfoV1 },
    RoomUpdated { room: RoomInfoV1 },
    RoomRemoved { room: i64 },
    MemberAdded { room: i64, member: MemberV1 },
    MemberRemoved { room: i64, user: i64 },
    UserUpdated { person: PersonV1 },
}

/// A user as the directory shows them (`user_updated`).
#[derive(Debug, Serialize, Deserialize)]
pub struct PersonV1 {
    pub user: UserV1,
    /// `admin` or `member`.
    pub role: String,
    pub deactivated: bool,
    pub is_online: bool,
    pub last_seen: Option<i64>,
}

/// A room with what a room list adds to it.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoomInfoV1 {
    pub room: RoomV1,
    pub last_message_id: Option<i64>,
    /// A direct room's members.
    pub members: Option<Vec<UserV1>>,
    /// `None`: the event goes to many users.
    pub viewer: Option<ViewerV1>,
}

/// Whose view a room is.
#[derive(Debug, Serialize, Deserialize)]
pub struct ViewerV1 {
    /// `owner`/`member`, or `None` when not a member.
    pub my_role: Option<String>,
}

/// A member of a room.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberV1 {
    pub user: UserV1,
    /// The account's role: `admin` or `member`.
    pub role: String,
    pub deactivated: bool,
    pub is_online: bool,
    /// Milliseconds since the epoch.
    pub last_seen: Option<i64>,
    /// `owner` or `member`.
    pub room_role: String,
}

/// A user as others see them; also what Redis keeps of each online user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserV1 {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub avatar_color: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MessageV1 {
    pub id: i64,
    pub room_id: i64,
    pub author: UserV1,
    pub body: String,
    /// `text` or `system`.
    pub message_type: String,
    pub client_id: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RoomV1 {
    pub id: i64,
    pub name: String,
    /// `public`, `private` or `direct`.
    pub room_type: String,
    pub created_by: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub archived: bool,
}

impl MsgV1 {
    fn from_domain(msg: &ClusterMsg) -> Option<Self> {
        Some(match msg {
            ClusterMsg::Event { audience, event } => {
                MsgV1::Event { audience: AudienceV1::from(audience), event: EventV1::from(event) }
            }
            ClusterMsg::SessionEnded { token_hash } => MsgV1::SessionEnded { token_hash: token_hash.clone() },
            ClusterMsg::SettingsChanged => MsgV1::SettingsChanged,
            ClusterMsg::MembershipChanged { room, user, member } => {
                MsgV1::MembershipChanged { room: room.0, user: user.0, member: *member }
            }
            ClusterMsg::StandingChanged { user } => MsgV1::StandingChanged { user: user.0 },
            ClusterMsg::RoomChanged { room } => MsgV1::RoomChanged { room: room.0 },
            // Both are signals from this instance's own Redis client to its chat.
            ClusterMsg::UsersGone { .. } | ClusterMsg::Rejoin => return None,
        })
    }

    fn into_domain(self) -> ClusterMsg {
        match self {
            MsgV1::Event { audience, event } => ClusterMsg::Event { audience: audience.into(), event: event.into() },
            MsgV1::SessionEnded { token_hash } => ClusterMsg::SessionEnded { token_hash },
            MsgV1::SettingsChanged => ClusterMsg::SettingsChanged,
            MsgV1::MembershipChanged { room, user, member } => {
                ClusterMsg::MembershipChanged { room: RoomId(room), user: UserId(user), member }
            }
            MsgV1::StandingChanged { user } => ClusterMsg::StandingChanged { user: UserId(user) },
            MsgV1::RoomChanged { room } => ClusterMsg::RoomChanged { room: RoomId(room) },
        }
    }
}

impl From<&Audience> for AudienceV1 {
    fn from(a: &Audience) -> Self {
        match a {
            Audience::Everyone => Self::Everyone,
            Audience::Room(room) => Self::Room { room: room.0 },
            Audience::RoomExcept(room, conn) => Self::RoomExcept { room: room.0, conn: conn.0.clone() },
            Audience::User(user) => Self::User { user: user.0 },
        }
    }
}

impl From<AudienceV1> for Audience {
    fn from(a: AudienceV1) -> Self {
        match a {
            AudienceV1::Everyone => Self::Everyone,
            AudienceV1::Room { room } => Self::Room(RoomId(room)),
            AudienceV1::RoomExcept { room, conn } => Self::RoomExcept(RoomId(room), ConnId(conn)),
            AudienceV1::User { user } => Self::User(UserId(user)),
        }
    }
}

impl From<&Event> for EventV1 {
    fn from(e: &Event) -> Self {
        match e {
            Event::NewMessage(m) => Self::NewMessage { message: MessageV1::from(m) },
            Event::UserJoined { room, user, text, new_member } => {
                Self::UserJoined { room: room.0, user: user.into(), text: text.clone(), new_member: *new_member }
            }
            Event::UserLeft { room, user, text, new_member } => {
                Self::UserLeft { room: room.0, user: user.into(), text: text.clone(), new_member: *new_member }
            }
            Event::Typing { room, user, is_typing } => Self::Typing { room: room.0, user: user.into(), is_typing: *is_typing },
            Event::RoomCreated(room) => Self::RoomCreated { room: RoomV1::from(room) },
            Event::Presence { user, is_online, last_seen } => Self::Presence {
                user: user.into(),
                is_online: *is_online,
                last_seen: last_seen.map(Timestamp::as_millis),
            },
            Event::RoomAdded(info) => Self::RoomAdded { room: info.into() },
            Event::RoomUpdated(info) => Self::RoomUpdated { room: info.into() },
            Event::RoomRemoved { room } => Self::RoomRemoved { room: room.0 },
            Event::MemberAdded { room, member } => Self::MemberAdded { room: room.0, member: member.into() },
            Event::MemberRemoved { room, user } => Self::MemberRemoved { room: room.0, user: user.0 },
            Event::UserUpdated(p) => Self::UserUpdated {
                person: PersonV1 {
                    user: (&p.user).into(),
                    role: p.role.as_str().to_owned(),
                    deactivated: p.deactivated,
                    is_online: p.is_online,
                    last_seen: p.last_seen.map(Timestamp::as_millis),
                },
            },
        }
    }
}

impl From<EventV1> for Event {
    fn from(e: EventV1) -> Self {
        match e {
            EventV1::NewMessage { message } => Self::NewMessage(message.into()),
            EventV1::UserJoined { room, user, text, new_member } => {
                Self::UserJoined { room: RoomId(room), user: user.into(), text, new_member }
            }
            EventV1::UserLeft { room, user, text, new_member } => {
                Self::UserLeft { room: RoomId(room), user: user.into(), text, new_member }
            }
            EventV1::Typing { room, user, is_typing } => Self::Typing { room: RoomId(room), user: user.into(), is_typing },
            EventV1::RoomCreated { room } => Self::RoomCreated(room.into()),
            EventV1::Presence { user, is_online, last_seen } => {
                Self::Presence { user: user.into(), is_online, last_seen: last_seen.map(Timestamp::from_millis) }
            }
            EventV1::RoomAdded { room } => Self::RoomAdded(room.into()),
            EventV1::RoomUpdated { room } => Self::RoomUpdated(room.into()),
            EventV1::RoomRemoved { room } => Self::RoomRemoved { room: RoomId(room) },
            EventV1::MemberAdded { room, member } => Self::MemberAdded { room: RoomId(room), member: member.into() },
            EventV1::MemberRemoved { room, user } => Self::MemberRemoved { room: RoomId(room), user: UserId(user) },
            EventV1::UserUpdated { person } => Self::UserUpdated(crate::chat::Person {
                user: person.user.into(),
                role: Role::from_db(&person.role),
                deactivated: person.deactivated,
                is_online: person.is_online,
                last_seen: person.last_seen.map(Timestamp::from_millis),
            }),
        }
    }
}

impl From<&RoomInfo> for RoomInfoV1 {
    fn from(info: &RoomInfo) -> Self {
        Self {
            room: RoomV1::from(&info.room),
            last_message_id: info.last_message_id.map(|m| m.0),
            members: info.members.as_ref().map(|m| m.iter().map(UserV1::from).collect()),
            viewer: info.viewer.map(|v| ViewerV1 { my_role: v.my_role.map(|r| r.as_str().to_owned()) }),
        }
    }
}

impl From<RoomInfoV1> for RoomInfo {
    fn from(info: RoomInfoV1) -> Self {
        Self {
            room: info.room.into(),
            last_message_id: info.last_message_id.map(MessageId),
            members: info.members.map(|m| m.into_iter().map(UserSummary::from).collect()),
            viewer: info.viewer.map(|v| Viewer { my_role: v.my_role.as_deref().map(MemberRole::from_db) }),
        }
    }
}

impl From<&MemberInfo> for MemberV1 {
    fn from(m: &MemberInfo) -> Self {
        Self {
            user: (&m.user).into(),
            role: m.role.as_str().to_owned(),
            deactivated: m.deactivated,
            is_online: m.is_online,
            last_seen: m.last_seen.map(Timestamp::as_millis),
            room_role: m.room_role.as_str().to_owned(),
        }
    }
}

impl From<MemberV1> for MemberInfo {
    fn from(m: MemberV1) -> Self {
        Self {
            user: m.user.into(),
            role: Role::from_db(&m.role),
            deactivated: m.deactivated,
            is_online: m.is_online,
            last_seen: m.last_seen.map(Timestamp::from_millis),
            room_role: MemberRole::from_db(&m.room_role),
        }
    }
}

// What another instance sends was validated where it came in: the values are
// taken as they are (`from_trusted`), as the store's rows are.

impl From<&UserSummary> for UserV1 {
    fn from(u: &UserSummary) -> Self {
        Self {
            id: u.id.0,
            username: u.username.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            avatar_color: u.avatar_color.as_str().to_owned(),
        }
    }
}

impl From<UserV1> for UserSummary {
    fn from(u: UserV1) -> Self {
        Self {
            id: UserId(u.id),
            username: Username::from_trusted(u.username),
            display_name: DisplayName::from_trusted(u.display_name),
            avatar_color: AvatarColor::from_trusted(u.avatar_color),
        }
    }
}

impl From<&Message> for MessageV1 {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.0,
            room_id: m.room_id.0,
            author: (&m.author).into(),
            body: m.body.as_str().to_owned(),
            message_type: m.message_type.as_str().to_owned(),
            client_id: m.client_id.as_ref().map(|c| c.as_str().to_owned()),
            created_at: m.created_at.as_millis(),
        }
    }
}

impl From<MessageV1> for Message {
    fn from(m: MessageV1) -> Self {
        Self {
            id: MessageId(m.id),
            room_id: RoomId(m.room_id),
            author: m.author.into(),
            body: MessageBody::from_trusted(m.body),
            message_type: MessageType::from_db(&m.message_type),
            client_id: m.client_id.map(ClientId::from_trusted),
            created_at: Timestamp::from_millis(m.created_at),
        }
    }
}

impl From<&Room> for RoomV1 {
    fn from(r: &Room) -> Self {
        Self {
            id: r.id.0,
            name: r.name.as_str().to_owned(),
            room_type: r.room_type.as_str().to_owned(),
            created_by: r.created_by.map(|u| u.0),
            created_at: r.created_at.as_millis(),
            topic: r.topic.clone(),
            archived: r.archived,
        }
    }
}

impl From<RoomV1> for Room {
    fn from(r: RoomV1) -> Self {
        Self {
            id: RoomId(r.id),
            name: RoomName::from_trusted(r.name),
            // A type this instance does not know yet: the most careful reading.
            room_type: RoomType::from_db(&r.room_type).unwrap_or(RoomType::Private),
            created_by: r.created_by.map(UserId),
            created_at: Timestamp::from_millis(r.created_at),
            topic: r.topic,
            archived: r.archived,
        }
    }
}

/// A user's profile as Redis keeps it (in the `profiles` hash).
pub fn encode_profile(user: &UserSummary) -> Result<String, serde_json::Error> {
    serde_json::to_string(&UserV1::from(user))
}

/// A profile Redis kept; `None` (logged) when it does not read.
pub fn decode_profile(profile: &str) -> Option<UserSummary> {
    match serde_json::from_str::<UserV1>(profile) {
        Ok(user) => Some(user.into()),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable user profile in Redis; skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> UserSummary {
        UserSummary {
            id: UserId(7),
            username: Username::from_trusted("ann".into()),
            display_name: DisplayName::from_trusted("Ann".into()),
            avatar_color: AvatarColor::from_trusted("#123456".into()),
        }
    }

    fn round_trip(msg: ClusterMsg) -> ClusterMsg {
        let text = encode("node-a", &msg).expect("travels").expect("encodes");
        match decode(&text).expect("an envelope") {
            Decoded::Msg { from, msg } => {
                assert_eq!(from, "node-a");
                msg
            }
            Decoded::Skipped(why) => panic!("skipped: {why}"),
        }
    }

    #[test]
    fn every_event_and_audience_comes_back_as_it_was_sent() {
        let message = Message {
            id: MessageId(42),
            room_id: RoomId(3),
            author: ann(),
            body: MessageBody::from_trusted("hi".into()),
            message_type: MessageType::Text,
            client_id: Some(ClientId::from_trusted("c-1".into())),
            created_at: Timestamp::from_millis(1_700_000_000_123),
        };
        let room = Room {
            id: RoomId(3),
            name: RoomName::from_trusted("Rust".into()),
            room_type: RoomType::Public,
            created_by: Some(UserId(7)),
            created_at: Timestamp::from_millis(5),
            topic: "all things Rust".into(),
            archived: false,
        };
        let info = |viewer| RoomInfo {
            room: room.clone(),
            last_message_id: Some(MessageId(42)),
            members: Some(vec![ann()]),
            viewer,
        };
        let member = MemberInfo {
            user: ann(),
            role: Role::Admin,
            deactivated: false,
            is_online: true,
            last_seen: Some(Timestamp::from_millis(77)),
            room_role: MemberRole::Owner,
        };
        let events = [
            Event::RoomAdded(info(Some(Viewer { my_role: Some(MemberRole::Member) }))),
            Event::RoomUpdated(info(None)),
            Event::RoomUpdated(info(Some(Viewer { my_role: None }))),
            Event::RoomRemoved { room: RoomId(3) },
            Event::MemberAdded { room: RoomId(3), member },
            Event::MemberRemoved { room: RoomId(3), user: UserId(7) },
            Event::NewMessage(message),
            Event::UserJoined { room: RoomId(3), user: ann(), text: "Ann has joined the room".into(), new_member: true },
            Event::UserLeft { room: RoomId(3), user: ann(), text: "Ann has left the room".into(), new_member: false },
            Event::Typing { room: RoomId(3), user: ann(), is_typing: true },
            Event::RoomCreated(room),
            Event::Presence { user: ann(), is_online: false, last_seen: Some(Timestamp::from_millis(99)) },
        ];
        let audiences = [
            Audience::Everyone,
            Audience::Room(RoomId(3)),
            Audience::RoomExcept(RoomId(3), ConnId("sid".into())),
            Audience::User(UserId(7)),
        ];
        for event in events {
            for audience in &audiences {
                let back = round_trip(ClusterMsg::Event { audience: audience.clone(), event: event.clone() });
                let ClusterMsg::Event { audience: a, event: e } = back else { panic!("not an event") };
                assert_eq!(&a, audience);
                assert_eq!(format!("{e:?}"), format!("{event:?}"));
            }
        }
        let ClusterMsg::SessionEnded { token_hash } = round_trip(ClusterMsg::SessionEnded { token_hash: vec![1, 2, 3] })
        else {
            panic!("not a session end")
        };
        assert_eq!(token_hash, [1, 2, 3]);
        for msg in [
            ClusterMsg::MembershipChanged { room: RoomId(3), user: UserId(7), member: true },
            ClusterMsg::StandingChanged { user: UserId(7) },
            ClusterMsg::RoomChanged { room: RoomId(3) },
        ] {
            assert_eq!(format!("{:?}", round_trip(msg.clone())), format!("{msg:?}"));
        }
    }

    #[test]
    fn local_signals_never_travel() {
        assert!(encode("n", &ClusterMsg::Rejoin).is_none());
        assert!(encode("n", &ClusterMsg::UsersGone { users: vec![ann()] }).is_none());
    }

    #[test]
    fn a_message_of_an_unknown_version_is_skipped_not_an_error() {
        let newer = r#"{"v":2,"from":"node-b","msg":{"whatever":"shape"}}"#;
        assert!(matches!(decode(newer), Ok(Decoded::Skipped(why)) if why.contains("version 2")));
    }

    #[test]
    fn an_unknown_kind_of_event_in_version_one_is_skipped() {
        let newer = r#"{"v":1,"from":"node-b","msg":{"type":"event","audience":{"to":"everyone"},"event":{"kind":"room_exploded"}}}"#;
        assert!(matches!(decode(newer), Ok(Decoded::Skipped(_))));
    }

    #[test]
    fn a_field_added_later_is_ignored_by_version_one() {
        let newer = r#"{"v":1,"from":"b","extra":1,"msg":{"type":"session_ended","token_hash":[9],"reason":"x"}}"#;
        assert!(matches!(decode(newer), Ok(Decoded::Msg { msg: ClusterMsg::SessionEnded { .. }, .. })));
    }

    #[test]
    fn text_that_is_no_envelope_is_an_error() {
        assert!(decode("not json").is_err());
        assert!(decode(r#"{"from":"b"}"#).is_err());
    }

    #[test]
    fn the_version_one_shape_is_fixed() {
        // What an older instance reads: changing this string is a new version.
        let msg = ClusterMsg::Event { audience: Audience::User(UserId(7)), event: Event::Typing { room: RoomId(3), user: ann(), is_typing: false } };
        assert_eq!(
            encode("a", &msg).unwrap().unwrap(),
            r##"{"v":1,"from":"a","msg":{"type":"event","audience":{"to":"user","user":7},"event":{"kind":"typing","room":3,"user":{"id":7,"username":"ann","display_name":"Ann","avatar_color":"#123456"},"is_typing":false}}}"##
        );
    }

    #[test]
    fn a_profile_round_trips_and_garbage_is_skipped() {
        assert_eq!(decode_profile(&encode_profile(&ann()).unwrap()), Some(ann()));
        assert_eq!(decode_profile("{}"), None);
    }
}
