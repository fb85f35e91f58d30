use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chat::cluster::LocalPresence;
use crate::chat::{Cluster, ClusterError, ClusterMsg, LoginLimits};
use crate::domain::{RoomId, UserId, UserSummary};

/// How often an instance says it is alive, and how long that lasts.
const HEARTBEAT: Duration = Duration::from_secs(5);
const ALIVE_FOR: Duration = Duration::from_secs(15);
/// Reconnection tries per failed command, and the longest pause between two.
const RECONNECT_TRIES: usize = 2;
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(400);

pub struct RedisCluster {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    outgoing: mpsc::UnboundedSender<String>,
    incoming: Mutex<Option<mpsc::UnboundedReceiver<ClusterMsg>>>,
    /// Redis lost this instance's connections and they are not registered
    /// again yet: each heartbeat asks the chat side until it is done.
    lost: AtomicBool,
    /// Set after the first heartbeat (at connect, when no key is expected).
    started: AtomicBool,
}

/// A message on the wire, with the instance that sent it.
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    msg: ClusterMsg,
}

fn err(e: redis::RedisError) -> ClusterError {
    ClusterError(e.to_string())
}

/// Adds a connection of a user on this node; 1 if the user was offline everywhere.
const CONNECT: &str = r"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
redis.call('SADD', p .. ':nodes', node)
redis.call('HINCRBY', p .. ':node:' .. node .. ':users', uid, 1)
redis.call('HSET', p .. ':profiles', uid, ARGV[4])
return redis.call('SADD', p .. ':online', uid)
";

/// Is `uid` connected on any registered node? (a helper pasted into scripts)
const STILL_ONLINE: &str = r"
local function still_online(p, uid)
  for _, other in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
    if tonumber(redis.call('HGET', p .. ':node:' .. other .. ':users', uid) or '0') > 0 then return true end
  end
  return false
end
";

/// Removes a connection; 1 if the user is now offline everywhere.
const DISCONNECT: &str = r"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':node:' .. node .. ':users'
if redis.call('HINCRBY', key, uid, -1) <= 0 then redis.call('HDEL', key, uid) end
if still_online(p, uid) then return 0 end
redis.call('SREM', p .. ':online', uid)
return 1
";

/// Changes a user's connection count in a room on this node by ARGV[5].
const ROOM: &str = r"
local p, node, room, uid, delta = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local key = p .. ':node:' .. node .. ':room:' .. room
if redis.call('HINCRBY', key, uid, delta) <= 0 then redis.call('HDEL', key, uid) end
redis.call('SADD', p .. ':node:' .. node .. ':rooms', room)
return 0
";

/// The profiles of the users in a room on any node.
const ROOM_USERS: &str = r"
local p, room = ARGV[1], ARGV[2]
local seen, out = {}, {}
for _, node in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
  for _, uid in ipairs(redis.call('HKEYS', p .. ':node:' .. node .. ':room:' .. room)) do
    if not seen[uid] then
      seen[uid] = true
      local profile = redis.call('HGET', p .. ':profiles', uid)
      if profile then table.insert(out, profile) end
    end
  end
end
return out
";

/// Claims a dead node (only one reaper wins) and returns the profiles of the
/// users who were online only there.
const REAP: &str = r"
local p, dead = ARGV[1], ARGV[2]
if redis.call('SREM', p .. ':nodes', dead) == 0 then return {} end
local users = redis.call('HKEYS', p .. ':node:' .. dead .. ':users')
redis.call('DEL', p .. ':node:' .. dead .. ':users')
for _, room in ipairs(redis.call('SMEMBERS', p .. ':node:' .. dead .. ':rooms')) do
  redis.call('DEL', p .. ':node:' .. dead .. ':room:' .. room)
end
redis.call('DEL', p .. ':node:' .. dead .. ':rooms')
local gone = {}
for _, uid in ipairs(users) do
  if not still_online(p, uid) then
    redis.call('SREM', p .. ':online', uid)
    local profile = redis.call('HGET', p .. ':profiles', uid)
    if profile then table.insert(gone, profile) end
  end
end
return gone
";

