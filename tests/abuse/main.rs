//! The abuse suite: one test (or a few) per finding of the hardening review
//! (docs/security.md). Each starts the real server (in this process, or the
//! built binary as a process of its own where the test measures the server's
//! memory or open files), attacks it only on loopback, bounds every loop in
//! count and time, and checks that the defence holds while ordinary users
//! keep working.

#[path = "../server/support.rs"]
mod support;

mod login_race; // 1. parallel logins
mod registration_flood; // 2. registration
mod handshake_flood; // 3. handshakes that never log in
mod idle_connections; // 4. idle and slow connections
mod lockout; // 5. lockout by a third party
mod client_address; // 6. X-Forwarded-For, IPv6, limiter keys
mod unicode; // 7. impersonation through Unicode
mod floods; // 8. floods of events
mod metrics; // 9. metrics
mod misc; // 10. the rest
