//! `team`: a realistic team (docs/protocol.md Part C). `users` people, `rooms`
//! private rooms with each person a member of `rooms_per_user` of them and of
//! `directs_per_user` direct rooms, plus one private room of `big_room`
//! members (the first ones) for the fan-out figure. Everyone connects with the
//! `membership` capability, so every socket receives its rooms without a
//! `join_room`.
//!
//! Figures: connect rate and server memory per socket with those membership
//! subscriptions; `GET /api/rooms` latency (from when each request was due,
//! open loop) for a person outside the big room (their private and direct
//! rooms, General and the other public rooms) at `list_rate` requests/s; CPU
//! per delivery in the big room, every send passing the server's
//! authorization check. And checks, which fail the run: every socket connects,
//! the listing shows exactly that person's rooms, no request fails, no
//! delivery is lost.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use parley_client::{ConnectOptions, FrameTap, SioClient};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::progress;
use crate::scenarios::{Deliveries, FanoutSetup, fanout_step};

/// At most this many ids in one request (docs/protocol.md, Limits).
const IDS_PER_REQUEST: usize = 100;

#[derive(clap::Args)]
pub struct TeamShape {
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Private rooms; each person is a member of --rooms-per-user of them.
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    #[arg(long, default_value_t = 20)]
    pub rooms_per_user: usize,
    /// Direct rooms of two per person (even).
    #[arg(long, default_value_t = 10)]
    pub directs_per_user: usize,
    /// Members of the one large room (the first users), for CPU per delivery.
    #[arg(long, default_value_t = 1000)]
    pub big_room: usize,
    /// Sockets connecting at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// `GET /api/rooms` per second, by a person with rooms_per_user + directs_per_user rooms.
    #[arg(long, default_value_t = 200.0)]
    pub list_rate: f64,
    #[arg(long, default_value_t = 10)]
    pub list_secs: u64,
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Messages per second into the large room, all senders together.
    #[arg(long, default_value_t = 40.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10)]
    pub secs: u64,
}

impl TeamShape {
    fn check(&self, available: usize) -> Result<()> {
        if self.users > available {
            return Err(format!("team: {} users asked, {available} in the users file (run `users --count {}` first)", self.users, self.users).into());
        }
        if self.rooms_per_user == 0 || self.rooms % self.rooms_per_user != 0 || self.rooms_per_user > self.rooms {
            return Err("team: --rooms must be a multiple of --rooms-per-user".into());
        }
        if self.directs_per_user % 2 != 0 || self.directs_per_user >= self.users {
            return Err("team: --directs-per-user must be even and below --users".into());
        }
        if self.big_room >= self.users || self.senders == 0 || self.senders > self.big_room {
            return Err("team: --big-room must be below --users (someone lists rooms outside it), with 1..=big-room senders".into());
        }
        Ok(())
    }

    /// The team rooms (indexes) user `i` is a member of: with a stride of
    /// rooms / rooms_per_user, every room gets users / stride members.
    fn rooms_of(&self, i: usize) -> impl Iterator<Item = usize> {
        let stride = self.rooms / self.rooms_per_user;
        (0..self.rooms_per_user).map(move |j| i % stride + stride * j)
    }

    /// The people user `i` starts a direct room with: the next
    /// directs_per_user / 2 (so each has directs_per_user in all).
    fn direct_partners(&self, i: usize) -> impl Iterator<Item = usize> {
        let n = self.users;
        (1..=self.directs_per_user / 2).map(move |k| (i + k) % n)
    }
}

/// An HTTP client of one user: JSON in and out, the session cookie on every request.
struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    cookie: &'a str,
}

impl Api<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).header("cookie", self.cookie);
        if let Some(body) = body {
            // Part C refuses cross-site requests like the forms do: say where it comes from.
            req = req.header("origin", self.base).json(&body);
        }
        let r = req.send().await?;
        let status = r.status();
        let text = r.text().await?;
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {value}").into());
        }
        Ok((status, value))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        Ok(self.call(reqwest::Method::POST, path, Some(body)).await?.1)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        Ok(self.call(reqwest::Method::GET, path, None).await?.1)
    }
}

