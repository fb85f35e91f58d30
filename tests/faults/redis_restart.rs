//! Redis restarted under two running instances.
//!
//! The test's own `redis-server` (no persistence: the restart loses every
//! key) and two `parley` processes on one MariaDB/PostgreSQL database
//! (`PARLEY_TEST_DATABASE`, or MariaDB when only `PARLEY_TEST_MYSQL_URL` is
//! set). Ann is on the first instance, Bob on the second, both in room 1.
//!
//! What "recovers" means here:
//! - every send acked before, during or after the outage is in the room's
//!   history exactly once (a send refused during the outage is retried
//!   afterwards with the same `client_id`, as a client does);
//! - sends acked before the outage and after recovery reach the other
//!   instance's socket live; those acked during the outage window (from the
//!   kill until the first live delivery across instances after the restart)
//!   may miss it live, and the other side catches up on them with
//!   `after=<the last id it got live>`, which finds every one;
//! - recovery comes by itself, within 20 s of the restart: fan-out across
//!   instances works again, and both instances list both users online
//!   (`/api/online-users`), though Redis lost every presence key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use parley_testdb::{Backend, TestDb};
use parley_client::{HttpClient, SioClient};
use serde_json::{Value, json};

use crate::instance::{Instance, Redis};
use crate::support::{PASSWORD, WAIT, unique_prefix};

const RECOVERY: Duration = Duration::from_secs(20);

