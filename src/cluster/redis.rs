use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chat::{Cluster, ClusterError, ClusterMsg, Limit, LoginLimits};
use crate::domain::{RoomId, UserId, UserSummary};

/// How often an instance says it is alive, and how long that lasts.
const HEARTBEAT: Duration = Duration::from_secs(5);
const ALIVE_FOR: Duration = Duration::from_secs(15);

pub struct RedisCluster {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    outgoing: mpsc::UnboundedSender<String>,
    incoming: Mutex<Option<mpsc::UnboundedReceiver<ClusterMsg>>>,
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
        let conn = ConnectionManager::new(client.clone()).await.map_err(err)?;
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

    async fn beat(&self) -> Result<(), ClusterError> {
        let mut c = self.conn.clone();
        let alive = self.key(&format!("alive:{}", self.node));
        let () = c.set_ex(&alive, 1, ALIVE_FOR.as_secs()).await.map_err(err)?;
        let _: i64 = c.sadd(self.key("nodes"), &self.node).await.map_err(err)?;
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
        let profile = serde_json::to_string(user).map_err(|e| ClusterError(e.to_string()))?;
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