fn id_of(v: &Value, what: &str) -> Result<i64> {
    v["id"].as_i64().ok_or_else(|| format!("{what}: no id in {v}").into())
}

/// A private room made by `owner` with `members` (owner excluded), the first
/// hundred in the creation, the rest added a hundred at a time.
async fn private_room(owner: &Api<'_>, name: &str, members: &[i64]) -> Result<i64> {
    let (first, rest) = members.split_at(members.len().min(IDS_PER_REQUEST));
    let room = owner.post("/api/rooms", json!({"room_name": name, "room_type": "private", "member_ids": first})).await?;
    let id = id_of(&room, "POST /api/rooms")?;
    for chunk in rest.chunks(IDS_PER_REQUEST) {
        owner.post(&format!("/api/rooms/{id}/members"), json!({"user_ids": chunk})).await?;
    }
    Ok(id)
}

pub async fn team<'a>(base: &'a str, users: &'a [BenchUser], server: ServerProc, shape: &TeamShape) -> Result<Value> {
    shape.check(users.len())?;
    let users = &users[..shape.users];
    let http = reqwest::Client::new();
    let http = &http;
    let api = |u: &'a BenchUser| Api { http, base, cookie: &u.cookie };
    let started = Instant::now();

    // Who is who.
    let ids: Vec<Result<i64>> = stream::iter(users)
        .map(|u| {
            let api = api(u);
            async move { id_of(&api.get("/api/me").await?, "GET /api/me") }
        })
        .buffered(16)
        .collect()
        .await;
    let ids: Vec<i64> = ids.into_iter().collect::<Result<_>>()?;

    // The team rooms, made by the first user; each person in rooms_per_user of them.
    let owner = api(&users[0]);
    let tag = format!("{}-{}", std::process::id(), now_micros() % 1_000_000);
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); shape.rooms];
    for (i, id) in ids.iter().enumerate().skip(1) {
        for r in shape.rooms_of(i) {
            members[r].push(*id);
        }
    }
    let mut rooms = Vec::with_capacity(shape.rooms);
    for (r, m) in members.iter().enumerate() {
        rooms.push(private_room(&owner, &format!("team-{tag}-{r}"), m).await?);
    }
    let big_room = private_room(&owner, &format!("all-hands-{tag}"), &ids[1..shape.big_room]).await?;
    progress!("team: {} rooms and the {}-member room made in {:.1} s", shape.rooms, shape.big_room, started.elapsed().as_secs_f64());

    // The direct rooms, each started by one of its two people.
    let directs_started = Instant::now();
    let pairs: Vec<(usize, usize)> = (0..shape.users).flat_map(|i| shape.direct_partners(i).map(move |j| (i, j))).collect();
    let ids_ref = &ids;
    let directs: Vec<Result<(usize, usize, i64)>> = stream::iter(pairs)
        .map(|(i, j)| {
            let api = api(&users[i]);
            async move {
                let room = api.post("/api/direct", json!({"user_ids": [ids_ref[j]]})).await?;
                Ok((i, j, id_of(&room, "POST /api/direct")?))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let directs: Vec<(usize, usize, i64)> = directs.into_iter().collect::<Result<_>>()?;
    progress!("team: {} direct rooms in {:.1} s", directs.len(), directs_started.elapsed().as_secs_f64());

    // Everyone connects with `membership`.
    let deliveries = Arc::new(Deliveries::new());
    let rss_before = server.rss();
    let connect_started = Instant::now();
    let failures = AtomicU64::new(0);
    let mut connect_latency = histogram();
    let sockets: Vec<Option<(usize, SioClient, u64)>> = stream::iter(0..shape.users)
        .map(|i| {
            let (user, failures, tap) = (&users[i], &failures, deliveries_only(&deliveries));
            async move {
                let t = Instant::now();
                let auth = Some(json!({"capabilities": ["membership", "presence_batch"]}));
                let opts = ConnectOptions { cookie: Some(user.cookie.clone()), tap: Some(tap), auth, ..Default::default() };
                let connected = async {
                    let mut s = SioClient::connect_with_timeout(base, opts, Duration::from_secs(30)).await?;
                    s.wait_for("connection_success", |_| true, Duration::from_secs(30)).await?;
                    Ok::<_, Error>(s)
                };
                match connected.await {
                    Ok(s) => Some((i, s, t.elapsed().as_micros() as u64)),
                    Err(e) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            progress!("team: connect failed: {e}");
                        }
                        None
                    }
                }
            }
        })
        .buffer_unordered(shape.concurrency.max(1))
        .collect()
        .await;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let mut sockets: Vec<(usize, SioClient)> = sockets
        .into_iter()
        .flatten()
        .map(|(i, s, us)| {
            let _ = connect_latency.record(us.max(1));
            (i, s)
        })
        .collect();
    sockets.sort_by_key(|(i, _)| *i);
    progress!("team: {} sockets with membership in {connect_secs:.2} s", sockets.len());
    // Let allocations settle before measuring memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss();
    let per_socket = match (rss_before, rss_after) {
        (Some(a), Some(b)) if !sockets.is_empty() => Some(b.saturating_sub(a) as f64 / sockets.len() as f64),
        _ => None,
    };

    // One person's room list, at list_rate requests/s.
    let lister = shape.users - 1;
    let listing = api(&users[lister]).get("/api/rooms").await?;
    let expected_private: BTreeSet<i64> = shape.rooms_of(lister).map(|r| rooms[r]).collect();
    let expected_direct: BTreeSet<i64> =
        directs.iter().filter(|(i, j, _)| *i == lister || *j == lister).map(|(_, _, room)| *room).collect();
    let listing_ok = check_listing(&listing, &tag, &expected_private, &expected_direct);
    if let Err(e) = &listing_ok {
        progress!("team: GET /api/rooms of {}: {e}", users[lister].username);
    }
    let mut list = list_rooms(base, &users[lister].cookie, shape.list_rate, Duration::from_secs(shape.list_secs)).await;
    list.insert("rooms_listed".into(), listing.as_array().map_or(0, Vec::len).into());
    list.insert("member_rooms".into(), (expected_private.len() + expected_direct.len()).into());
    list.insert("listing_ok".into(), listing_ok.is_ok().into());
    list.insert("listing_error".into(), listing_ok.err().into());

    // Fan-out in the big room: its members' sockets receive without a join.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, s) in sockets.drain(..) {
        if i < shape.senders {
            senders.push((s, big_room));
        } else {
            receivers.push(s);
        }
    }
    let connected = senders.len() + receivers.len();
    let still_connected = senders.iter().map(|(s, _)| s).chain(&receivers).filter(|s| s.is_connected()).count();
    let setup = FanoutSetup::new(vec![big_room], shape.big_room, senders, receivers, deliveries);
    let fanout = fanout_step(&setup, server, shape.rate, Duration::from_secs(shape.secs)).await?;

    Ok(json!({
        "scenario": "team", "users": shape.users, "rooms": shape.rooms, "rooms_per_user": shape.rooms_per_user,
        "directs_per_user": shape.directs_per_user, "direct_rooms": directs.len(), "big_room_members": shape.big_room,
        "setup_seconds": connect_started.duration_since(started).as_secs_f64(),
        "connect": {
            "sockets": connected, "still_connected": still_connected, "failures": failures.load(Ordering::Relaxed),
            "connects_per_second": connected as f64 / connect_secs, "latency": percentiles(&connect_latency),
            "server_rss_before_mb": rss_before.map(|b| b as f64 / 1e6), "server_rss_after_mb": rss_after.map(|b| b as f64 / 1e6),
            "server_bytes_per_socket": per_socket,
        },
        "list_rooms": list,
        "fanout": fanout,
    }))
}

