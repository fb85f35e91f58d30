use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn malformed_event_payloads_get_invalid_payload_and_the_socket_keeps_working() {
    let app = spawn_app().await;
    let (ann, mut s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    let cases: Vec<(&str, Value)> = vec![
        ("send_message", json!("just a string")),
        ("send_message", json!(null)),
        ("send_message", json!({"room_id": general})),
        ("send_message", json!({"room_id": general, "message": 42})),
        ("send_message", json!({"room_id": "abc", "message": "hi"})),
        ("send_message", json!({"room_id": -1, "message": "hi"})),
        ("send_message", json!({"room_id": general, "message": "hi", "client_id": "x".repeat(65)})),
        ("join_room", json!({"room_id": [1]})),
        ("join_room", json!([])),
        ("typing", json!({"room_id": general, "is_typing": "yes"})),
        ("leave_room", json!({})),
        ("create_room", json!({"room_name": 7})),
    ];
    for (event, data) in cases {
        let ack = s.emit_with_ack(event, data.clone(), WAIT).await.unwrap();
        assert_eq!(ack["ok"], false, "{event} {data}");
        assert_eq!(error_code(&ack), "invalid_payload", "{event} {data}: {ack}");
        assert!(!ack["error"]["message"].as_str().unwrap().is_empty());
        s.emit(event, data.clone()).unwrap();
        let e = s.wait_for("chat_error", |_| true, WAIT).await.unwrap();
        assert_eq!(e["event"], event);
        assert_eq!(e["code"], "invalid_payload", "{event} {data}");
    }
    // An event with no payload at all.
    s.send_raw(r#"42["send_message"]"#).unwrap();
    assert_eq!(s.wait_for("chat_error", |_| true, WAIT).await.unwrap()["code"], "invalid_payload");
    assert_eq!(send(&s, general, "still fine").await["ok"], true);
    let (_, history) = ann.get_json(&format!("/api/messages/{general}")).await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "no bad row was stored");
}

#[tokio::test]
async fn an_unknown_event_gets_unknown_event() {
    let app = spawn_app().await;
    let (_ann, mut s) = app.connected("ann").await;
    let ack = s.emit_with_ack("fly_to_the_moon", json!({}), WAIT).await.unwrap();
    assert_eq!(error_code(&ack), "unknown_event");
    s.emit("fly_to_the_moon", json!({})).unwrap();
    let e = s.wait_for("chat_error", |_| true, WAIT).await.unwrap();
    assert_eq!(e["event"], "fly_to_the_moon");
    assert_eq!(e["code"], "unknown_event");
}

#[tokio::test]
async fn garbage_frames_and_oversized_payloads_never_affect_other_users() {
    let app = spawn_app().await;
    let (ann, mut ann_s) = app.connected("ann").await;
    let (_bo, bo_s) = app.connected("bob").await;
    let general = room_id(&ann, "General").await;
    join(&ann_s, general).await;
    join(&bo_s, general).await;
    let mallory = app.user("mallory").await;
    let garbage = ["42not json", "42[]", "42[123]", "4", "99", "", "451-[\"send_message\",{\"_placeholder\":true,\"num\":0}]", "2probe", "42[\"send_message\",{\"room_id\":1e999}]"];
    for frame in garbage {
        let m = app.socket(&mallory).await;
        m.send_raw(frame).unwrap();
        // Whatever happens to that socket, the others keep chatting.
        let ack = send(&bo_s, general, &format!("after {frame:?}")).await;
        assert_eq!(ack["ok"], true, "{frame:?}");
        ann_s.wait_for("new_message", |m| m["id"] == ack["id"], WAIT).await.unwrap();
    }
    let m = app.socket(&mallory).await;
    m.emit("send_message", json!({"room_id": general, "message": "x".repeat(200_000)})).unwrap();
    let mut m = m;
    m.disconnected(WAIT).await.expect("an oversized frame closes that socket");
    assert_eq!(send(&bo_s, general, "still here").await["ok"], true);
}

#[tokio::test]
async fn bad_http_bodies_get_json_errors() {
    let app = spawn_app().await;
    let http = app.http();
    let c = http.inner();
    let r = c.post(app.url("/api/login")).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r.json::<Value>().await.unwrap()), "invalid_payload");
    let r = c.post(app.url("/api/register")).body("username=ann").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a body that is not JSON");
    let r = c.post(app.url("/api/register")).json(&json!({"username": "ann"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "missing fields");
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("email"));
    let r = c.post(app.url("/api/register")).json(&json!({"username": 5, "email": [], "password": {}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "wrong types");
    let big = "x".repeat(100_000);
    let r = c.post(app.url("/api/login")).json(&json!({"username": big, "password": "x"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = http.get_json("/api/nothing-here").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
}

#[tokio::test]
async fn a_connection_flooding_events_gets_refusals_instead_of_an_unbounded_queue() {
    let app = spawn_app().await;
    let (ann, s) = app.connected("ann").await;
    let general = room_id(&ann, "General").await;
    join(&s, general).await;
    let acks = futures_util::future::join_all(
        (0..400).map(|i| s.emit_with_ack("send_message", json!({"room_id": general, "message": format!("m{i}")}), WAIT)),
    )
    .await;
    let acks: Vec<Value> = acks.into_iter().map(|a| a.expect("every event is answered")).collect();
    let ok = acks.iter().filter(|a| a["ok"] == true).count();
    let refused = acks.iter().filter(|a| error_code(a) == "rate_limited").count();
    assert_eq!(ok + refused, 400, "each send is either stored or refused");
    assert!(refused > 0, "a burst of 400 in-flight events is not all queued");
    assert!(ok >= 128, "the first ones are served");
    let (_, history) = ann.get_json(&format!("/api/messages/{general}?limit=200")).await.unwrap();
    let mut stored = history.as_array().unwrap().len();
    if stored == 200 {
        let (_, more) = ann.get_json(&format!("/api/messages/{general}?after=0&limit=200")).await.unwrap();
        stored = more.as_array().unwrap().len().max(stored);
    }
    assert_eq!(stored.min(200), ok.min(200), "only what was acked ok is stored");
    assert_eq!(send(&s, general, "calm again").await["ok"], true);
}
