//! Black-box tests: each starts the real server on a free port with a fresh
//! SQLite database, and talks to it over HTTP and Socket.IO as clients do.

mod support;

mod accounts;
mod admin;
mod bad_input;
mod calls;
mod directory;
mod messages;
mod ops;
mod presence;
mod profile;
mod rooms;
mod security;
mod slow_consumer;
mod typing;
