//! The scenarios. Each returns its one-line JSON summary.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use parley_client::{ConnectOptions, FrameTap, SioClient};
use serde_json::{Value, json};

use crate::common::*;
use crate::progress;

const ACK: Duration = Duration::from_secs(30);

async fn connect(base: &str, user: &BenchUser, tap: Option<FrameTap>) -> Result<SioClient> {
    let opts = ConnectOptions { cookie: Some(user.cookie.clone()), tap, auth: handshake_auth(), ..Default::default() };
    let mut s = SioClient::connect_with_timeout(base, opts, Duration::from_secs(30)).await?;
    s.wait_for("connection_success", |_| true, ACK).await?;
    Ok(s)
}

async fn join(s: &SioClient, room: i64) -> Result<()> {
    let ack = s.emit_with_ack("join_room", json!({"room_id": room}), ACK).await?;
    if ack["ok"] != true {
        return Err(format!("join_room {room}: {ack}").into());
    }
    Ok(())
}

async fn create_room(s: &SioClient, name: &str) -> Result<i64> {
    let ack = s.emit_with_ack("create_room", json!({"room_name": name}), ACK).await?;
    ack["room_id"].as_i64().ok_or_else(|| format!("create_room: {ack}").into())
}

/// Sockets per room in the connect and reconnect scenarios. Every join is
/// announced to the room, so one room of N sockets costs N² notices; rooms of
/// a few dozen keep the scenario about connections.
const ROOM_SIZE: usize = 50;

/// A tap that drops every event (acks still arrive): for sockets whose
/// events nobody reads, so they do not pile up in the client.
fn discard_events() -> FrameTap {
    FrameTap(Arc::new(|frame: &str| frame.starts_with("42") && !frame.starts_with("42[\"connection_success\"")))
}

/// Rooms for `sockets` sockets, `ROOM_SIZE` each, created through `user`.
async fn rooms_for(base: &str, user: &BenchUser, sockets: usize, tag: &str) -> Result<Vec<i64>> {
    let admin = connect(base, user, Some(discard_events())).await?;
    let mut rooms = Vec::new();
    for r in 0..sockets.div_ceil(ROOM_SIZE) {
        rooms.push(create_room(&admin, &format!("{tag}-{}-{r}", std::process::id())).await?);
    }
    Ok(rooms)
}