/// A tap that counts `new_message` deliveries (with [`Deliveries`]) and
/// drops every other event, so that the room_added, presence and member
/// events of a large team do not pile up in clients nobody reads.
fn deliveries_only(deliveries: &Arc<Deliveries>) -> FrameTap {
    let FrameTap(count) = deliveries.tap();
    FrameTap(Arc::new(move |frame: &str| {
        count(frame) || (frame.starts_with("42") && !frame.starts_with("42[\"connection_success\""))
    }))
}

/// The listing has every private room of this run (named with `tag`) and
/// every direct room the person is in, as a member, and no other private
/// room of this run and no other direct room. (An earlier run on the same
/// database made private rooms of its own tag; direct rooms are found again.)
fn check_listing(listing: &Value, tag: &str, private: &BTreeSet<i64>, direct: &BTreeSet<i64>) -> Result<(), String> {
    let rooms = listing.as_array().ok_or_else(|| format!("not an array: {listing}"))?;
    let this_run = |r: &Value| r["room_name"].as_str().is_some_and(|n| n.starts_with(&format!("team-{tag}-")) || n == format!("all-hands-{tag}"));
    let listed_private: BTreeSet<i64> =
        rooms.iter().filter(|r| r["room_type"] == "private" && this_run(r)).filter_map(|r| r["id"].as_i64()).collect();
    let listed_direct: BTreeSet<i64> = rooms.iter().filter(|r| r["room_type"] == "direct").filter_map(|r| r["id"].as_i64()).collect();
    if &listed_private != private {
        return Err(format!("private rooms listed {listed_private:?}, expected {private:?}"));
    }
    if &listed_direct != direct {
        return Err(format!("direct rooms listed {listed_direct:?}, expected {direct:?}"));
    }
    if let Some(r) = rooms.iter().find(|r| r["room_type"] != "public" && r["is_member"] != true) {
        return Err(format!("a private or direct room listed without is_member: {r}"));
    }
    if let Some(r) = rooms.iter().find(|r| r["room_type"] == "direct" && r["members"].as_array().is_none_or(|m| m.len() != 2)) {
        return Err(format!("a direct room of two listed without its two members: {r}"));
    }
    Ok(())
}

