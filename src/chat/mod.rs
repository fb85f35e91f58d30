//! Use cases: the only place business rules run.
//!
//! [`Chat`] is what both transports call: HTTP for accounts and history,
//! Socket.IO for live rooms. It reads and writes through a `dyn Store`, tells the
//! outside world what happened through a `dyn Notifier`, and knows nothing of
//! sockets or SQL.

mod accounts;
mod admin;
mod cache;
pub mod cluster;
mod directory;
mod messages;
pub mod notify;
mod presence;
mod profile;
mod ratelimit;
mod rooms;
mod typing;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use accounts::{AuthSession, Registration, SessionToken};
pub use admin::{CreatedInvite, InviteCode, SettingsChange, UserChange, set_role_offline};
pub use directory::{DirectoryQuery, Person};
pub use profile::ProfileChange;
pub use cache::HistoryPage;
pub use cluster::{Cluster, ClusterError, ClusterMsg, LoginLimits};
pub use notify::{Audience, Event, Notifier};
pub use presence::Welcome;
pub use ratelimit::{ClientNet, LimiterKey, LoginKeys};
pub use ratelimit::Limit;

use crate::domain::{ChatError, Clock, UserId};
use crate::store::{Store, StoreError};

/// The knobs of the chat rules, with the defaults a community server wants.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// How long a `typing: true` stands without a refresh.
    pub typing_ttl: Duration,
    /// Messages a user may send per second on average, and at once.
    pub message_rate: u32,
    pub message_burst: u32,
    /// Login attempts that are not successes (failures, and attempts still
    /// running) allowed per client address (an IPv6 /64) and per (username,
    /// address) in `login_window`. Failures for a username from anywhere only
    /// delay its logins (`login_delay_max`).
    pub login_failures_per_address: u32,
    pub login_failures_per_username: u32,
    pub login_window: Duration,
    /// After a graceful restart of a single instance, how long (from the
    /// stop) those who were online count as online while they come back.
    /// Zero: everyone goes offline at the stop.
    pub restart_grace: Duration,
    // Accounts hardening (findings 1, 2, 5, 6, 10 of docs/security.md).
    /// The longest delay before a login for a username that failed many
    /// times is checked (it grows from 250 ms with each failure).
    pub login_delay_max: Duration,
    /// Registrations tried per client address (an IPv6 /64) per hour.
    pub registrations_per_address: u32,
    /// Requests of one kind (logins, registrations) that may wait for a
    /// password-hashing slot; beyond them the answer is `server_busy`.
    pub hash_queue: usize,
    /// How often the sessions of open connections are checked against the
    /// store: a connection whose session expired or was deleted is closed.
    pub session_check: Duration,

    // Floods of events (finding 8): per-user limits.
    /// Rooms a user may create.
    pub room_create: Limit,
    /// `typing: true` announcements a user may cause.
    pub typing: Limit,
    /// How long a repeated `typing: true` (same user, same room) is absorbed.
    pub typing_repeat: Duration,
    /// `join_room` and `leave_room` a user may send.
    pub join: Limit,
    /// Sockets a user may hold open at once (on all instances).
    pub max_sockets_per_user: u32,
    /// How long a user whose last socket closed still counts as online.
    pub presence_linger: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            typing_ttl: Duration::from_secs(5),
            message_rate: 10,
            message_burst: 20,
            login_failures_per_address: 50,
            login_failures_per_username: 10,
            login_window: Duration::from_secs(15 * 60),
            restart_grace: Duration::from_secs(15),
            login_delay_max: Duration::from_secs(4),
            registrations_per_address: 10,
            hash_queue: 16,
            session_check: Duration::from_secs(60),
            room_create: Limit::per_minute(3, 5),
            typing: Limit::per_second(2, 10),
            typing_repeat: Duration::from_millis(1500),
            join: Limit::per_second(5, 50),
            max_sockets_per_user: 20,
            presence_linger: Duration::from_millis(1500),
        }
    }
}

/// The chat service. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    /// The other instances, when there are any (Redis); else state is local.
    cluster: Option<Arc<dyn Cluster>>,
    clock: Arc<dyn Clock>,
    config: ChatConfig,
    accounts: accounts::Accounts,
    presence: presence::Presence,
    typing: typing::Typing,
    send_limit: ratelimit::TokenBuckets<UserId>,
    room_create_limit: ratelimit::TokenBuckets<UserId>,
    typing_limit: ratelimit::TokenBuckets<UserId>,
    join_limit: ratelimit::TokenBuckets<UserId>,
    sessions: cache::SessionCache,
    rooms: cache::RoomCache,
    recent: cache::RecentMessages,
    settings: admin::SettingsCache,
}