/// `users`: create and log in `count` users, `concurrency` at a time; save their cookies.
pub async fn users(base: &str, count: usize, concurrency: usize, prefix: &str, out: &Path) -> Result<Value> {
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let results: Vec<Result<BenchUser>> = stream::iter(0..count)
        .map(|i| {
            let done = &done;
            async move {
                let u = login(base, &format!("{prefix}{i}")).await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(1000) {
                    progress!("users: {n}/{count}");
                }
                u
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let failures = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        progress!("users: first failure: {e}");
    }
    let users: Vec<BenchUser> = results.into_iter().filter_map(Result::ok).collect();
    save_users(out, &users)?;
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({"scenario": "users", "users": users.len(), "failures": failures, "seconds": secs,
              "per_second": users.len() as f64 / secs}))
}

/// `connect`: `n` authenticated sockets, each joined to a room, held for `hold`.
pub async fn connect_scenario(
    base: &str,
    users: &[BenchUser],
    server: ServerProc,
    n: usize,
    concurrency: usize,
    hold: Duration,
) -> Result<Value> {
    let rooms = rooms_for(base, &users[0], n, "conn").await?;
    let rss_before = server.rss();
    let mut latency = histogram();
    let started = Instant::now();
    let failures = AtomicU64::new(0);
    let results: Vec<Option<(SioClient, u64)>> = stream::iter(0..n)
        .map(|i| {
            let user = &users[i % users.len()];
            let (failures, room) = (&failures, rooms[i / ROOM_SIZE]);
            async move {
                let t = Instant::now();
                let s = async {
                    let s = connect(base, user, Some(discard_events())).await?;
                    join(&s, room).await?;
                    Ok::<_, Error>(s)
                }
                .await;
                match s {
                    Ok(s) => Some((s, t.elapsed().as_micros() as u64)),
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            progress!("connect failed: {e}");
                        }
                        None
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut sockets = Vec::with_capacity(n);
    for (s, us) in results.into_iter().flatten() {
        let _ = latency.record(us.max(1));
        sockets.push(s);
    }
    progress!("connect: {} sockets in {elapsed:.2} s; holding {hold:?}", sockets.len());
    // Let allocations settle before measuring memory and idle CPU.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss();
    let cpu_before = server.cpu();
    tokio::time::sleep(hold).await;
    let cpu_after = server.cpu();
    let connected = sockets.iter().filter(|s| s.is_connected()).count();
    let per_conn = match (rss_before, rss_after) {
        (Some(a), Some(b)) if !sockets.is_empty() => Some((b.saturating_sub(a)) as f64 / sockets.len() as f64),
        _ => None,
    };
    let idle_cpu = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() / hold.as_secs_f64() * 100.0),
        _ => None,
    };
    Ok(json!({
        "scenario": "connect", "sockets": sockets.len(), "still_connected": connected,
        "failures": failures.load(Ordering::Relaxed),
        "connects_per_second": sockets.len() as f64 / elapsed, "connect_and_join": percentiles(&latency),
        "server_rss_before_mb": rss_before.map(|b| b as f64 / 1e6), "server_rss_after_mb": rss_after.map(|b| b as f64 / 1e6),
        "server_bytes_per_connection": per_conn, "server_idle_cpu_percent": idle_cpu,
    }))
}

/// Times every `new_message` a receiver gets, from the send time carried in
/// the text (`@<micros>`), without decoding the frame.
pub struct Deliveries {
    count: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

impl Deliveries {
    pub fn new() -> Self {
        Deliveries { count: AtomicU64::new(0), latency: Mutex::new(histogram()) }
    }

    pub fn tap(self: &Arc<Self>) -> FrameTap {
        let me = self.clone();
        FrameTap(Arc::new(move |frame: &str| {
            if !frame.starts_with("42[\"new_message\"") {
                return false;
            }
            let sent = frame
                .find("\"message\":\"@")
                .and_then(|i| {
                    let digits = &frame[i + 12..];
                    digits[..digits.find('"')?].parse::<u64>().ok()
                });
            me.count.fetch_add(1, Ordering::Relaxed);
            if let Some(sent) = sent {
                let _ = me.latency.lock().unwrap_or_else(|p| p.into_inner()).record(now_micros().saturating_sub(sent).max(1));
            }
            true
        }))
    }
}

/// The sockets of a fan-out run: `rooms` rooms of `members` sockets each.
pub struct FanoutSetup {
    rooms: Vec<i64>,
    members: usize,
    senders: Vec<(SioClient, i64)>,
    _receivers: Vec<SioClient>,
    deliveries: Arc<Deliveries>,
}

impl FanoutSetup {
    /// Sockets already connected and in their rooms; `deliveries` taps the receivers' frames.
    pub fn new(rooms: Vec<i64>, members: usize, senders: Vec<(SioClient, i64)>, receivers: Vec<SioClient>, deliveries: Arc<Deliveries>) -> Self {
        FanoutSetup { rooms, members, senders, _receivers: receivers, deliveries }
    }
}

pub async fn fanout_setup(base: &str, users: &[BenchUser], rooms: usize, members: usize, senders: usize) -> Result<FanoutSetup> {
    let deliveries = Arc::new(Deliveries::new());
    let admin = connect(base, &users[0], None).await?;
    let tag = std::process::id();
    let mut room_ids = Vec::new();
    for r in 0..rooms {
        room_ids.push(create_room(&admin, &format!("bench-{tag}-{r}")).await?);
    }
    let total = rooms * members;
    let deliveries_ref = &deliveries;
    let room_ids_ref = &room_ids;
    let sockets: Vec<Result<(usize, SioClient)>> = stream::iter(0..total)
        .map(|i| async move {
            let s = connect(base, &users[i % users.len()], Some(deliveries_ref.tap())).await?;
            join(&s, room_ids_ref[i % rooms]).await?;
            Ok((i, s))
        })
        .buffer_unordered(200)
        .collect()
        .await;
    let mut members_sockets = Vec::new();
    for s in sockets {
        members_sockets.push(s?);
    }
    members_sockets.sort_by_key(|(i, _)| *i);
    // The first `senders` sockets (spread over the rooms) also send.
    let mut receivers = Vec::new();
    let mut sender_sockets = Vec::new();
    for (i, s) in members_sockets {
        if sender_sockets.len() < senders {
            sender_sockets.push((s, room_ids[i % rooms]));
        } else {
            receivers.push(s);
        }
    }
    progress!("fanout: {rooms} rooms × {members} members connected, {} senders", sender_sockets.len());
    // Each join is announced to the room (`user_joined`, and `member_added`
    // when it begins a membership): a thousand joins are about a million
    // events, which the server may still be sending when the acks are in.
    // Their CPU is the setup's, not the fan-out's: let them drain first.
    tokio::time::sleep(Duration::from_millis(500 + 3 * members as u64)).await;
    Ok(FanoutSetup { rooms: room_ids, members, senders: sender_sockets, _receivers: receivers, deliveries })
}

/// Sends at `rate` messages/s in total (open loop) for `duration`, then waits
/// for stragglers; deliveries, losses, latency and server CPU per delivery.
pub async fn fanout_step(setup: &FanoutSetup, server: ServerProc, rate: f64, duration: Duration) -> Result<Value> {
    setup.deliveries.count.store(0, Ordering::SeqCst);
    *setup.deliveries.latency.lock().unwrap_or_else(|p| p.into_inner()) = histogram();
    let senders = setup.senders.len().max(1);
    let interval = Duration::from_secs_f64(senders as f64 / rate);
    let cpu_before = server.cpu();
    let sent = AtomicU64::new(0);
    let stop = Instant::now() + duration;
    let tasks = setup.senders.iter().enumerate().map(|(k, (s, room))| {
        let sent = &sent;
        async move {
            // Start the senders out of phase so sends spread over the interval.
            tokio::time::sleep(interval.mul_f64(k as f64 / senders as f64)).await;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while Instant::now() < stop {
                tick.tick().await;
                let text = format!("@{}", now_micros());
                if s.emit("send_message", json!({"room_id": room, "message": text})).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    futures_util::future::join_all(tasks).await;
    let sent = sent.load(Ordering::SeqCst);
    let expected = sent * setup.members as u64;
    // Stragglers: wait until everything arrived or 3 s pass.
    let deadline = Instant::now() + Duration::from_secs(3);
    while setup.deliveries.count.load(Ordering::SeqCst) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_after = server.cpu();
    let delivered = setup.deliveries.count.load(Ordering::SeqCst);
    let latency = setup.deliveries.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let cpu_us_per_delivery = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if delivered > 0 => Some((b - a).as_micros() as f64 / delivered as f64),
        _ => None,
    };
    Ok(json!({
        "rooms": setup.rooms.len(), "members": setup.members, "senders": setup.senders.len(),
        "offered_rate": rate, "messages_sent": sent, "deliveries": delivered,
        "deliveries_per_second": delivered as f64 / duration.as_secs_f64(),
        "lost_deliveries": expected.saturating_sub(delivered), "latency": percentiles(&latency),
        "server_cpu_us_per_delivery": cpu_us_per_delivery,
    }))
}

/// `ramp`: raises the rate by `factor` each step until p99 passes `p99_bound`
/// or a delivery is lost; the highest rate that held is the result.
pub async fn ramp(setup: &FanoutSetup, server: ServerProc, start: f64, factor: f64, step: Duration, p99_bound: Duration) -> Result<Value> {
    let mut rate = start;
    let mut best: Option<Value> = None;
    loop {
        let r = fanout_step(setup, server, rate, step).await?;
        let p99 = r["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX);
        let lost = r["lost_deliveries"].as_u64().unwrap_or(u64::MAX);
        progress!("ramp: {rate:.0} msg/s → p99 {p99} ms, lost {lost}, {} deliveries/s", r["deliveries_per_second"]);
        if p99 > p99_bound.as_secs_f64() * 1000.0 || lost > 0 {
            return Ok(json!({"scenario": "ramp", "p99_bound_ms": p99_bound.as_millis(), "highest_sustained": best, "failed_at": r}));
        }
        best = Some(r);
        rate *= factor;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `ingest`: `concurrency` senders, each sending acked messages as fast as
/// acks return for `duration` (or, with `rate`, all together at that many
/// messages per second, each send due on a schedule and timed from when it
/// was due); then an audit of what was stored.
pub async fn ingest(
    base: &str,
    users: &[BenchUser],
    concurrency: usize,
    rate: Option<f64>,
    duration: Duration,
) -> Result<Value> {
    // A room per sender: in one shared room every message would also be
    // delivered to every sender, and the run would measure fan-out.
    let admin = connect(base, &users[0], Some(discard_events())).await?;
    let mut rooms = Vec::with_capacity(concurrency);
    for k in 0..concurrency {
        rooms.push(create_room(&admin, &format!("ingest-{}-{k}", std::process::id())).await?);
    }
    let mut sockets = Vec::new();
    for (i, room) in rooms.iter().enumerate() {
        let s = connect(base, &users[i % users.len()], Some(discard_events())).await?;
        join(&s, *room).await?;
        sockets.push((s, *room));
    }
    progress!("ingest: {concurrency} senders, a room each");
    let stop = Instant::now() + duration;
    let started = Instant::now();
    let errors = AtomicU64::new(0);
    // Client ids unique to this run: the users are reused across runs, and a
    // repeated id is (rightly) answered with the earlier message.
    let run = format!("{}.{}", std::process::id(), now_micros());
    let run = &run;
    let runs = sockets.iter().enumerate().map(|(k, (s, room))| {
        let (errors, room) = (&errors, *room);
        // Open loop: sender k's sends are due every `interval`, staggered.
        let interval = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r));
        let first_due = started + interval.map_or(Duration::ZERO, |i| i.mul_f64(k as f64 / concurrency as f64));
        async move {
            let mut acked: Vec<(i64, String, i64)> = Vec::new();
            let mut h = histogram();
            let mut n = 0u64;
            while Instant::now() < stop {
                let t = match interval {
                    Some(interval) => {
                        let due = first_due + interval.mul_f64(n as f64);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let text = format!("ingest {k} {n}");
                n += 1;
                match s.emit_with_ack("send_message", json!({"room_id": room, "message": text, "client_id": format!("{run}-{k}-{n}")}), ACK).await {
                    Ok(ack) if ack["ok"] == true => {
                        let _ = h.record((t.elapsed().as_micros() as u64).max(1));
                        acked.push((ack["id"].as_i64().unwrap_or(0), text, room));
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (acked, h)
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = histogram();
    let mut acked = std::collections::HashMap::new();
    for (list, h) in results {
        latency.add(&h).map_err(|e| format!("{e:?}"))?;
        for (id, text, room) in list {
            acked.insert(id, (text, room));
        }
    }
    let total = acked.len();
    progress!("ingest: {total} acked in {elapsed:.1} s; auditing");
    // Audit: page through every room and check each acked message is there once, exactly.
    let http = reqwest::Client::new();
    let (mut seen, mut wrong, mut twice) = (0usize, 0usize, 0usize);
    let mut found = std::collections::HashSet::new();
    for &room in &rooms {
        let mut after = 0i64;
        loop {
            let page: Value = http
                .get(format!("{base}/api/messages/{room}?after={after}&limit=200"))
                .header("cookie", &users[0].cookie)
                .send()
                .await?
                .json()
                .await?;
            let page = page.as_array().ok_or("history page is not an array")?.clone();
            if page.is_empty() {
                break;
            }
            for m in &page {
                let id = m["id"].as_i64().unwrap_or(0);
                after = after.max(id);
                seen += 1;
                if !found.insert(id) {
                    twice += 1;
                }
                if acked.get(&id).is_some_and(|(t, r)| m["message"] != t.as_str() || m["room_id"] != *r) {
                    wrong += 1;
                }
            }
        }
    }
    let missing = acked.keys().filter(|id| !found.contains(id)).count();
    Ok(json!({
        "scenario": "ingest", "senders": concurrency, "offered_rate": rate, "seconds": elapsed, "acked": total,
        "acked_per_second": total as f64 / elapsed, "errors": errors.load(Ordering::Relaxed),
        "ack_latency": percentiles(&latency),
        "audit": {"stored": seen, "missing": missing, "wrong": wrong, "duplicates": twice},
    }))
}

/// `reconnect`: `n` clients connected and joined; `restart` (a shell command)
/// restarts the server; the time until every client is back and rejoined.
pub async fn reconnect(base: &str, users: &[BenchUser], n: usize, restart: &str, spread: Duration) -> Result<Value> {
    let rooms = Arc::new(rooms_for(base, &users[0], n, "reconnect").await?);
    let rejoined = Arc::new(AtomicU64::new(0));
    let refused_before = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let go = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (base, user) = (base.to_owned(), users[i % users.len()].clone());
        let (rejoined, go, room) = (rejoined.clone(), go.clone(), rooms[i / ROOM_SIZE]);
        let (first_error, refused_before) = (first_error.clone(), refused_before.clone());
        tasks.push(tokio::spawn(async move {
            // All n connect and join at once, so a server may shed some of
            // them ("try again"); they retry as a client would, for a while.
            let first = async {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let attempt = async {
                        let s = connect(&base, &user, Some(discard_events())).await?;
                        join(&s, room).await?;
                        Ok::<_, Error>(s)
                    };
                    match attempt.await {
                        Ok(s) => break Ok(s),
                        Err(_) if Instant::now() < deadline => {
                            refused_before.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(200 + (i as u64 % 200))).await;
                        }
                        Err(e) => break Err(e),
                    }
                }
            };
            let mut s = match first.await {
                Ok(s) => s,
                Err(e) => {
                    first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
                    return Err(e);
                }
            };
            rejoined.fetch_add(1, Ordering::SeqCst);
            s.disconnected(Duration::from_secs(120)).await?;
            while !go.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // A fixed pseudo-random order (Knuth's multiplicative hash of i).
            let slot = (i as u64).wrapping_mul(2_654_435_761) % 1_000_003;
            tokio::time::sleep(spread.mul_f64(slot as f64 / 1_000_003.0)).await;
            // Back as a client library would: retry with a short, jittered pause.
            loop {
                match connect(&base, &user, Some(discard_events())).await {
                    Ok(s2) => {
                        join(&s2, room).await?;
                        rejoined.fetch_add(1, Ordering::SeqCst);
                        s = s2;
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50 + (i as u64 % 50))).await,
                }
            }
            s.close().await;
            Ok::<_, Error>(())
        }));
    }
    // Every client connected before the restart, or the scenario fails.
    while rejoined.load(Ordering::SeqCst) < n as u64 {
        if let Some(e) = first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(format!("reconnect: a client could not connect before the restart: {e}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress!("reconnect: {n} connected; restarting the server");
    let t = Instant::now();
    let status = tokio::process::Command::new("sh").arg("-c").arg(restart).status().await?;
    if !status.success() {
        return Err(format!("restart command failed: {status}").into());
    }
    // The old server's graceful shutdown (and the new one's spawn).
    let restart_secs = t.elapsed().as_secs_f64();
    go.store(true, Ordering::SeqCst);
    // When the new process answers, so that the time after it is known apart
    // from the stop and the spawn.
    let listening = tokio::spawn({
        let url = format!("{base}/healthz");
        async move {
            let http = reqwest::Client::new();
            while t.elapsed() < Duration::from_secs(120) {
                if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                    return Some(t.elapsed().as_secs_f64());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            None
        }
    });
    while rejoined.load(Ordering::SeqCst) < 2 * n as u64 {
        if t.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let back = rejoined.load(Ordering::SeqCst) - n as u64;
    let all_back = t.elapsed().as_secs_f64();
    let listening = listening.await.ok().flatten();
    Ok(json!({"scenario": "reconnect", "clients": n, "back": back, "seconds_until_all_back": all_back,
              "seconds_restarting": restart_secs, "seconds_until_listening": listening,
              "seconds_back_after_listening": listening.map(|l| all_back - l), "spread_ms": spread.as_millis() as u64,
              "refused_before_restart": refused_before.load(Ordering::Relaxed)}))
}

/// `history`: `GET /api/messages/<room>` at `concurrency` for `duration`.
/// A new public room with `count` messages in it, for `history` to read.
pub async fn filled_room(base: &str, users: &[BenchUser], count: u32) -> Result<i64> {
    let s = connect(base, &users[0], Some(discard_events())).await?;
    let room = create_room(&s, &format!("history-{}-{}", std::process::id(), now_micros())).await?;
    join(&s, room).await?;
    let mut n = 0;
    while n < count {
        let ack = s.emit_with_ack("send_message", json!({"room_id": room, "message": format!("history {n}")}), ACK).await?;
        if ack["ok"] == true {
            n += 1;
        } else if ack["error"]["code"] == "rate_limited" {
            // A server with its default send rate: wait for the bucket.
            tokio::time::sleep(Duration::from_millis(250)).await;
        } else {
            return Err(format!("filling the history room: {ack}").into());
        }
    }
    Ok(room)
}

pub async fn history(base: &str, users: &[BenchUser], room: i64, concurrency: usize, duration: Duration) -> Result<Value> {
    let stop = Instant::now() + duration;
    let started = Instant::now();
    let runs = (0..concurrency).map(|k| {
        let cookie = users[k % users.len()].cookie.clone();
        async move {
            let http = reqwest::Client::new();
            let mut h = histogram();
            let (mut errors, mut messages) = (0u64, 0u64);
            while Instant::now() < stop {
                let t = Instant::now();
                // The whole page is read, as a client would: that also lets
                // the connection be kept alive for the next request.
                match page_of_history(&http, &format!("{base}/api/messages/{room}"), &cookie).await {
                    Some(n) => {
                        let _ = h.record((t.elapsed().as_micros() as u64).max(1));
                        messages += n;
                    }
                    None => errors += 1,
                }
            }
            (h, errors, messages)
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = histogram();
    let (mut errors, mut messages) = (0, 0);
    for (h, e, m) in results {
        latency.add(&h).map_err(|e| format!("{e:?}"))?;
        errors += e;
        messages += m;
    }
    let per_page = if latency.is_empty() { 0.0 } else { messages as f64 / latency.len() as f64 };
    Ok(json!({"scenario": "history", "concurrency": concurrency, "requests": latency.len(),
              "requests_per_second": latency.len() as f64 / elapsed, "messages_per_page": per_page,
              "errors": errors, "latency": percentiles(&latency)}))
}

/// The number of messages on one page, or None when the request failed.
async fn page_of_history(http: &reqwest::Client, url: &str, cookie: &str) -> Option<u64> {
    let response = http.get(url).header("cookie", cookie).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let page: Vec<serde::de::IgnoredAny> = response.json().await.ok()?;
    Some(page.len() as u64)
}