/// `GET /api/rooms` at `rate` requests/s for `duration`, open loop: each
/// request is sent when due, whether the earlier ones have returned or not,
/// and timed from when it was due.
async fn list_rooms(base: &str, cookie: &str, rate: f64, duration: Duration) -> serde_json::Map<String, Value> {
    let http = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let url = format!("{base}/api/rooms");
    let started = tokio::time::Instant::now();
    let mut requests = Vec::new();
    let mut n = 0u32;
    while started.elapsed() < duration {
        let due = started + interval * n;
        n += 1;
        tokio::time::sleep_until(due).await;
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.to_owned());
        requests.push(tokio::spawn(async move {
            let ok = match http.get(&url).header("cookie", cookie).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            (ok, due.elapsed())
        }));
    }
    let mut latency = histogram();
    let mut errors = 0u64;
    for r in futures_util::future::join_all(requests).await {
        match r {
            Ok((true, took)) => {
                let _ = latency.record((took.as_micros() as u64).max(1));
            }
            _ => errors += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut out = serde_json::Map::new();
    out.insert("offered_rate".into(), rate.into());
    out.insert("requests".into(), (latency.len() + errors).into());
    out.insert("requests_per_second".into(), (latency.len() as f64 / secs).into());
    out.insert("errors".into(), errors.into());
    out.insert("latency".into(), percentiles(&latency));
    out
}