/// The heartbeat: refreshes this node's `alive` key and registration; 1 if
/// the key was still there, 0 if Redis had lost it.
const BEAT: &str = r"
local p, node, ttl = ARGV[1], ARGV[2], ARGV[3]
local alive = p .. ':alive:' .. node
local was = redis.call('EXISTS', alive)
redis.call('SET', alive, 1, 'EX', ttl)
redis.call('SADD', p .. ':nodes', node)
return was
";

/// Replaces this node's connections and rooms by ARGV[3], a JSON list of
/// `{id, profile, connections, rooms: {room: connections}}` (ids as
/// strings); returns the profiles of the users who were offline everywhere.
const REJOIN: &str = r"
local p, node = ARGV[1], ARGV[2]
local users_key = p .. ':node:' .. node .. ':users'
local rooms_key = p .. ':node:' .. node .. ':rooms'
redis.call('DEL', users_key)
for _, room in ipairs(redis.call('SMEMBERS', rooms_key)) do
  redis.call('DEL', p .. ':node:' .. node .. ':room:' .. room)
end
redis.call('DEL', rooms_key)
redis.call('SADD', p .. ':nodes', node)
local back = {}
for _, u in ipairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', users_key, u.id, u.connections)
  redis.call('HSET', p .. ':profiles', u.id, u.profile)
  if redis.call('SADD', p .. ':online', u.id) == 1 then table.insert(back, u.profile) end
  for room, n in pairs(u.rooms) do
    redis.call('HSET', p .. ':node:' .. node .. ':room:' .. room, u.id, n)
    redis.call('SADD', rooms_key, room)
  end
end
return back
";

/// A token bucket on the server's clock: 0 when a token was taken, else the
/// milliseconds until one is there.
const TAKE_TOKEN: &str = r"
local key, rate, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
return wait
";

