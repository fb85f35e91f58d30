//! The fault suite: what Parley does when the world around it breaks, each
//! test owning the thing it breaks (its own Redis, its own small filesystem,
//! its own server process), never a shared service.
//!
//! Runs when `PARLEY_TEST_FAULTS=1` (`.ci/run` sets it; the disk test also
//! needs root for `mount`), and is skipped otherwise:
//!
//! ```text
//! PARLEY_TEST_FAULTS=1 cargo test --test faults
//! ```

#[path = "../server/support.rs"]
mod support;

mod redis_server;

mod disk_full; // SQLite's filesystem fills up and frees again
mod redis_restart; // Redis restarted under two running instances
mod slow_readers; // 5% of a 1,000-member room stop reading

/// Whether the fault suite was asked for; says why a test is skipped if not.
pub fn enabled() -> bool {
    let on = std::env::var("PARLEY_TEST_FAULTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: set PARLEY_TEST_FAULTS=1 to run the fault suite");
    }
    on
}
