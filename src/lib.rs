//! Parley: a self-hosted real-time chat server.
//!
//! # The map
//!
//! ```text
//!   http/  (axum: pages, /api, health, metrics)   realtime/  (Socket.IO: auth, handlers, fan-out)
//!                      \                                   /
//!                       `------------->  chat/  <---------'      use cases: the only place rules run
//!                                          |
//!                                          v
//!                          store/ (trait Store; sqlite, ...)    domain/ (ids, validated values, ChatError)
//! ```
//!
//! Dependencies point inward: transports call [`chat::Chat`]; `chat` uses
//! [`store::Store`] and the pure types of [`domain`], and reaches the outside
//! world only through the [`chat::Notifier`] port that `realtime` implements.
//! Nothing in `domain/` or `chat/` imports axum, socketioxide or sqlx.
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

pub use app::App;
pub use config::Settings;