impl RedisCluster {
    /// Connects, subscribes to the event channel and starts the heartbeat and
    /// the reaper. `prefix` names this deployment's keys (tests use one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url).map_err(err)?;
        // While Redis is away, a command must fail within about a second (a
        // send is then refused with `unavailable` and the client retries),
        // not wait through the default six reconnection tries (about 6 s),
        // longer than a client waits for its ack. The next command starts a
        // new round of tries, so the connection still comes back by itself.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(RECONNECT_TRIES)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await.map_err(err)?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| ClusterError(e.to_string()))?;
        let node = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let (outgoing, outbox) = mpsc::unbounded_channel();
        let (inbox, incoming) = mpsc::unbounded_channel();
        let cluster = Arc::new(Self {
            conn,
            prefix: prefix.to_owned(),
            node,
            outgoing,
            incoming: Mutex::new(Some(incoming)),
            lost: AtomicBool::new(false),
            started: AtomicBool::new(false),
        });
        cluster.beat().await?;
        let channel = format!("{prefix}:events");
        let mut pubsub = client.get_async_pubsub().await.map_err(err)?;
        pubsub.subscribe(&channel).await.map_err(err)?;
        tokio::spawn(Self::publisher(cluster.conn.clone(), channel.clone(), outbox));
        tokio::spawn(Self::subscriber(client, pubsub, channel, cluster.node.clone(), inbox.clone()));
        tokio::spawn(Self::housekeeping(Arc::downgrade(&cluster), inbox));
        tracing::info!(node = %cluster.node, "joined the cluster");
        Ok(cluster)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// Says this instance is alive. Its `alive` key is found missing when
    /// Redis restarted empty or the key lapsed (the others then reap, or have
    /// reaped, its connections): this instance's connections are no longer
    /// counted, and `lost` is set until they are registered again.
    async fn beat(&self) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let was_alive: i64 = Script::new(BEAT)
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(ALIVE_FOR.as_secs())
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        if was_alive == 0 && self.started.load(Ordering::SeqCst) {
            self.lost.store(true, Ordering::SeqCst);
        }
        self.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn publisher(mut conn: ConnectionManager, channel: String, mut outbox: mpsc::UnboundedReceiver<String>) {
        while let Some(payload) = outbox.recv().await {
            let sent: Result<i64, _> = conn.publish(&channel, payload).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "cluster message not sent");
            }
        }
    }

    /// Delivers the other instances' messages; resubscribes after Redis restarts.
    async fn subscriber(
        client: redis::Client,
        mut pubsub: redis::aio::PubSub,
        channel: String,
        node: String,
        inbox: mpsc::UnboundedSender<ClusterMsg>,
    ) {
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(m) = messages.next().await {
                    let Ok(payload) = m.get_payload::<String>() else { continue };
                    match serde_json::from_str::<Envelope>(&payload) {
                        Ok(envelope) if envelope.from != node => {
                            if inbox.send(envelope.msg).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "unreadable cluster message"),
                    }
                }
            }
            tracing::warn!("cluster subscription lost; reconnecting");
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if inbox.is_closed() {
                    return;
                }
                if let Ok(mut fresh) = client.get_async_pubsub().await
                    && fresh.subscribe(&channel).await.is_ok()
                {
                    pubsub = fresh;
                    break;
                }
            }
        }
    }

    /// Heartbeat, and reaping of instances whose heartbeat lapsed.
    async fn housekeeping(this: std::sync::Weak<Self>, inbox: mpsc::UnboundedSender<ClusterMsg>) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            let Some(this) = this.upgrade() else { return };
            if let Err(e) = this.beat().await {
                tracing::warn!(error = %e, "cluster heartbeat failed");
                continue;
            }
            if this.lost.load(Ordering::SeqCst) {
                tracing::warn!("Redis lost this instance's connections; registering them again");
                if inbox.send(ClusterMsg::Rejoin).is_err() {
                    return;
                }
            }
            match this.reap().await {
                Ok(users) if !users.is_empty() => {
                    if inbox.send(ClusterMsg::UsersGone { users }).is_err() {
                        return; // the chat side has stopped: so does housekeeping
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reaping failed"),
            }
        }
    }

    async fn reap(&self) -> Result<Vec<UserSummary>, ClusterError> {
        let mut c = self.conn.clone();
        let nodes: Vec<String> = c.smembers(self.key("nodes")).await.map_err(err)?;
        let mut gone = Vec::new();
        for node in nodes {
            let alive: bool = c.exists(self.key(&format!("alive:{node}"))).await.map_err(err)?;
            if alive {
                continue;
            }
            tracing::warn!(%node, "an instance stopped without a goodbye; its users go offline");
            let profiles: Vec<String> = script(REAP).arg(&self.prefix).arg(&node).invoke_async(&mut c).await.map_err(err)?;
            gone.extend(profiles.iter().filter_map(|p| serde_json::from_str::<UserSummary>(p).ok()));
        }
        Ok(gone)
    }

    async fn counter(&self, key: String) -> Result<u32, ClusterError> {
        let mut c = self.conn.clone();
        let n: Option<u32> = c.get(key).await.map_err(err)?;
        Ok(n.unwrap_or(0))
    }

    async fn ttl(&self, key: String) -> Duration {
        let mut c = self.conn.clone();
        let ms: i64 = c.pttl(key).await.unwrap_or(0);
        Duration::from_millis(ms.max(1000) as u64)
    }
}

impl RedisCluster {
    /// Changes the user's connection count in the room on this instance.
    async fn room_delta(&self, room: RoomId, user: UserId, delta: i64) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let _: i64 = script(ROOM)
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(room.0)
            .arg(user.0)
            .arg(delta)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// A script with the shared helper in front.
fn script(body: &str) -> Script {
    Script::new(&format!("{STILL_ONLINE}\n{body}"))
}

#[async_trait]
impl Cluster for RedisCluster {
    fn broadcast(&self, msg: ClusterMsg) {
        match serde_json::to_string(&Envelope { from: self.node.clone(), msg }) {
            Ok(payload) => {
                if self.outgoing.send(payload).is_err() {
                    tracing::error!("cluster publisher stopped; message not sent to other instances");
                }
            }
            Err(e) => tracing::error!(error = %e, "cluster message not encoded"),
        }
    }

