//! Several Parley processes sharing one database and Redis.
//!
//! Runs when `PARLEY_TEST_DATABASE` (mysql or postgres, with its
//! `PARLEY_TEST_*_URL`) and `PARLEY_TEST_REDIS_URL` are set (`.ci/run` sets
//! them); skipped otherwise.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley::store::testdb::{Backend, TestDb};
use parley_client::{HttpClient, SioClient};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse";

/// One `parley` process.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    async fn start(database_url: &str, redis_url: &str, prefix: &str, env: &[(&str, &str)]) -> Self {
        // The instance binds a port the system chooses and says which in its
        // log. (A port found free here and handed over could be taken by an
        // instance of a test running beside this one; this one would then
        // fail to bind, and the other's would answer in its place.)
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .env("PARLEY_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("PARLEY_REDIS_URL", redis_url)
            .env("PARLEY_REDIS_PREFIX", prefix)
            .env("PARLEY_LOG", "warn,parley=info")
            .env("NO_COLOR", "1")
            .env("PARLEY_MESSAGE_RATE", "1000")
            .env("PARLEY_MESSAGE_BURST", "1000")
            .env("PARLEY_MAX_CONNECTIONS_PER_ADDRESS", "0")
            // Many users register from 127.0.0.1, several at once.
            .env("PARLEY_REGISTRATIONS_PER_ADDRESS", "100000")
            .env("PARLEY_HASH_QUEUE", "10000")
            .env("PARLEY_ROOM_CREATE_BURST", "1000")
            .env("PARLEY_JOIN_BURST", "1000")
            .env("PARLEY_TYPING_BURST", "1000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("parley starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            // Reads the log to its end, so the instance never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Parley is listening")
                    && let Some(at) = line.find("127.0.0.1:")
                {
                    let port: String = line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                    let _ = found.send(port);
                }
            }
        });
        let Ok(port) = address.recv_timeout(Duration::from_secs(10)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the instance did not log its address");
        };
        // Owned at once, so Drop kills and reaps it whatever happens next.
        let instance = Self { child, base: format!("http://127.0.0.1:{port}") };
        let http = HttpClient::new(&instance.base);
        for _ in 0..200 {
            if http.inner().get(format!("{}/readyz", instance.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return instance;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance on {} did not become ready", instance.base);
    }

    /// Stops it as a deploy does (SIGTERM) and waits until it has exited.
    fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    fn kill9(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    nodes: Vec<Instance>,
    _db: TestDb,
}

/// `n` instances on one fresh database and one Redis key prefix, or `None` to skip.
async fn cluster(n: usize) -> Option<Cluster> {
    cluster_with(n, &[]).await
}

async fn cluster_with(n: usize, env: &[(&str, &str)]) -> Option<Cluster> {
    let (Some(backend), Ok(redis)) = (Backend::from_env(), std::env::var("PARLEY_TEST_REDIS_URL")) else {
        eprintln!("skipped: set PARLEY_TEST_DATABASE (with its URL) and PARLEY_TEST_REDIS_URL");
        return None;
    };
    let db = TestDb::create(backend).await.expect("database server configured");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("parley-cluster-test-{}-{nanos}", std::process::id());
    // The first instance creates the tables; the others find them.
    let mut nodes = vec![Instance::start(&db.url, &redis, &prefix, env).await];
    for _ in 1..n {
        nodes.push(Instance::start(&db.url, &redis, &prefix, env).await);
    }
    Some(Cluster { nodes, _db: db })
}

/// A user logged in through `instance`, with a connected socket there.
async fn user_on(instance: &Instance, name: &str) -> (HttpClient, SioClient) {
    let http = HttpClient::new(&instance.base);
    if http.api_register(name, &format!("{name}@example.test"), PASSWORD).await.unwrap().status() != 201 {
        // Registered through another instance before: just log in.
    }
    assert_eq!(http.api_login(name, PASSWORD).await.unwrap().status(), 200);
    let mut s = SioClient::connect(&instance.base, http.sio_options()).await.unwrap();
    s.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    (http, s)
}

async fn join(s: &SioClient, room: i64) {
    let ack = s.emit_with_ack("join_room", json!({"room_id": room}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
}

async fn send(s: &SioClient, room: i64, text: &str) -> i64 {
    let ack = s.emit_with_ack("send_message", json!({"room_id": room, "message": text}), WAIT).await.unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    ack["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_message_sent_on_one_instance_reaches_a_client_of_another_exactly_once() {
    let Some(c) = cluster(2).await else { return };
    let (_, mut ann) = user_on(&c.nodes[0], "ann").await;
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    join(&ann, 1).await;
    join(&bob, 1).await;
    ann.wait_for("user_joined", |j| j["username"] == "bob", WAIT).await.unwrap();
    let id = send(&ann, 1, "across instances").await;
    let m = bob.wait_for("new_message", |m| m["id"] == id, WAIT).await.unwrap();
    assert_eq!(m["message"], "across instances");
    assert_eq!(m["username"], "ann");
    bob.expect_none("new_message", |m| m["id"] == id, Duration::from_millis(500)).await.unwrap();
    ann.wait_for("new_message", |m| m["id"] == id, WAIT).await.unwrap();
    ann.expect_none("new_message", |m| m["id"] == id, Duration::from_millis(500)).await.unwrap();

    // Typing crosses too, and only to the others.
    ann.emit("typing", json!({"room_id": 1, "is_typing": true})).unwrap();
    bob.wait_for("user_typing", |t| t["username"] == "ann" && t["is_typing"] == true, WAIT).await.unwrap();
}

#[tokio::test]
async fn presence_and_new_rooms_are_seen_on_every_instance() {
    let Some(c) = cluster(3).await else { return };
    let (bob_http, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (_, mut cyd) = user_on(&c.nodes[2], "cyd").await;
    // A client that asks for presence in batches hears the others' changes in them.
    let (dee_http, _) = user_on(&c.nodes[2], "dee").await;
    let batched = parley_client::ConnectOptions { auth: Some(json!({"capabilities": ["presence_batch"]})), ..dee_http.sio_options() };
    let mut dee = SioClient::connect(&c.nodes[2].base, batched).await.unwrap();
    dee.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    let ann_is = |online: bool| {
        move |b: &Value| b["users"].as_array().is_some_and(|u| u.iter().any(|p| p["username"] == "ann" && p["is_online"] == online))
    };
    let (_, ann) = user_on(&c.nodes[0], "ann").await;
    for s in [&mut bob, &mut cyd] {
        s.wait_for("presence", |p| p["username"] == "ann" && p["is_online"] == true, WAIT).await.unwrap();
    }
    dee.wait_for("presence_batch", ann_is(true), WAIT).await.unwrap();
    let (_, online) = bob_http.get_json("/api/online-users").await.unwrap();
    let names: BTreeSet<_> = online.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["ann", "bob", "cyd", "dee"].map(String::from).into());

    let ack = ann.emit_with_ack("create_room", json!({"room_name": "Everywhere"}), WAIT).await.unwrap();
    let room = ack["room_id"].clone();
    for s in [&mut bob, &mut cyd] {
        s.wait_for("room_created", |r| r["room_id"] == room, WAIT).await.unwrap();
    }

    join(&ann, 1).await;
    let (_, in_room) = bob_http.get_json("/api/online-users/1").await.unwrap();
    assert_eq!(in_room.as_array().unwrap().len(), 1, "{in_room}");
    assert_eq!(in_room[0]["username"], "ann");

    ann.close().await;
    let gone = bob.wait_for("presence", |p| p["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(gone["is_online"], false);
    dee.wait_for("presence_batch", ann_is(false), WAIT).await.unwrap();
    dee.expect_none("presence", |_| true, Duration::from_millis(300)).await.unwrap();
}

#[tokio::test]
async fn the_users_of_a_stopped_instance_go_offline_elsewhere_at_once() {
    // A single instance keeps its users online through a restart's grace; in
    // a cluster the others know at once that they are gone.
    let Some(mut c) = cluster(2).await else { return };
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (_, _ann) = user_on(&c.nodes[0], "ann").await;
    bob.wait_for("presence", |p| p["username"] == "ann" && p["is_online"] == true, WAIT).await.unwrap();
    c.nodes[0].terminate();
    let gone = bob.wait_for("presence", |p| p["username"] == "ann", WAIT).await.expect("ann goes offline");
    assert_eq!(gone["is_online"], false);
}

#[tokio::test]
async fn the_users_of_a_killed_instance_go_offline_elsewhere_within_thirty_seconds() {
    let Some(mut c) = cluster(2).await else { return };
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (_, _ann) = user_on(&c.nodes[0], "ann").await;
    bob.wait_for("presence", |p| p["username"] == "ann" && p["is_online"] == true, WAIT).await.unwrap();
    let killed = Instant::now();
    c.nodes[0].kill9();
    let gone = bob
        .wait_for("presence", |p| p["username"] == "ann", Duration::from_secs(30))
        .await
        .expect("ann goes offline within 30 s");
    assert_eq!(gone["is_online"], false);
    assert!(gone["last_seen"].is_string());
    eprintln!("offline after {:?}", killed.elapsed());
}

#[tokio::test]
async fn the_newest_page_on_one_instance_shows_a_message_sent_on_another_once_it_is_delivered() {
    let Some(c) = cluster(2).await else { return };
    let (_, ann) = user_on(&c.nodes[0], "ann").await;
    let (bob_http, mut bob) = user_on(&c.nodes[1], "bob").await;
    join(&ann, 1).await;
    join(&bob, 1).await;
    let newest = async || {
        let (_, page) = bob_http.get_json("/api/messages/1").await.unwrap();
        page.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    // Bob's instance keeps the room's newest page once read.
    assert!(newest().await.is_empty());
    let id = send(&ann, 1, "sent on the other instance").await;
    bob.wait_for("new_message", |m| m["id"] == id, WAIT).await.unwrap();
    assert_eq!(newest().await, ["sent on the other instance"]);
}

#[tokio::test]
async fn a_client_that_moves_to_another_instance_catches_up_with_after() {
    let Some(c) = cluster(2).await else { return };
    let (_, ann) = user_on(&c.nodes[0], "ann").await;
    join(&ann, 1).await;
    let (bob_http, bob) = user_on(&c.nodes[0], "bob").await;
    join(&bob, 1).await;
    let last_seen = send(&ann, 1, "seen by bob").await;
    bob.close().await; // bob's instance goes away for him
    let mut missed = Vec::new();
    for i in 0..7 {
        missed.push(send(&ann, 1, &format!("missed {i}")).await);
    }
    // Bob comes back through the other instance with the same session.
    let moved = HttpClient::new(&c.nodes[1].base);
    let cookie = bob_http.cookie_header().unwrap();
    let r = moved.inner().get(format!("{}/api/messages/1?after={last_seen}&limit=3", c.nodes[1].base)).header("cookie", &cookie);
    let mut got: Vec<i64> = ids(&r.send().await.unwrap().json::<Value>().await.unwrap());
    while got.len() < missed.len() {
        let after = got.last().copied().unwrap_or(last_seen);
        let page = moved
            .inner()
            .get(format!("{}/api/messages/1?after={after}&limit=3", c.nodes[1].base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let page = ids(&page.json::<Value>().await.unwrap());
        assert!(!page.is_empty(), "a page ended early: {got:?}");
        got.extend(page);
    }
    assert_eq!(got, missed);
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn catch_up_with_after_misses_nothing_while_two_instances_write_concurrently() {
    let Some(c) = cluster(2).await else { return };
    let mut senders = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        for j in 0..4 {
            let (_, s) = user_on(node, &format!("w{i}x{j}")).await;
            join(&s, 1).await;
            senders.push(s);
        }
    }
    let (reader, _) = user_on(&c.nodes[1], "reader").await;
    let reader = Arc::new(reader);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The reader pages with `after` from wherever it got to, over and over.
    let poll = {
        let (reader, done) = (reader.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut cursor = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (_, page) = reader.get_json(&format!("/api/messages/1?after={cursor}&limit=50")).await.unwrap();
                let page = ids(&page);
                if let Some(last) = page.last() {
                    cursor = *last;
                }
                seen.extend(&page);
                if finished && page.is_empty() {
                    return seen;
                }
            }
        })
    };
    let sends = senders.iter().enumerate().map(|(k, s)| async move {
        let mut acked = Vec::new();
        for n in 0..40 {
            acked.push(send(s, 1, &format!("{k}-{n}")).await);
        }
        acked
    });
    let acked: BTreeSet<i64> = futures_util::future::join_all(sends).await.into_iter().flatten().collect();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = poll.await.unwrap();
    let seen_set: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), seen_set.len(), "no message was seen twice");
    let missed: Vec<_> = acked.difference(&seen_set).collect();
    assert!(missed.is_empty(), "the reader's after= cursor skipped {} acked messages: {missed:?}", missed.len());
    assert_eq!(acked.len(), 320);
}

#[tokio::test]
async fn login_and_send_limits_hold_across_instances() {
    let Some(c) = cluster_with(2, &[("PARLEY_MESSAGE_RATE", "1"), ("PARLEY_MESSAGE_BURST", "6"), ("PARLEY_LOGIN_DELAY_MAX_MS", "100")]).await else { return };
    // Ten failures for one username from one address (the default limit),
    // split over both instances (with a short delay cap: the delay grows
    // from the fourth failure).
    for i in 0..10 {
        let http = HttpClient::new(&c.nodes[i % 2].base);
        assert_eq!(http.api_login("bob", "wrong password").await.unwrap().status(), 401);
    }
    for node in &c.nodes {
        let r = HttpClient::new(&node.base).api_login("bob", "wrong password").await.unwrap();
        assert_eq!(r.status(), 429, "the eleventh try is refused on every instance");
    }
    // One send bucket (burst 6) for ann, wherever she sends from.
    let (_, ann) = user_on(&c.nodes[0], "ann").await;
    let (_, ann2) = user_on(&c.nodes[1], "ann").await;
    join(&ann, 1).await;
    join(&ann2, 1).await;
    for i in 0..6 {
        let s = if i % 2 == 0 { &ann } else { &ann2 };
        send(s, 1, &format!("m{i}")).await;
    }
    for s in [&ann, &ann2] {
        let ack = s.emit_with_ack("send_message", json!({"room_id": 1, "message": "one too many"}), WAIT).await.unwrap();
        assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    }
}

#[tokio::test]
async fn the_socket_cap_and_the_room_creation_limit_of_a_user_hold_across_instances() {
    let env = [("PARLEY_MAX_SOCKETS_PER_USER", "3"), ("PARLEY_ROOM_CREATE_BURST", "2"), ("PARLEY_ROOM_CREATE_PER_MINUTE", "1")];
    let Some(c) = cluster_with(2, &env).await else { return };
    let (ann_http, ann) = user_on(&c.nodes[0], "ann").await;
    let mut open = vec![ann];
    for node in [&c.nodes[1], &c.nodes[0]] {
        let mut s = SioClient::connect(&node.base, ann_http.sio_options()).await.unwrap();
        s.wait_for("connection_success", |_| true, WAIT).await.unwrap();
        open.push(s);
    }
    for node in &c.nodes {
        match SioClient::connect(&node.base, ann_http.sio_options()).await {
            Err(parley_client::SioError::Refused(body)) => {
                assert!(body["message"].as_str().unwrap().starts_with("Too many connections"), "{body}")
            }
            other => panic!("a fourth socket on {}: {:?}", node.base, other.map(|_| "accepted")),
        }
    }
    // One bucket of room creations (burst 2) for ann, wherever she creates from.
    for (i, s) in open.iter().take(2).enumerate() {
        let ack = s.emit_with_ack("create_room", json!({"room_name": format!("r{i}")}), WAIT).await.unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    for s in open.iter().take(2) {
        let ack = s.emit_with_ack("create_room", json!({"room_name": "one too many"}), WAIT).await.unwrap();
        assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");
    }
}

#[tokio::test]
async fn a_user_who_moves_to_another_instance_within_the_linger_is_not_announced_offline() {
    let Some(c) = cluster(2).await else { return };
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (ann_http, ann) = user_on(&c.nodes[0], "ann").await;
    bob.wait_for("presence", |p| p["username"] == "ann" && p["is_online"] == true, WAIT).await.unwrap();
    ann.close().await;
    let mut moved = SioClient::connect(&c.nodes[1].base, ann_http.sio_options()).await.unwrap();
    moved.wait_for("connection_success", |_| true, WAIT).await.unwrap();
    // Past the linger (1.5 s by default): no offline and no second online.
    bob.expect_none("presence", |p| p["username"] == "ann", Duration::from_millis(2500)).await.unwrap();
    moved.close().await;
    let gone = bob.wait_for("presence", |p| p["username"] == "ann", WAIT).await.unwrap();
    assert_eq!(gone["is_online"], false);
}

#[tokio::test]
async fn a_user_lingering_on_an_instance_that_dies_goes_offline_elsewhere() {
    let Some(mut c) = cluster_with(2, &[("PARLEY_PRESENCE_LINGER_MS", "30000")]).await else { return };
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (_, ann) = user_on(&c.nodes[0], "ann").await;
    bob.wait_for("presence", |p| p["username"] == "ann" && p["is_online"] == true, WAIT).await.unwrap();
    ann.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Dies within ann's linger: the instance that would have announced her offline is gone.
    c.nodes[0].kill9();
    let gone = bob
        .wait_for("presence", |p| p["username"] == "ann", Duration::from_secs(30))
        .await
        .expect("ann goes offline when the dead instance is reaped");
    assert_eq!(gone["is_online"], false);
}

/// `PATCH path` with a JSON body through `http`.
async fn patch_json(http: &HttpClient, path: &str, body: Value) -> (u16, Value) {
    let r = http.inner().patch(http.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn deactivating_a_user_on_one_instance_closes_their_socket_on_another_at_once() {
    let Some(c) = cluster(2).await else { return };
    // The first account is the admin.
    let (admin, _admin_socket) = user_on(&c.nodes[0], "ann").await;
    let (bob_http, mut bob) = user_on(&c.nodes[1], "bob").await;
    let (_, me) = bob_http.get_json("/api/me").await.unwrap();
    let bob_id = me["id"].as_i64().unwrap();
    let (status, user) = patch_json(&admin, &format!("/api/admin/users/{bob_id}"), json!({"deactivated": true})).await;
    assert_eq!(status, 200, "{user}");
    // Well before the periodic session check (60 s) could notice.
    bob.disconnected(WAIT).await.expect("bob's socket on the other instance closes");
    assert_eq!(bob_http.get_json("/api/me").await.unwrap().0, 401);
    let other = HttpClient::new(&c.nodes[1].base);
    assert_eq!(other.api_login("bob", PASSWORD).await.unwrap().status(), 403, "account_deactivated there too");
}

#[tokio::test]
async fn settings_and_new_names_changed_on_one_instance_hold_on_another_at_once() {
    let Some(c) = cluster(2).await else { return };
    let (admin, ann) = user_on(&c.nodes[0], "ann").await;
    let (_, mut bob) = user_on(&c.nodes[1], "bob").await;
    // Read on the second instance first, so that it has the settings in memory.
    let other = HttpClient::new(&c.nodes[1].base);
    assert_eq!(other.api_register("cyd", "cyd@example.test", PASSWORD).await.unwrap().status(), 201);
    let (status, _) = patch_json(&admin, "/api/admin/settings", json!({"registration": "closed"})).await;
    assert_eq!(status, 200);
    let r = other.api_register("dee", "dee@example.test", PASSWORD).await.unwrap();
    assert_eq!(r.status(), 403, "closed on the other instance at once");

    // Ann has a socket on the second instance too; she changes her name on the first.
    let (_, ann_there) = user_on(&c.nodes[1], "ann").await;
    join(&ann_there, 1).await;
    join(&bob, 1).await;
    let (status, _) = patch_json(&admin, "/api/me", json!({"display_name": "Ann Lee"})).await;
    assert_eq!(status, 200);
    bob.wait_for("user_updated", |u| u["username"] == "ann" && u["display_name"] == "Ann Lee", WAIT).await.unwrap();
    // Her socket on the second instance speaks with the new name at once.
    let id = send(&ann_there, 1, "renamed").await;
    let m = bob.wait_for("new_message", |m| m["id"] == id, WAIT).await.unwrap();
    assert_eq!(m["display_name"], "Ann Lee");
    drop(ann);
}
