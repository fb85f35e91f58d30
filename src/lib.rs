//! Parley: a self-hosted real-time chat server.
//!
//! # The map
//!
//! ```text
//!   http/  (axum: pages, /api, health, metrics)   realtime/  (Socket.IO: auth, handlers, fan-out)
//!        |             \                                   /        |
//!        |              `------------->  chat/  <---------'         |
//!        v                                 |      use cases: the    v
//!   wire/ (JSON shapes and request          |      only place rules run
//!          helpers both transports share)   v
//!                          store/ (trait Store; sqlite, ...)    domain/ (ids, validated values, ChatError)
//!
//!   cluster/ (Redis) implements chat's Cluster port; chat reaches it only
//!   through chat::shared::SharedState, which holds the one policy for when
//!   Redis is down. Messages between instances are versioned wire types of
//!   their own (cluster/wire.rs), never the chat's domain types.
//! ```
//!
//! Dependencies point inward: transports call [`chat::Chat`]; `chat` uses
//! [`store::Store`] and the pure types of [`domain`], and reaches the outside
//! world only through the [`chat::Notifier`] port that `realtime` implements.
//! Nothing in `domain/` or `chat/` imports axum, socketioxide or sqlx.
//! `http` and `realtime` never import each other: what both need (the
//! message and error JSON, the session cookie, the origin check) lives in
//! [`wire`], below both.
//!
//! [`app::App`] wires it all together; `main` only parses the configuration,
//! starts logging and runs the app until a shutdown signal.

pub mod app;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod http;
pub mod realtime;
pub mod store;
pub mod wire;

pub use app::App;
pub use config::Settings;
