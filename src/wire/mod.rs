//! What both transports share, below both of them: the JSON shapes a client
//! reads from HTTP answers and Socket.IO events alike ([`json`]), and what a
//! transport learns from the HTTP request that reached it: the session
//! cookie, the cross-site check, the client's address ([`request`]).
//!
//! `http` and `realtime` import this module and never each other.

pub mod json;
pub mod request;

pub use json::{ErrorBody, MemberObject, MessagePayload, RoomObject, UserBrief, UserPayload};
