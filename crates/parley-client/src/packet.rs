//! Encoding and decoding of Engine.IO 4 / Socket.IO 5 text frames (default
//! namespace only). Pure functions, no I/O.
//!
//! A WebSocket text frame carries one Engine.IO packet: a type digit followed by
//! its payload. Engine.IO type `4` (message) carries one Socket.IO packet: a type
//! digit, an optional `/namespace,` prefix (absent for `"/"`), an optional ack id
//! and an optional JSON payload. So an event is `42["name",data]`, an event that
//! wants an ack is `4217["name",data]` and its ack is `4317[result]`.

use std::fmt;
use std::io::Write as _;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

/// The Socket.IO CONNECT packet for the default namespace, sent by the client.
pub const CONNECT: &str = "40";
/// The Socket.IO DISCONNECT packet for the default namespace.
pub const DISCONNECT: &str = "41";
/// The Engine.IO pong with no payload, the answer to the server's `"2"`.
pub const PONG: &str = "3";

/// The Engine.IO open packet's payload (`0{...}`), the fields this client cares about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    /// The Engine.IO session id (not the Socket.IO one).
    pub sid: String,
    /// Milliseconds between server pings.
    #[serde(default)]
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    #[serde(default)]
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes.
    #[serde(default)]
    pub max_payload: u64,
}

/// One decoded incoming text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<'a> {
    /// Engine.IO `0{...}`.
    Open(OpenInfo),
    /// Engine.IO `1`.
    Close,
    /// Engine.IO `2`, with whatever followed (normally empty; `"probe"` during upgrades).
    Ping(&'a str),
    /// Engine.IO `3`.
    Pong,
    /// Engine.IO `5`.
    Upgrade,
    /// Engine.IO `6`.
    Noop,
    /// Socket.IO `40`, with its JSON payload (`{"sid":...}`) or `Null` if none.
    Connect(Value),
    /// Socket.IO `41`.
    Disconnect,
    /// Socket.IO `42[name, data, ...]`: `data` is the first argument (`Null` if
    /// absent; further arguments are dropped). `ack` is the id if the server asked
    /// for an acknowledgement.
    Event {
        name: String,
        data: Value,
        ack: Option<u64>,
    },
    /// Socket.IO `43<id>[arg, ...]`: `data` is the first argument (`Null` if none).
    Ack { id: u64, data: Value },
    /// Socket.IO `44{...}`, with its JSON payload (`Null` if none).
    ConnectError(Value),
    /// Socket.IO binary event/ack (`45`/`46`), not supported by this client.
    Binary,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// Decodes one WebSocket text frame.
pub fn decode(frame: &str) -> Result<Incoming<'_>, DecodeError> {
    let Some(kind) = frame.as_bytes().first() else {
        return err("empty frame");
    };
    // Every packet type is one ASCII digit; slicing after any other first
    // byte could cut a character in two.
    let Some(rest) = frame.get(1..) else {
        return err(format!("unknown engine.io packet type in {:?}", frame.chars().next().unwrap_or_default()));
    };
    match kind {
        b'0' => serde_json::from_str(rest)
            .map(Incoming::Open)
            .or_else(|e| err(format!("bad open packet: {e}"))),
        b'1' => Ok(Incoming::Close),
        b'2' => Ok(Incoming::Ping(rest)),
        b'3' => Ok(Incoming::Pong),
        b'4' => decode_socketio(rest),
        b'5' => Ok(Incoming::Upgrade),
        b'6' => Ok(Incoming::Noop),
        _ => err(format!("unknown engine.io packet type {:?}", *kind as char)),
    }
}

