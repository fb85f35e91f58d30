//! A client event's payload as the server decodes it: socketioxide hands the
//! handler a `serde_json::Value` (any JSON the client sent), then
//! `realtime::events::decode` turns it into the event's struct and the handler
//! parses its fields into domain types. No input may panic; a decoded room id
//! is always a valid one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::domain::{ChatError, ClientId, MessageBody, RoomName};
use parley_fuzz::realtime::events::{self, decode};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let ok = |v: &Value| Ok::<Value, ChatError>(v.clone());
    if let Ok(p) = decode::<events::JoinRoom, _>(ok(&value)) {
        assert!(p.room_id.0.0 > 0);
    }
    if let Ok(p) = decode::<events::LeaveRoom, _>(ok(&value)) {
        assert!(p.room_id.0.0 > 0);
    }
    if let Ok(p) = decode::<events::SendMessage, _>(ok(&value)) {
        assert!(p.room_id.0.0 > 0);
        let _ = MessageBody::parse(&p.message);
        if let Some(c) = p.client_id.as_deref() {
            let _ = ClientId::parse(c);
        }
    }
    if let Ok(p) = decode::<events::Typing, _>(ok(&value)) {
        assert!(p.room_id.0.0 > 0);
    }
    if let Ok(p) = decode::<events::CreateRoom, _>(ok(&value)) {
        let _ = RoomName::parse(&p.room_name);
    }
});
