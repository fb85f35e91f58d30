//! The chat layer's port to the other Parley instances behind the same
//! address. Without one (a single instance) the chat layer keeps presence and
//! rate limits in memory; with one, they live where every instance sees them,
//! and every event reaches the clients of every instance.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::ratelimit::{ClientNet, LoginKeys};
use super::{Audience, Event, Limit};
use crate::domain::{RoomId, UserId, UserSummary};

/// What instances tell each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClusterMsg {
    /// An event for the clients of every instance.
    Event { audience: Audience, event: Event },
    /// A session was logged out: close its connections wherever they are.
    SessionEnded { token_hash: Vec<u8> },
    /// An instance died without a goodbye; these users were online only there.
    /// Delivered to the one instance that noticed, which tells everyone.
    UsersGone { users: Vec<UserSummary> },
    /// The server settings changed (`PATCH /api/admin/settings`): read them
    /// again before the next registration.
    SettingsChanged,
    /// Never sent between instances: the shared state lost this instance's
    /// connections (Redis restarted empty, or the others took this instance
    /// for dead after its heartbeat lapsed), so they must be registered again
    /// ([`Cluster::rejoin`]).
    Rejoin,
}

/// One user's connections on this instance, as [`Cluster::rejoin`] registers them.
#[derive(Debug, Clone)]
pub struct LocalPresence {
    pub user: UserSummary,
    /// Open connections of the user here.
    pub connections: usize,
    /// Each room the user is in here, with how many of those connections joined it.
    pub rooms: Vec<(RoomId, usize)>,
}

#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Sends to every other instance; never blocks.
    fn broadcast(&self, msg: ClusterMsg);
    /// The messages other instances sent, for the chat layer to act on (taken once).
    fn incoming(&self) -> Option<mpsc::UnboundedReceiver<ClusterMsg>>;

    /// One connection of `user` here closed. True when the user is now offline everywhere.
    async fn user_disconnected(&self, user: UserId) -> Result<bool, ClusterError>;
    async fn entered_room(&self, room: RoomId, user: UserId) -> Result<(), ClusterError>;
    async fn left_room(&self, room: RoomId, user: UserId) -> Result<(), ClusterError>;
    /// Everyone online on any instance.
    async fn online_users(&self) -> Result<Vec<UserSummary>, ClusterError>;
    /// Everyone with a connection in the room on any instance.
    async fn room_users(&self, room: RoomId) -> Result<Vec<UserSummary>, ClusterError>;
    /// Replaces what the shared state holds of this instance's connections
    /// by `here`; returns the users who were offline everywhere until now.
    async fn rejoin(&self, here: &[LocalPresence]) -> Result<Vec<UserSummary>, ClusterError>;

    /// A token of `user`'s send bucket, or how long until one is there.
    async fn take_send_token(&self, user: UserId, rate: u32, burst: u32) -> Result<Result<(), Duration>, ClusterError>;
    /// Counts a login attempt against its address and its (username,
    /// address) pair in one atomic step, and gives the username's failures so
    /// far; or how long until this client may try again.
    async fn login_reserve(&self, keys: &LoginKeys, limits: LoginLimits) -> Result<Result<u32, Duration>, ClusterError>;
    /// The attempt failed: it stays counted, and the username's failures grow.
    async fn login_failed(&self, keys: &LoginKeys, limits: LoginLimits) -> Result<(), ClusterError>;
    /// The attempt gives its count back (the right password, or it could not
    /// be evaluated); with `succeeded`, the pair's and the username's failures
    /// are forgotten too.
    async fn login_release(&self, keys: &LoginKeys, succeeded: bool) -> Result<(), ClusterError>;
    /// Counts one attempt of `kind` by `client` in a fixed window of `window`,
    /// at most `max`; or says how long until the window ends.
    async fn take_attempt(&self, kind: &str, client: ClientNet, max: u32, window: Duration) -> Result<Result<(), Duration>, ClusterError>;

    // Floods of events (finding 8).
    /// A token of `user`'s bucket named `bucket` (one per kind of action), or
    /// how long until one is there.
    async fn take_token(&self, bucket: &str, user: UserId, limit: Limit) -> Result<Result<(), Duration>, ClusterError>;
    /// How many sockets `user` has open on all instances.
    async fn user_connections(&self, user: UserId) -> Result<u32, ClusterError>;
    /// One more connection of `user` here, while `user` has fewer than `max`
    /// sockets on all instances: `None` (and nothing counted) at the cap.
    /// `Some(true)` when the user came online: offline everywhere before, and
    /// not within the linger of an earlier last disconnect.
    async fn user_connected_within(&self, user: &UserSummary, max: u32) -> Result<Option<bool>, ClusterError>;
    /// Like [`Cluster::user_disconnected`], but a user whose last socket
    /// closed stays online, lingering, until [`Cluster::linger_ended`]. True
    /// when this was the user's last socket everywhere.
    async fn user_disconnected_lingering(&self, user: UserId) -> Result<bool, ClusterError>;
    /// The linger that this instance's disconnect started is over: true when
    /// the user did not come back meanwhile (on any instance) and is now offline.
    async fn linger_ended(&self, user: UserId) -> Result<bool, ClusterError>;
}

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts from one address (an IPv6 /64) that are not successes.
    pub per_address: u32,
    /// Attempts for one username from one address that are not successes.
    pub per_username: u32,
    pub window: Duration,
}

/// The shared state could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cluster state unavailable: {0}")]
pub struct ClusterError(pub String);