/// Decodes a Socket.IO packet (the part after Engine.IO's `4`).
fn decode_socketio(packet: &str) -> Result<Incoming<'_>, DecodeError> {
    let Some(&kind) = packet.as_bytes().first() else {
        return err("empty socket.io packet");
    };
    let Some(mut s) = packet.get(1..) else {
        return err("unknown socket.io packet type");
    };
    // Binary packets carry an attachment count ("51-[...]"); we don't go further.
    if kind == b'5' || kind == b'6' {
        return Ok(Incoming::Binary);
    }
    if s.starts_with('/') {
        let (nsp, after) = s.split_once(',').unwrap_or((s, ""));
        if nsp != "/" {
            return err(format!("packet for unsupported namespace {nsp:?}"));
        }
        s = after;
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits > 0 {
        match s[..digits].parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return err("ack id out of range"),
        }
    } else {
        None
    };
    let payload = &s[digits..];
    match kind {
        b'0' => Ok(Incoming::Connect(optional_json(payload)?)),
        b'1' => Ok(Incoming::Disconnect),
        b'2' => {
            let args: EventArgs = serde_json::from_str(payload)
                .or_else(|e| err(format!("bad event payload: {e}")))?;
            Ok(Incoming::Event {
                name: args.name,
                data: args.data,
                ack: id,
            })
        }
        b'3' => {
            let Some(id) = id else {
                return err("ack without id");
            };
            let first: FirstArg =
                serde_json::from_str(payload).or_else(|e| err(format!("bad ack payload: {e}")))?;
            Ok(Incoming::Ack { id, data: first.0 })
        }
        b'4' => Ok(Incoming::ConnectError(optional_json(payload)?)),
        _ => err(format!("unknown socket.io packet type {:?}", kind as char)),
    }
}

fn optional_json(payload: &str) -> Result<Value, DecodeError> {
    if payload.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str(payload).or_else(|e| err(format!("bad json payload: {e}")))
    }
}

/// Encodes a Socket.IO event for the default namespace: `42["event",data]`, or
/// `42<id>["event",data]` when an ack is requested.
pub fn encode_event(event: &str, data: &Value, ack: Option<u64>) -> String {
    // One allocation: prefix, id and JSON all go into the same buffer.
    let mut buf = Vec::with_capacity(event.len() + 32);
    buf.extend_from_slice(b"42");
    if let Some(id) = ack {
        // Writing into a Vec cannot fail.
        let _ = write!(buf, "{id}");
    }
    serde_json::to_writer(&mut buf, &(event, data))
        .expect("serializing a Value into a Vec cannot fail");
    String::from_utf8(buf).expect("serde_json produces UTF-8")
}

/// Encodes the Engine.IO pong answering a ping that carried `payload`.
pub fn encode_pong(payload: &str) -> String {
    let mut s = String::with_capacity(1 + payload.len());
    s.push('3');
    s.push_str(payload);
    s
}

/// `[name, data?, ...]` where only the first two elements are kept.
struct EventArgs {
    name: String,
    data: Value,
}

impl<'de> Deserialize<'de> for EventArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventArgs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array starting with the event name")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventArgs, A::Error> {
                let name: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let data = seq.next_element::<Value>()?.unwrap_or(Value::Null);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(EventArgs { name, data })
            }
        }
        d.deserialize_seq(V)
    }
}

/// `[arg?, ...]` where only the first element is kept (`Null` if empty).
struct FirstArg(Value);

