//! Black-box tests: each starts the real server on a port it chooses, with a fresh
//! SQLite database, and talks to it over HTTP and Socket.IO as clients do.

mod support;

mod access;
mod accounts;
mod audience;
mod admin;
mod bad_input;
mod calls;
mod directory;
mod membership;
mod messages;
mod ops;
mod presence;
mod profile;
mod rooms;
mod security;
mod slow_consumer;
mod typing;
