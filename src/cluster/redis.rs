use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::mpsc;

use super::wire::{self, Decoded};

use crate::chat::cluster::LocalPresence;
use crate::chat::{ClientNet, Cluster, ClusterError, ClusterMsg, Limit, LoginKeys, LoginLimits};
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

fn err(e: redis::RedisError) -> ClusterError {
    ClusterError(e.to_string())
}

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

/// One connection of a user more (delta 1) or less (-1) in each of several
/// rooms, at once (a `membership` socket connecting or closing).
const ROOMS_DELTA: &str = r"
local p, node, uid, delta = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
for i = 5, #ARGV do
  local key = p .. ':node:' .. node .. ':room:' .. ARGV[i]
  if redis.call('HINCRBY', key, uid, delta) <= 0 then redis.call('HDEL', key, uid) end
  redis.call('SADD', p .. ':node:' .. node .. ':rooms', ARGV[i])
end
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
-- Users whose last socket closed there, lingering: their linger ends now.
for _, uid in ipairs(redis.call('SMEMBERS', p .. ':node:' .. dead .. ':lingering')) do
  if redis.call('GET', p .. ':linger:' .. uid) == dead then
    redis.call('DEL', p .. ':linger:' .. uid)
    table.insert(users, uid)
  end
end
redis.call('DEL', p .. ':node:' .. dead .. ':lingering')
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

/// Counts a login attempt against its address (KEYS[1]) and its (username,
/// address) pair (KEYS[2]) unless either is at its limit, in one step so that
/// parallel attempts on any instance cannot all pass; {0, the username's
/// failures (KEYS[3])} or {1, the milliseconds until the refusing window ends}.
/// A window starts at its key's first count (the expiry is set only then).
const LOGIN_RESERVE: &str = r"
local max_addr, max_pair, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i, max in ipairs({max_addr, max_pair}) do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= max then
    return {1, redis.call('PTTL', KEYS[i])}
  end
end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], window) end
end
return {0, tonumber(redis.call('GET', KEYS[3]) or '0')}
";

/// Gives a login attempt's count back; with ARGV[1] = 1 (a success) the
/// pair's and the username's failures go too.
const LOGIN_RELEASE: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
elseif tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
";

/// Adds one to a counter whose window (ARGV[1] ms) starts at its first count.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Counts one attempt unless ARGV[1] were already counted in the window
/// (ARGV[2] ms from the first): {0, 0} or {1, ms until the window ends}.
const TAKE_ATTEMPT: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return {1, redis.call('PTTL', KEYS[1])}
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {0, 0}
";

/// Counts the user's sockets on every registered node.
const CONNECTIONS: &str = r"
local function connections(p, uid)
  local n = 0
  for _, other in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
    n = n + tonumber(redis.call('HGET', p .. ':node:' .. other .. ':users', uid) or '0')
  end
  return n
end
";

/// Adds a connection of a user on this node, under a cap: -1 (nothing
/// changed) when the user already has ARGV[5] sockets on all nodes; else 1
/// when the user came online (not online before, nor lingering after a last
/// disconnect), 0 otherwise.
const CONNECT_WITHIN: &str = r"
local p, node, uid, max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
if connections(p, uid) >= max then return -1 end
redis.call('SADD', p .. ':nodes', node)
redis.call('HINCRBY', p .. ':node:' .. node .. ':users', uid, 1)
redis.call('HSET', p .. ':profiles', uid, ARGV[4])
local added = redis.call('SADD', p .. ':online', uid)
local lingering = redis.call('GET', p .. ':linger:' .. uid)
if lingering then
  redis.call('DEL', p .. ':linger:' .. uid)
  redis.call('SREM', p .. ':node:' .. lingering .. ':lingering', uid)
end
if added == 1 and not lingering then return 1 end
return 0
";

