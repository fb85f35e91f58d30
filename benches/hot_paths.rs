//! Micro-benchmarks of the per-message hot paths: what the server does with
//! every `send_message` before it reaches the store, and with every event
//! before it fans out. Run with `cargo bench --bench hot_paths`; the whole
//! system is measured by `parley-bench` and `bench/run` (BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parley::chat::Event;
use parley::domain::{
    AvatarColor, ClientId, DisplayName, Message, MessageBody, MessageId, MessageType, RoomId, Timestamp, UserId,
    UserSummary, Username,
};
use parley::realtime::{encode_event, events};

const SEND: &str = r#"{"room_id": 1, "message": "Has anyone tried the new build on ARM yet? It looks faster here.", "client_id": "c-3f2a9b71-0042"}"#;

fn author() -> UserSummary {
    let username = Username::parse("ann_lee").unwrap();
    UserSummary {
        id: UserId(42),
        display_name: DisplayName::parse(Some("Ann Lee"), &username).unwrap(),
        avatar_color: AvatarColor::for_username(&username),
        username,
    }
}

/// `send_message` as the handler takes it: the payload as socketioxide hands
/// it over (a JSON value), decoded into the wire struct, validated into
/// domain values.
fn send_message_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json text to validated values", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_str(black_box(SEND)).unwrap();
            let p: events::SendMessage = events::decode::<_, serde_json::Error>(Ok(value)).unwrap();
            let body = MessageBody::parse(&p.message).unwrap();
            let client_id = p.client_id.as_deref().map(ClientId::parse).transpose().unwrap();
            black_box((p.room_id, body, client_id))
        })
    });
    let value: serde_json::Value = serde_json::from_str(SEND).unwrap();
    g.bench_function("json value to validated values", |b| {
        b.iter(|| {
            let p: events::SendMessage = events::decode::<_, serde_json::Error>(Ok(black_box(value.clone()))).unwrap();
            let body = MessageBody::parse(&p.message).unwrap();
            black_box(body)
        })
    });
    let long = "é".repeat(MessageBody::MAX_CHARS);
    g.bench_function("validate a 4000-character body", |b| b.iter(|| MessageBody::parse(black_box(&long)).unwrap()));
    g.finish();
}

/// An event is encoded once per publish, whatever the room's size.
fn event_encode(c: &mut Criterion) {
    let message = Message {
        id: MessageId(1_234_567),
        room_id: RoomId(1),
        author: author(),
        body: MessageBody::parse("Has anyone tried the new build on ARM yet? It looks faster here.").unwrap(),
        message_type: MessageType::Text,
        client_id: Some(ClientId::parse("c-3f2a9b71-0042").unwrap()),
        created_at: Timestamp::from_millis(1_796_000_000_000),
    };
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let new_message = Event::NewMessage(message);
    g.bench_function("new_message", |b| b.iter(|| encode_event(black_box(&new_message)).unwrap()));
    let typing = Event::Typing { room: RoomId(1), user: author(), is_typing: true };
    g.bench_function("user_typing", |b| b.iter(|| encode_event(black_box(&typing)).unwrap()));
    g.finish();
}

criterion_group!(benches, send_message_decode, event_encode);
criterion_main!(benches);