impl Chat {
    pub fn new(
        store: Arc<dyn Store>,
        notifier: Arc<dyn Notifier>,
        cluster: Option<Arc<dyn Cluster>>,
        clock: Arc<dyn Clock>,
        config: ChatConfig,
    ) -> Self {
        let inner = Inner {
            accounts: accounts::Accounts::new(&config),
            presence: presence::Presence::default(),
            typing: typing::Typing::default(),
            send_limit: ratelimit::TokenBuckets::new(config.message_rate, config.message_burst),
            room_create_limit: ratelimit::TokenBuckets::of(config.room_create),
            typing_limit: ratelimit::TokenBuckets::of(config.typing),
            join_limit: ratelimit::TokenBuckets::of(config.join),
            sessions: cache::SessionCache::new(),
            rooms: cache::RoomCache::new(),
            recent: cache::RecentMessages::new(),
            settings: admin::SettingsCache::default(),
            store,
            notifier,
            cluster,
            clock,
            config,
        };
        Self { inner: Arc::new(inner) }
    }

    /// Is the database answering?
    pub async fn ready(&self) -> Result<(), ChatError> {
        self.inner.store.ping().await.map_err(store_error)
    }

    /// Tells the clients of every instance.
    fn publish(&self, audience: Audience, event: Event) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.broadcast(ClusterMsg::Event { audience: audience.clone(), event: event.clone() });
        }
        self.inner.notifier.publish(audience, event);
    }

    /// Acts on what another instance said.
    pub async fn on_cluster_message(&self, msg: ClusterMsg) {
        match msg {
            ClusterMsg::Event { audience, event } => {
                match &event {
                    Event::NewMessage(m) => self.inner.recent.changed(m.room_id),
                    Event::UserUpdated(person) => self.user_changed(&person.user),
                    _ => {}
                }
                self.inner.notifier.publish(audience, event);
            }
            ClusterMsg::SessionEnded { token_hash } => self.session_ended(&token_hash),
            ClusterMsg::UsersGone { users } => {
                let now = self.inner.clock.now();
                for user in users {
                    if let Err(e) = self.inner.store.set_last_seen(user.id, now).await {
                        tracing::warn!(error = %e, user_id = %user.id, "could not record last_seen");
                    }
                    self.publish(Audience::Everyone, Event::Presence { user, is_online: false, last_seen: Some(now) });
                }
            }
            ClusterMsg::Rejoin => self.rejoin_cluster().await,
            ClusterMsg::SettingsChanged => self.settings_changed(),
        }
    }

    /// How many connections are open right now.
    pub fn connection_count(&self) -> usize {
        self.inner.presence.connection_count()
    }
}

impl Chat {
    /// Takes a token of `user`'s bucket named `bucket` (one per kind of
    /// action): from Redis when there are several instances, so that the limit
    /// holds wherever the user's sockets are, else from `local`.
    async fn take_token(
        &self,
        bucket: &'static str,
        local: &ratelimit::TokenBuckets<UserId>,
        limit: Limit,
        user: UserId,
    ) -> Result<(), ChatError> {
        let allowed = match &self.inner.cluster {
            None => local.take(&user),
            Some(cluster) => cluster.take_token(bucket, user, limit).await.map_err(cluster_error)?,
        };
        allowed.map_err(|retry_after| {
            metrics::counter!("parley_events_rate_limited_total", "bucket" => bucket).increment(1);
            ChatError::RateLimited { retry_after }
        })
    }
}

/// A shared-state failure: logged; the caller falls back or refuses.
fn cluster_error(e: ClusterError) -> ChatError {
    tracing::warn!(error = %e, "cluster state unavailable");
    ChatError::Unavailable
}

/// Maps a storage failure that has no special meaning for the caller.
fn store_error(e: StoreError) -> ChatError {
    match e {
        StoreError::UsernameTaken => ChatError::UsernameTaken,
        StoreError::EmailTaken => ChatError::EmailTaken,
        StoreError::RoomNameTaken => ChatError::RoomNameTaken,
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "database unavailable");
            ChatError::Unavailable
        }
        StoreError::Other(detail) => {
            tracing::error!(%detail, "database error");
            ChatError::Internal
        }
        StoreError::Full(detail) => {
            tracing::error!(%detail, "database storage full: writes fail until space is freed");
            ChatError::StorageFull
        }
    }
}