/// DISCONNECT, except that a user whose last socket closed stays in the
/// online set with a linger mark (naming this node, which also lists the user
/// in its `lingering` set for the reaper), until LINGER_ENDED. The mark
/// outlives the linger (at most 30 s), so that only LINGER_ENDED, a comeback
/// or the reaper removes it.
const DISCONNECT_LINGERING: &str = r"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':node:' .. node .. ':users'
if redis.call('HINCRBY', key, uid, -1) <= 0 then redis.call('HDEL', key, uid) end
if still_online(p, uid) then return 0 end
local previous = redis.call('GET', p .. ':linger:' .. uid)
if previous then redis.call('SREM', p .. ':node:' .. previous .. ':lingering', uid) end
redis.call('SET', p .. ':linger:' .. uid, node, 'PX', 120000)
redis.call('SADD', p .. ':node:' .. node .. ':lingering', uid)
return 1
";

/// The end of a linger this node started: 1 when the user did not come back
/// (the mark is still this node's) and is now offline everywhere.
const LINGER_ENDED: &str = r"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
redis.call('SREM', p .. ':node:' .. node .. ':lingering', uid)
if redis.call('GET', p .. ':linger:' .. uid) ~= node then return 0 end
redis.call('DEL', p .. ':linger:' .. uid)
if still_online(p, uid) then return 0 end
redis.call('SREM', p .. ':online', uid)
return 1
";

impl RedisCluster {
    /// Connects, subscribes to the event channel and starts the heartbeat and
    /// the reaper. `prefix` names this deployment's keys (tests use one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url).map_err(err)?;
        // While Redis is away, a command must fail within about a second
        // (the chat then answers from this instance's own state, see
        // chat/shared.rs), not wait through the default six reconnection
        // tries (about 6 s), longer than a client waits for its ack. The next
        // command starts a new round of tries, so the connection still comes
        // back by itself.
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
                    match wire::decode(&payload) {
                        Ok(Decoded::Msg { from, msg }) if from != node => {
                            if inbox.send(msg).is_err() {
                                return;
                            }
                        }
                        Ok(Decoded::Msg { .. }) => {}
                        Ok(Decoded::Skipped(why)) => tracing::warn!(%why, "cluster message skipped"),
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
            gone.extend(profiles.iter().filter_map(|p| wire::decode_profile(p)));
        }
        Ok(gone)
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

impl RedisCluster {
    /// [`ROOMS_DELTA`]: one step for many rooms.
    async fn rooms_delta(&self, rooms: &[RoomId], user: UserId, delta: i64) -> Result<(), ClusterError> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let script = Script::new(ROOMS_DELTA);
        let mut invocation = script.arg(&self.prefix);
        invocation.arg(&self.node).arg(user.0).arg(delta);
        for room in rooms {
            invocation.arg(room.0);
        }
        let _: i64 = invocation.invoke_async(&mut c).await.map_err(err)?;
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
        let Some(encoded) = wire::encode(&self.node, &msg) else { return };
        match encoded {
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

    fn lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
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

    async fn entered_rooms(&self, rooms: &[RoomId], user: UserId) -> Result<(), ClusterError> {
        self.rooms_delta(rooms, user, 1).await
    }

    async fn left_rooms(&self, rooms: &[RoomId], user: UserId) -> Result<(), ClusterError> {
        self.rooms_delta(rooms, user, -1).await
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
            profiles.into_iter().flatten().filter_map(|p| wire::decode_profile(&p)).collect();
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    async fn room_users(&self, room: RoomId) -> Result<Vec<UserSummary>, ClusterError> {
        let mut c = self.conn.clone();
        let profiles: Vec<String> =
            script(ROOM_USERS).arg(&self.prefix).arg(room.0).invoke_async(&mut c).await.map_err(err)?;
        let mut users: Vec<UserSummary> = profiles.iter().filter_map(|p| wire::decode_profile(p)).collect();
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
                "profile": wire::encode_profile(&p.user).map_err(encode)?,
                "connections": p.connections,
                "rooms": rooms,
            }));
        }
        let snapshot = serde_json::to_string(&users).map_err(encode)?;
        let mut c = self.conn.clone();
        let back: Vec<String> =
            Script::new(REJOIN).arg(&self.prefix).arg(&self.node).arg(snapshot).invoke_async(&mut c).await.map_err(err)?;
        self.lost.store(false, Ordering::SeqCst);
        Ok(back.iter().filter_map(|p| wire::decode_profile(p)).collect())
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