async fn user_on(instance: &crate::support::Process, name: &str) -> (HttpClient, SioClient) {
    let http = HttpClient::new(&instance.base);
    let _ = http.api_register(name, &format!("{name}@example.test"), PASSWORD).await.unwrap();
    assert_eq!(http.api_login(name, PASSWORD).await.unwrap().status(), 200);
    let mut s = SioClient::connect(&instance.base, http.sio_options()).await.unwrap();
    s.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    let ack = s.emit_with_ack("join_room", json!({"room_id": 1}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    (http, s)
}

/// Sends with a `client_id`; the id if acked, `None` if refused.
async fn send(s: &SioClient, text: &str) -> Option<i64> {
    let ack = s
        .emit_with_ack("send_message", json!({"room_id": 1, "message": text, "client_id": text}), WAIT)
        .await
        .unwrap_or_else(|e| panic!("{text}: no ack ({e})"));
    if ack["ok"] == true {
        Some(ack["id"].as_i64().unwrap())
    } else {
        eprintln!("{text} refused: {ack}");
        None
    }
}

/// The ids of the `new_message`s received so far.
fn received(s: &mut SioClient, into: &mut BTreeSet<i64>) {
    for e in s.drain() {
        if e.name == "new_message"
            && let Some(id) = e.data["id"].as_i64()
        {
            into.insert(id);
        }
    }
}

async fn online(http: &HttpClient) -> BTreeSet<String> {
    match http.get_json("/api/online-users").await {
        Ok((status, v)) if status == 200 => {
            v.as_array().into_iter().flatten().filter_map(|u| Some(u["username"].as_str()?.to_owned())).collect()
        }
        _ => BTreeSet::new(),
    }
}

/// Every message of room 1, paging with `after`.
async fn history_after(http: &HttpClient, mut after: i64) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    for _ in 0..50 {
        let (status, page) = http.get_json(&format!("/api/messages/1?after={after}&limit=200")).await.unwrap();
        assert_eq!(status, 200, "{page}");
        let page: Vec<Value> = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        all.extend(page.iter().map(|m| (m["id"].as_i64().unwrap(), m["message"].as_str().unwrap().to_owned())));
    }
    all
}

/// Sends probes from `from` until one arrives live on `to`.
async fn probe(
    from: &SioClient,
    to: &mut SioClient,
    acked: &mut BTreeMap<String, i64>,
    got: &mut BTreeSet<i64>,
    name: &str,
    restarted: Instant,
) {
    for n in 0.. {
        assert!(restarted.elapsed() < RECOVERY, "fan-out from {name} did not recover within {RECOVERY:?}");
        let text = format!("{name}-probe-{n}");
        let Some(id) = send(from, &text).await else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        acked.insert(text, id);
        if to.wait_for("new_message", |m| m["id"] == id, Duration::from_millis(500)).await.is_ok() {
            got.insert(id);
            return;
        }
    }
}

#[tokio::test]
async fn a_redis_restart_under_two_instances_loses_no_acked_message_and_fan_out_and_presence_recover() {
    if !crate::enabled() {
        return;
    }
    let backend = Backend::from_env().or_else(|| std::env::var_os("PARLEY_TEST_MYSQL_URL").map(|_| Backend::MySql));
    let Some(backend) = backend else {
        eprintln!("skipped: two instances need MariaDB or PostgreSQL (PARLEY_TEST_MYSQL_URL or PARLEY_TEST_DATABASE)");
        return;
    };
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("skipped: set {}", backend.env_var());
        return;
    };
    let Some(mut redis) = Redis::start().await else { return };
    let prefix = unique_prefix();
    let env = [("DATABASE_URL", db.url.as_str()), ("PARLEY_REDIS_PREFIX", prefix.as_str())];
    let url = redis.url();
    let env: Vec<(&str, &str)> = env.into_iter().chain([("PARLEY_REDIS_URL", url.as_str())]).collect();
    let a = Instance::start(&env).await;
    let b = Instance::start(&env).await;
    let (ann_http, mut ann) = user_on(&a, "ann").await;
    let (bob_http, mut bob) = user_on(&b, "bob").await;
    let both: BTreeSet<String> = ["ann", "bob"].map(String::from).into();
    assert_eq!(online(&ann_http).await, both);

    // Acked by whom, and which id.
    let mut by_ann: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_bob: BTreeMap<String, i64> = BTreeMap::new();
    let (mut ann_got, mut bob_got) = (BTreeSet::new(), BTreeSet::new());

    for i in 0..5 {
        by_ann.insert(format!("ann-before-{i}"), send(&ann, &format!("ann-before-{i}")).await.expect("acked"));
        by_bob.insert(format!("bob-before-{i}"), send(&bob, &format!("bob-before-{i}")).await.expect("acked"));
    }
    for id in by_ann.values() {
        bob.wait_for("new_message", |m| m["id"] == *id, WAIT).await.expect("before: live across instances");
        bob_got.insert(*id);
    }
    for id in by_bob.values() {
        ann.wait_for("new_message", |m| m["id"] == *id, WAIT).await.expect("before: live across instances");
        ann_got.insert(*id);
    }
    let ann_last_live = *by_bob.values().max().unwrap();
    let bob_last_live = *by_ann.values().max().unwrap();

    // Redis dies. Sends go on meanwhile; some may be refused.
    redis.kill();
    let mut refused: Vec<(bool, String)> = Vec::new();
    for i in 0..5 {
        for (is_ann, s, acked) in [(true, &ann, &mut by_ann), (false, &bob, &mut by_bob)] {
            let text = format!("{}-during-{i}", if is_ann { "ann" } else { "bob" });
            match send(s, &text).await {
                Some(id) => {
                    acked.insert(text, id);
                }
                None => refused.push((is_ann, text)),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // It comes back empty.
    redis.restart().await;
    let restarted = Instant::now();
    // Fan-out recovers: probes from each side until one arrives live on the other.
    probe(&ann, &mut bob, &mut by_ann, &mut bob_got, "ann", restarted).await;
    probe(&bob, &mut ann, &mut by_bob, &mut ann_got, "bob", restarted).await;
    let fan_out_back = restarted.elapsed();
    // Presence recovers: both instances list both users again.
    loop {
        if online(&ann_http).await == both && online(&bob_http).await == both {
            break;
        }
        assert!(
            restarted.elapsed() < RECOVERY,
            "presence did not recover: {:?} / {:?}",
            online(&ann_http).await,
            online(&bob_http).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after the restart: fan-out back in {fan_out_back:?}, presence in {:?}", restarted.elapsed());

    // What was refused is retried, as clients do; then new sends go live.
    for (is_ann, text) in refused {
        let (s, acked) = if is_ann { (&ann, &mut by_ann) } else { (&bob, &mut by_bob) };
        acked.insert(text.clone(), send(s, &text).await.expect("a retry after recovery is acked"));
    }
    let mut after_ids = Vec::new();
    for i in 0..5 {
        let id = send(&ann, &format!("ann-after-{i}")).await.expect("acked");
        by_ann.insert(format!("ann-after-{i}"), id);
        after_ids.push((id, true));
        let id = send(&bob, &format!("bob-after-{i}")).await.expect("acked");
        by_bob.insert(format!("bob-after-{i}"), id);
        after_ids.push((id, false));
    }
    for (id, from_ann) in after_ids {
        let (to, got) = if from_ann { (&mut bob, &mut bob_got) } else { (&mut ann, &mut ann_got) };
        to.wait_for("new_message", |m| m["id"] == id, WAIT).await.expect("after: live across instances");
        got.insert(id);
    }
    received(&mut ann, &mut ann_got);
    received(&mut bob, &mut bob_got);

    // Every acked message is in history exactly once, with its acked id.
    let history = history_after(&ann_http, 0).await;
    let ids: Vec<i64> = history.iter().map(|(id, _)| *id).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no message stored twice");
    let stored: BTreeMap<String, i64> = history.iter().map(|(id, text)| (text.clone(), *id)).collect();
    for (text, id) in by_ann.iter().chain(&by_bob) {
        assert_eq!(stored.get(text), Some(id), "{text} acked as {id} is in history");
    }
    assert_eq!(stored.len(), by_ann.len() + by_bob.len(), "nothing unacked stored: {stored:?}");

    // Each side has every message of the other: live, or by catching up
    // from the last one it got live before the outage.
    for (acked, got, http, last_live, who) in
        [(&by_ann, &bob_got, &bob_http, bob_last_live, "bob"), (&by_bob, &ann_got, &ann_http, ann_last_live, "ann")]
    {
        let caught_up: BTreeSet<i64> = history_after(http, last_live).await.into_iter().map(|(id, _)| id).collect();
        let missed: Vec<_> = acked.values().filter(|id| !got.contains(id) && !caught_up.contains(id)).collect();
        assert!(missed.is_empty(), "{who} never got {missed:?}");
        let live_missed = acked.values().filter(|id| !got.contains(id)).count();
        eprintln!("{who}: {live_missed} of {} missed live, all found with after=", acked.len());
    }
}

/// The failure policy of docs/deploy.md, "When Redis is down": with Redis
/// unreachable, nothing is refused because of it. One instance (on its own
/// SQLite file) with its own Redis; Redis is killed; a user who was
/// connected and one who connects only now both join a room, send, type and
/// list who is online, and everything succeeds. When Redis is back, the
/// connections made meanwhile are registered again: the online list, now
/// read from Redis, has both.
#[tokio::test]
async fn with_redis_unreachable_connect_join_send_and_the_online_lists_still_succeed() {
    if !crate::enabled() {
        return;
    }
    let Some(mut redis) = Redis::start().await else { return };
    let prefix = unique_prefix();
    let url = redis.url();
    let a = Instance::start(&[("PARLEY_REDIS_URL", url.as_str()), ("PARLEY_REDIS_PREFIX", prefix.as_str())]).await;
    let (ann_http, ann) = user_on(&a, "ann").await;
    let bob_http = HttpClient::new(&a.base);
    assert_eq!(bob_http.api_register("bob", "bob@example.test", PASSWORD).await.unwrap().status(), 201);

    redis.kill();
    // Bob logs in and connects while Redis is away.
    assert_eq!(bob_http.api_login("bob", PASSWORD).await.unwrap().status(), 200);
    let mut bob = SioClient::connect(&a.base, bob_http.sio_options()).await.unwrap();
    bob.wait_for("connection_success", |_| true, WAIT).await.expect("connects while Redis is away");
    let ack = bob.emit_with_ack("join_room", json!({"room_id": 1}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "join_room while Redis is away: {ack}");
    for i in 0..3 {
        let id = send(&ann, &format!("ann-while-away-{i}")).await.expect("a send while Redis is away is acked");
        bob.wait_for("new_message", |m| m["id"] == id, WAIT).await.expect("delivered on this instance");
        send(&bob, &format!("bob-while-away-{i}")).await.expect("a send while Redis is away is acked");
    }
    let ack = ann.emit_with_ack("typing", json!({"room_id": 1, "is_typing": true}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "typing while Redis is away: {ack}");
    let (status, room) = ann_http.get_json("/api/online-users/1").await.unwrap();
    assert_eq!(status, 200, "a room's online list while Redis is away: {room}");
    let both: BTreeSet<String> = ["ann", "bob"].map(String::from).into();
    assert_eq!(online(&ann_http).await, both, "this instance's own view while Redis is away");

    // Redis comes back empty: the connections made meanwhile are registered again.
    redis.restart().await;
    let restarted = Instant::now();
    // Past the second after a failure in which Redis is not asked, the list
    // comes from Redis, which restarted empty: both are there only once
    // this instance has registered its connections again.
    tokio::time::sleep(parley::chat::SHARED_STATE_RETRY_AFTER + Duration::from_millis(500)).await;
    while online(&ann_http).await != both {
        assert!(restarted.elapsed() < RECOVERY, "presence not registered again: {:?}", online(&ann_http).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = "ann-after";
    assert!(send(&ann, text).await.is_some(), "a send after Redis is back");
}
