//! `realtime::events` of the server, at the path the server's code expects.

#[path = "../../src/realtime/events.rs"]
pub mod events;