    async fn login_reserve(&self, keys: &LoginKeys, limits: LoginLimits) -> Result<Result<u32, Duration>, ClusterError> {
        let mut c = self.conn.clone();
        let (refused, n): (i64, i64) = Script::new(LOGIN_RESERVE)
            .key(self.key(&format!("login:addr:{}", keys.net)))
            .key(self.key(&format!("login:pair:{}", keys.pair.hex())))
            .key(self.key(&format!("login:user:{}", keys.name.hex())))
            .arg(limits.per_address.max(1))
            .arg(limits.per_username.max(1))
            .arg(limits.window.as_millis() as i64)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(if refused == 1 { Err(Duration::from_millis(n.max(1000) as u64)) } else { Ok(n.max(0) as u32) })
    }

    async fn login_failed(&self, keys: &LoginKeys, limits: LoginLimits) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let _: i64 = Script::new(COUNT)
            .key(self.key(&format!("login:user:{}", keys.name.hex())))
            .arg(limits.window.as_millis() as i64)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn login_release(&self, keys: &LoginKeys, succeeded: bool) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let _: i64 = Script::new(LOGIN_RELEASE)
            .key(self.key(&format!("login:addr:{}", keys.net)))
            .key(self.key(&format!("login:pair:{}", keys.pair.hex())))
            .key(self.key(&format!("login:user:{}", keys.name.hex())))
            .arg(i64::from(succeeded))
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn take_attempt(&self, kind: &str, client: ClientNet, max: u32, window: Duration) -> Result<Result<(), Duration>, ClusterError> {
        let mut c = self.conn.clone();
        let (refused, ms): (i64, i64) = Script::new(TAKE_ATTEMPT)
            .key(self.key(&format!("{kind}:addr:{client}")))
            .arg(max.max(1))
            .arg(window.as_millis() as i64)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(if refused == 1 { Err(Duration::from_millis(ms.max(1000) as u64)) } else { Ok(()) })
    }

    // Floods of events (finding 8).
    async fn take_token(&self, bucket: &str, user: UserId, limit: Limit) -> Result<Result<(), Duration>, ClusterError> {
        let mut c = self.conn.clone();
        let wait_ms: i64 = Script::new(TAKE_TOKEN)
            .key(self.key(&format!("rate:{bucket}:{user}")))
            .arg(limit.per_second)
            .arg(limit.burst.max(1))
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(if wait_ms <= 0 { Ok(()) } else { Err(Duration::from_millis(wait_ms as u64)) })
    }

    async fn user_connections(&self, user: UserId) -> Result<u32, ClusterError> {
        let mut c = self.conn.clone();
        let body = format!("{CONNECTIONS}\nreturn connections(ARGV[1], ARGV[2])");
        let n: i64 = Script::new(&body).arg(&self.prefix).arg(user.0).invoke_async(&mut c).await.map_err(err)?;
        Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    async fn user_connected_within(&self, user: &UserSummary, max: u32) -> Result<Option<bool>, ClusterError> {
        let profile = wire::encode_profile(user).map_err(|e| ClusterError(e.to_string()))?;
        let mut c = self.conn.clone();
        let answer: i64 = Script::new(&format!("{CONNECTIONS}\n{CONNECT_WITHIN}"))
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(user.id.0)
            .arg(profile)
            .arg(max)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(if answer < 0 { None } else { Some(answer == 1) })
    }

    async fn user_disconnected_lingering(&self, user: UserId) -> Result<bool, ClusterError> {
        let mut c = self.conn.clone();
        let last: i64 = script(DISCONNECT_LINGERING)
            .arg(&self.prefix)
            .arg(&self.node)
            .arg(user.0)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(last == 1)
    }

    async fn linger_ended(&self, user: UserId) -> Result<bool, ClusterError> {
        let mut c = self.conn.clone();
        let gone: i64 =
            script(LINGER_ENDED).arg(&self.prefix).arg(&self.node).arg(user.0).invoke_async(&mut c).await.map_err(err)?;
        Ok(gone == 1)
    }
}
