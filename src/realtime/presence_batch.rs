//! `presence_batch`: presence changes coalesced, for the clients that ask.
//!
//! A client that lists the capability [`CAPABILITY`] in its handshake's `auth`
//! (`{capabilities: ["presence_batch"]}`) is put in the Socket.IO room [`ROOM`],
//! every other client in [`EACH_ROOM`].
//! It hears no `presence`; instead, at most once per window, one
//! `presence_batch {users: [...]}` carrying the latest `presence` payload of each
//! user whose presence changed in that window. Other clients hear `presence` as
//! before.
//!
//! Every user's first socket is announced to every connected client, so a
//! restart (or any connect storm) of N sockets of U users costs about U × N/2
//! single events; batched, it costs N frames per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::domain::UserId;

/// The capability a client lists in its handshake to receive `presence_batch`.
pub const CAPABILITY: &str = "presence_batch";
/// The Socket.IO room of the sockets that receive `presence_batch`.
pub const ROOM: &str = "capability:presence_batch";
/// The Socket.IO room of the other sockets, which receive each `presence`
/// (a room of their own, so that a presence change does not scan every socket
/// to find those outside [`ROOM`]).
pub const EACH_ROOM: &str = "capability:presence_each";
/// How long changes are collected before they go out in one event. Every
/// socket keeps a write buffer as large as the most it was once sent at a
/// time (tungstenite never shrinks it), so a longer window, with larger
/// batches in a storm, costs idle memory: 10,000 sockets of 2,000 users kept
/// 57.8 KB each with 250 ms, 46.0 KB with 100 ms (37.6 KB with single events),
/// and came back from a restart equally fast (BENCHMARKS.md).
pub const WINDOW: Duration = Duration::from_millis(100);

/// Does the handshake's `auth` list the capability? Anything else in `auth`
/// (or an `auth` that is not an object) is ignored: it asks for nothing.
pub fn wanted(auth: &serde_json::Value) -> bool {
    auth.get("capabilities")
        .and_then(|c| c.as_array())
        .is_some_and(|list| list.iter().any(|c| c.as_str() == Some(CAPABILITY)))
}

#[derive(Default)]
struct Pending {
    /// Each changed user's latest payload, in the order of their first change in the window.
    entries: Vec<Box<RawValue>>,
    /// Where each user's entry is.
    index: HashMap<UserId, usize>,
    /// A flush is due after the window.
    scheduled: bool,
}

/// The changes of the current window.
#[derive(Default)]
pub struct Batcher {
    pending: Mutex<Pending>,
}

impl Batcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the user's latest presence (a `presence` payload). True when it
    /// opens a window: the caller then calls [`Batcher::take`] after [`WINDOW`].
    pub fn push(&self, user: UserId, payload: Box<RawValue>) -> bool {
        let mut p = self.lock();
        match p.index.get(&user) {
            Some(&at) => p.entries[at] = payload,
            None => {
                let at = p.entries.len();
                p.index.insert(user, at);
                p.entries.push(payload);
            }
        }
        !std::mem::replace(&mut p.scheduled, true)
    }

    /// The window's `presence_batch` payload, `{"users":[...]}`, and a new window.
    pub fn take(&self) -> Option<Box<RawValue>> {
        let entries = {
            let mut p = self.lock();
            p.scheduled = false;
            p.index.clear();
            std::mem::take(&mut p.entries)
        };
        if entries.is_empty() {
            return None;
        }
        let mut json = String::with_capacity(12 + entries.iter().map(|e| e.get().len() + 1).sum::<usize>());
        json.push_str("{\"users\":[");
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(e.get());
        }
        json.push_str("]}");
        // Valid JSON by construction: each entry was serialised by serde_json.
        RawValue::from_string(json)
            .inspect_err(|e| tracing::error!(error = %e, "a presence batch is not JSON; it is dropped"))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn raw(v: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).unwrap()
    }

    #[test]
    fn the_capability_is_read_from_auth_and_anything_else_is_ignored() {
        assert!(wanted(&json!({"capabilities": ["presence_batch"]})));
        assert!(wanted(&json!({"capabilities": ["something_new", "presence_batch"], "other": 1})));
        for auth in [json!(null), json!("presence_batch"), json!({}), json!({"capabilities": "presence_batch"}),
                     json!({"capabilities": [1, null, "Presence_Batch"]}), json!([{"capabilities": ["presence_batch"]}])] {
            assert!(!wanted(&auth), "{auth}");
        }
    }

    #[test]
    fn a_window_keeps_each_users_latest_change_in_first_change_order() {
        let b = Batcher::default();
        assert!(b.take().is_none());
        assert!(b.push(UserId(7), raw(json!({"user_id": 7, "is_online": true}))), "the first change opens a window");
        assert!(!b.push(UserId(3), raw(json!({"user_id": 3, "is_online": true}))));
        assert!(!b.push(UserId(7), raw(json!({"user_id": 7, "is_online": false}))));
        let batch: Value = serde_json::from_str(b.take().unwrap().get()).unwrap();
        assert_eq!(batch, json!({"users": [{"user_id": 7, "is_online": false}, {"user_id": 3, "is_online": true}]}));
        assert!(b.take().is_none(), "a window is sent once");
        assert!(b.push(UserId(7), raw(json!({"user_id": 7, "is_online": true}))), "and the next change opens another");
        let batch: Value = serde_json::from_str(b.take().unwrap().get()).unwrap();
        assert_eq!(batch, json!({"users": [{"user_id": 7, "is_online": true}]}));
    }
}
