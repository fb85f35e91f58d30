//! A small client for talking to a Parley server from Rust: an HTTP helper and a
//! minimal Socket.IO client.
//!
//! It is meant for Parley's black-box integration tests and, later, a load
//! generator, so it keeps per-connection costs low: everything runs on the
//! caller's tokio runtime (no threads per connection), each connection has two small
//! tasks and a few channels, and outgoing frames are built with a single
//! allocation.
//!
//! # What it speaks
//!
//! * **Engine.IO 4** over the **WebSocket transport only** (no long-polling, no
//!   upgrade dance), **text frames only**. The server's ping (`"2"`) is answered
//!   with a pong (`"3"`) by a background task; noop (`"6"`) is ignored; close
//!   (`"1"`) ends the connection.
//! * **Socket.IO 5** on the **default namespace `"/"`** only: CONNECT (`40`),
//!   DISCONNECT (`41`), EVENT (`42`), ACK (`43`) and CONNECT_ERROR (`44`). Binary
//!   packets (types 5/6) are not supported; they are reported as protocol errors
//!   (see [`sio::PROTOCOL_ERROR_EVENT`]).
//!
//! # Pieces
//!
//! * [`HttpClient`]: a `reqwest::Client` with its own cookie jar and a base URL,
//!   plus helpers for Parley's `/api/register` and `/api/login`. Redirects are not
//!   followed, so tests can assert on them.
//! * [`SioClient`]: one Socket.IO connection. [`SioClient::emit`] is synchronous
//!   (it only queues a frame for the writer task);
//!   [`SioClient::emit_with_ack`] waits for the matching ack. Incoming events
//!   are buffered, and [`SioClient::wait_for`] / [`SioClient::expect_none`] pick
//!   events out by name and a predicate without dropping the others.
//! * [`packet`]: the pure encode/decode functions for the wire format.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use parley_client::{HttpClient, SioClient, sio::ConnectOptions};
//! use serde_json::json;
//!
//! let http = HttpClient::new("http://127.0.0.1:5000");
//! http.register_and_login("alice", "correct horse battery staple").await?;
//! let mut sio = SioClient::connect(http.base_url(), http.sio_options()).await?;
//! let ack = sio.emit_with_ack("join", json!({"room": "general"}), Duration::from_secs(2)).await?;
//! sio.emit("message", json!({"room": "general", "text": "hi"}))?;
//! let msg = sio.wait_for("message", |d| d["text"] == "hi", Duration::from_secs(2)).await?;
//! # let _ = (ack, msg);
//! sio.close().await;
//! # Ok(()) }
//! ```

pub mod http;
pub mod packet;
pub mod sio;

pub use http::HttpClient;
pub use sio::{ConnectOptions, Event, FrameTap, SioClient, SioError};
