//! Pure types and rules: typed ids, validated values, the chat error.
//!
//! Nothing here knows about HTTP, Socket.IO or SQL. Every value that comes from a
//! user is turned into one of these types by `parse` at the edge, so the layers
//! inside never see unchecked input.

mod error;
mod ids;
mod message;
mod room;
mod text;
mod time;
mod user;

pub use error::ChatError;
pub use ids::{ConnId, MessageId, RoomId, UserId};
pub use message::{ClientId, Message, MessageBody, MessageType, NewMessage, Page};
pub use room::{Room, RoomName, RoomType};
pub use time::{Clock, SystemClock, Timestamp};
pub use user::{AvatarColor, DisplayName, Email, NewUser, Password, User, UserSummary, Username};