    fn incoming(&self) -> Option<mpsc::UnboundedReceiver<ClusterMsg>> {
        self.incoming.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    async fn user_connected(&self, user: &UserSummary) -> Result<bool, ClusterError> {
        let profile = serde_json::to_string(user).map_err(|e| ClusterError(e.to_string()))?;
        let mut c = self.conn.clone();
        let added: i64 = script(CONNECT)
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(user.id.0)
            .arg(profile)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(added == 1)
    }

    async fn user_disconnected(&self, user: UserId) -> Result<bool, ClusterError> {
        let mut c = self.conn.clone();
        let gone: i64 =
            script(DISCONNECT).arg(&self.prefix).arg(&self.node).arg(user.0).invoke_async(&mut c).await.map_err(err)?;
        Ok(gone == 1)
    }

    async fn entered_room(&self, room: RoomId, user: UserId) -> Result<(), ClusterError> {
        self.room_delta(room, user, 1).await
    }

    async fn left_room(&self, room: RoomId, user: UserId) -> Result<(), ClusterError> {
        self.room_delta(room, user, -1).await
    }

    async fn online_users(&self) -> Result<Vec<UserSummary>, ClusterError> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = c.smembers(self.key("online")).await.map_err(err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let profiles: Vec<Option<String>> =
            redis::cmd("HMGET").arg(self.key("profiles")).arg(&ids).query_async(&mut c).await.map_err(err)?;
        let mut users: Vec<UserSummary> =
            profiles.into_iter().flatten().filter_map(|p| serde_json::from_str(&p).ok()).collect();
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    async fn room_users(&self, room: RoomId) -> Result<Vec<UserSummary>, ClusterError> {
        let mut c = self.conn.clone();
        let profiles: Vec<String> =
            script(ROOM_USERS).arg(&self.prefix).arg(room.0).invoke_async(&mut c).await.map_err(err)?;
        let mut users: Vec<UserSummary> = profiles.iter().filter_map(|p| serde_json::from_str(p).ok()).collect();
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    async fn rejoin(&self, here: &[LocalPresence]) -> Result<Vec<UserSummary>, ClusterError> {
        let encode = |e: serde_json::Error| ClusterError(e.to_string());
        let mut users = Vec::with_capacity(here.len());
        for p in here {
            let rooms: serde_json::Map<String, serde_json::Value> =
                p.rooms.iter().map(|(room, n)| (room.0.to_string(), (*n).into())).collect();
            users.push(serde_json::json!({
                "id": p.user.id.0.to_string(),
                "profile": serde_json::to_string(&p.user).map_err(encode)?,
                "connections": p.connections,
                "rooms": rooms,
            }));
        }
        let snapshot = serde_json::to_string(&users).map_err(encode)?;
        let mut c = self.conn.clone();
        let back: Vec<String> =
            Script::new(REJOIN).arg(&self.prefix).arg(&self.node).arg(snapshot).invoke_async(&mut c).await.map_err(err)?;
        self.lost.store(false, Ordering::SeqCst);
        Ok(back.iter().filter_map(|p| serde_json::from_str(p).ok()).collect())
    }

    async fn take_send_token(&self, user: UserId, rate: u32, burst: u32) -> Result<Result<(), Duration>, ClusterError> {
        let mut c = self.conn.clone();
        let wait_ms: i64 = Script::new(TAKE_TOKEN)
            .key(self.key(&format!("rate:send:{user}")))
            .arg(rate.max(1))
            .arg(burst.max(1))
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(if wait_ms <= 0 { Ok(()) } else { Err(Duration::from_millis(wait_ms as u64)) })
    }

    async fn login_allowed(&self, client: IpAddr, username: &str, limits: LoginLimits) -> Result<Result<(), Duration>, ClusterError> {
        let by_address = self.key(&format!("login:addr:{client}"));
        let by_name = self.key(&format!("login:user:{username}"));
        if self.counter(by_address.clone()).await? >= limits.per_address {
            return Ok(Err(self.ttl(by_address).await));
        }
        if self.counter(by_name.clone()).await? >= limits.per_username {
            return Ok(Err(self.ttl(by_name).await));
        }
        Ok(Ok(()))
    }

    async fn login_failed(&self, client: IpAddr, username: &str, limits: LoginLimits) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let window = limits.window.as_millis() as i64;
        for key in [self.key(&format!("login:addr:{client}")), self.key(&format!("login:user:{username}"))] {
            // The window starts at the first failure: the expiry is set only then.
            let n: i64 = c.incr(&key, 1).await.map_err(err)?;
            if n == 1 {
                let _: bool = c.pexpire(&key, window).await.map_err(err)?;
            }
        }
        Ok(())
    }

    async fn login_succeeded(&self, username: &str) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.key(&format!("login:user:{username}"))).await.map_err(err)?;
        Ok(())
    }
}
