//! The parsers under test, compiled from the server's and the test client's
//! own source files (not copies): the pure domain types, the Socket.IO event
//! payloads (`src/realtime/events.rs`) and the client's packet decoder. Only
//! these files, not the whole server, so the instrumented build needs serde,
//! serde_json, chrono, thiserror and utoipa rather than sqlx, axum and the
//! rest, and builds in about two minutes of CPU. A dependency these files gain must be
//! added to fuzz/Cargo.toml too; the build then says which.
#![allow(dead_code, unused_imports)]

#[path = "../../src/domain/mod.rs"]
pub mod domain;

// In a file of its own: a `#[path]` inside an inline module is taken from a
// directory named after it (fuzz/src/realtime/), which does not exist.
pub mod realtime;

#[path = "../../crates/parley-client/src/packet.rs"]
pub mod packet;
