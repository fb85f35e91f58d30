//! Black-box tests: each starts the real server on a port it chooses, with a fresh
//! SQLite database, and talks to it over HTTP and Socket.IO as clients do.

mod support;

mod accounts;
mod audience;
mod bad_input;
mod messages;
mod ops;
mod presence;
mod rooms;
mod security;
mod slow_consumer;
mod typing;