impl<'de> Deserialize<'de> for FirstArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstArg;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of ack arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstArg, A::Error> {
                let first = seq.next_element::<Value>()?.unwrap_or(Value::Null);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstArg(first))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_open_packet_yields_the_engine_sid_and_timings() {
        let p = decode(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#)
            .unwrap();
        assert_eq!(
            p,
            Incoming::Open(OpenInfo {
                sid: "abc".into(),
                ping_interval: 25000,
                ping_timeout: 20000,
                max_payload: 1_000_000
            })
        );
    }

    #[test]
    fn a_ping_is_decoded_and_its_pong_echoes_the_payload() {
        assert_eq!(decode("2").unwrap(), Incoming::Ping(""));
        assert_eq!(encode_pong(""), PONG);
        assert_eq!(decode("2probe").unwrap(), Incoming::Ping("probe"));
        assert_eq!(encode_pong("probe"), "3probe");
    }

    #[test]
    fn engine_io_control_packets_are_recognised() {
        assert_eq!(decode("1").unwrap(), Incoming::Close);
        assert_eq!(decode("3").unwrap(), Incoming::Pong);
        assert_eq!(decode("5").unwrap(), Incoming::Upgrade);
        assert_eq!(decode("6").unwrap(), Incoming::Noop);
    }

    #[test]
    fn a_connect_packet_carries_the_socket_sid() {
        assert_eq!(
            decode(r#"40{"sid":"s1"}"#).unwrap(),
            Incoming::Connect(json!({"sid": "s1"}))
        );
        assert_eq!(decode("40").unwrap(), Incoming::Connect(Value::Null));
    }

    #[test]
    fn a_connect_error_keeps_its_json() {
        assert_eq!(
            decode(r#"44{"message":"unauthorized","data":{"code":401}}"#).unwrap(),
            Incoming::ConnectError(json!({"message": "unauthorized", "data": {"code": 401}}))
        );
    }

    #[test]
    fn a_disconnect_packet_is_recognised() {
        assert_eq!(decode("41").unwrap(), Incoming::Disconnect);
    }

    #[test]
    fn an_event_yields_its_name_and_first_argument() {
        assert_eq!(
            decode(r#"42["message",{"text":"hi"},"extra",3]"#).unwrap(),
            Incoming::Event {
                name: "message".into(),
                data: json!({"text": "hi"}),
                ack: None
            }
        );
    }

    #[test]
    fn an_event_without_arguments_has_null_data() {
        assert_eq!(
            decode(r#"42["ping"]"#).unwrap(),
            Incoming::Event {
                name: "ping".into(),
                data: Value::Null,
                ack: None
            }
        );
    }

    #[test]
    fn an_event_requesting_an_ack_exposes_the_id() {
        assert_eq!(
            decode(r#"4212["ask",1]"#).unwrap(),
            Incoming::Event {
                name: "ask".into(),
                data: json!(1),
                ack: Some(12)
            }
        );
    }

    #[test]
    fn an_explicit_default_namespace_prefix_is_accepted() {
        assert_eq!(
            decode(r#"42/,["x",true]"#).unwrap(),
            Incoming::Event {
                name: "x".into(),
                data: json!(true),
                ack: None
            }
        );
    }

    #[test]
    fn a_packet_for_another_namespace_is_rejected() {
        assert!(decode(r#"42/admin,["x",1]"#).is_err());
    }

    #[test]
    fn an_ack_packet_resolves_the_pending_id() {
        assert_eq!(
            decode(r#"437[{"ok":true},"ignored"]"#).unwrap(),
            Incoming::Ack {
                id: 7,
                data: json!({"ok": true})
            }
        );
        assert_eq!(
            decode("43123[]").unwrap(),
            Incoming::Ack {
                id: 123,
                data: Value::Null
            }
        );
    }

    #[test]
    fn an_ack_without_an_id_is_a_decode_error() {
        assert!(decode(r#"43["x"]"#).is_err());
    }

    #[test]
    fn binary_packets_are_flagged_as_unsupported() {
        assert_eq!(
            decode(r#"451-["file",{"_placeholder":true,"num":0}]"#).unwrap(),
            Incoming::Binary
        );
        assert_eq!(
            decode(r#"461-3[{"_placeholder":true,"num":0}]"#).unwrap(),
            Incoming::Binary
        );
    }

    #[test]
    fn a_frame_or_packet_starting_with_a_non_ascii_character_is_an_error_not_a_panic() {
        // Found by the fuzzer (client_packet): the type was taken as byte 0
        // and the rest sliced at byte 1, inside the character.
        for bad in ["é", "\u{1F600}42", "4é", "4\u{1F600}[\"x\"]"] {
            assert!(decode(bad).is_err(), "{bad:?} should not decode");
        }
    }

    #[test]
    fn malformed_frames_are_decode_errors() {
        for bad in [
            "",
            "9",
            "4",
            "47",
            "42",
            "42{}",
            "42[1,2]",
            "42[",
            "0nope",
            "4299999999999999999999[\"x\"]",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} should not decode");
        }
    }

    #[test]
    fn an_event_is_encoded_as_a_two_element_array() {
        assert_eq!(
            encode_event("message", &json!({"text": "hi"}), None),
            r#"42["message",{"text":"hi"}]"#
        );
        assert_eq!(
            encode_event("noop", &Value::Null, None),
            r#"42["noop",null]"#
        );
    }

    #[test]
    fn an_event_wanting_an_ack_puts_the_id_before_the_array() {
        assert_eq!(
            encode_event("join", &json!("general"), Some(42)),
            r#"4242["join","general"]"#
        );
    }

    #[test]
    fn event_names_are_json_escaped() {
        assert_eq!(
            encode_event("we\"ird", &json!(1), None),
            r#"42["we\"ird",1]"#
        );
    }

    #[test]
    fn an_encoded_event_decodes_back_to_itself() {
        let data = json!({"room": "général", "n": [1, 2, 3]});
        let frame = encode_event("roundtrip", &data, Some(9));
        assert_eq!(
            decode(&frame).unwrap(),
            Incoming::Event {
                name: "roundtrip".into(),
                data,
                ack: Some(9)
            }
        );
    }
}
