//! Pure types and rules: typed ids, validated values, the chat error.
//!
//! Nothing here knows about HTTP, Socket.IO or SQL. Every value that comes from a
//! user is turned into one of these types by `parse` at the edge, so the layers
//! inside never see unchecked input.

mod error;
mod ids;
mod message;
mod room;
mod settings;
mod text;
mod time;
mod user;

pub use error::ChatError;
pub use ids::{ConnId, MessageId, RoomId, UserId};
pub use message::{ClientId, Message, MessageBody, MessageType, NewMessage, Page};
pub use room::{MemberEntry, MemberRole, Membership, NewRoom, Room, RoomChanges, RoomListing, RoomName, RoomType, Topic};
pub use settings::{Invite, NewInvite, RegistrationMode, ServerSettings};
pub use time::{Clock, SystemClock, Timestamp};
pub use user::{AvatarColor, DisplayName, Email, NewUser, Password, Role, User, UserSummary, Username};
