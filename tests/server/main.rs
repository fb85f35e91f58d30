//! Black-box tests: each starts the real server on a free port with a fresh
//! SQLite database, and talks to it over HTTP and Socket.IO as clients do.

mod support;

mod access;
mod accounts;
mod audience;
mod bad_input;
mod membership;
mod messages;
mod ops;
mod presence;
mod rooms;
mod security;
mod slow_consumer;
mod typing;
