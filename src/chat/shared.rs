//! The state instances share (presence, room presence, rate limits), and the
//! one policy for when the shared store cannot be reached.
//!
//! [`SharedState`] is the only way the chat layer reaches it. On a single
//! instance every answer is this instance's own (the `local` argument each
//! method takes, which the chat keeps anyway). With several instances the
//! answer comes from the [`Cluster`] (Redis), so that limits and presence hold
//! wherever a user's sockets are.
//!
//! # When Redis is down
//!
//! An action is never refused because Redis cannot be reached. Instead, for as
//! long as it is away:
//! - **limits** (sends, joins, typing, room creation, logins, registrations)
//!   fall back to this instance's own buckets: each instance enforces them
//!   alone, so a user spread over N instances may get up to N times the limit;
//! - **who is online, and in which room**, is this instance's view: its own
//!   connections only;
//! - **presence changes** made meanwhile (connects, joins, leaves,
//!   disconnects) are registered again as a whole, from this instance's
//!   connections, at the first heartbeat that reaches Redis
//!   ([`Cluster::lost`], then [`Cluster::rejoin`]);
//! - **events to other instances** are lost; clients catch up on messages with
//!   `after=` when they reconnect, as after any gap.
//!
//! After a command fails, Redis is taken for down for [`RETRY_AFTER`]: no
//! action waits for it meanwhile, then the next one tries again. The switch
//! to down and back is logged once each, and counted in
//! `parley_shared_state_fallbacks_total`.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::cluster::{Cluster, ClusterError, ClusterMsg, LocalPresence, LoginLimits};
use super::ratelimit::{AttemptWindow, ClientNet, Limit, LoginGate, LoginKeys, TokenBuckets};
use crate::domain::{RoomId, UserId, UserSummary};

/// Asks the cluster (`$c` in `$call`): `Some(answer)`, or `None` when the
/// answer must be local ([`SharedState::to_ask`], [`SharedState::answer`]).
macro_rules! ask {
    ($self:ident, $what:expr, |$c:ident| $call:expr) => {
        match $self.to_ask($what) {
            None => None,
            Some($c) => $self.answer($what, $call.await),
        }
    };
}

/// How long Redis is taken for down after a command failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where a login attempt was counted, so that it is given back there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counted {
    Shared,
    Local,
}

/// Presence and limits as every instance sees them, or as this instance
/// sees them while Redis is away: never a refusal because of Redis (the
/// policy is this module's documentation). Every method takes this
/// instance's own answer, which is the answer on a single instance.
pub(super) struct SharedState {
    remote: Option<Arc<dyn Cluster>>,
    /// Set while Redis is taken for down: until when no command is tried.
    down_until: Mutex<Option<Instant>>,
}

impl SharedState {
    pub(super) fn new(remote: Option<Arc<dyn Cluster>>) -> Self {
        Self { remote, down_until: Mutex::new(None) }
    }

    /// Several instances share state (whether or not Redis answers right now).
    pub(super) fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// The cluster, unless there is none or it is taken for down.
    fn reachable(&self) -> Option<&dyn Cluster> {
        let remote = self.remote.as_deref()?;
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match *down {
            Some(until) if Instant::now() < until => None,
            _ => Some(remote),
        }
    }

    /// A command failed: Redis is taken for down for [`RETRY_AFTER`].
    fn failed(&self, what: &'static str, e: ClusterError) {
        let was_up = {
            let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
            let was_up = down.is_none();
            *down = Some(Instant::now() + RETRY_AFTER);
            was_up
        };
        if was_up {
            tracing::warn!(error = %e, what, "shared state unreachable: limits and presence are this instance's own until it is back");
        } else {
            tracing::debug!(error = %e, what, "shared state still unreachable");
        }
    }

    /// A command succeeded: Redis is up (again).
    fn answered(&self) {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        if down.take().is_some() {
            tracing::info!("shared state reachable again");
        }
    }

    /// This instance acted on its own view: counted for the operator.
    fn fell_back(&self, what: &'static str) {
        metrics::counter!("parley_shared_state_fallbacks_total", "what" => what).increment(1);
    }

    /// The cluster to ask, or `None` when the answer must be local: on a
    /// single instance, or (counted) while Redis is taken for down.
    fn to_ask(&self, what: &'static str) -> Option<&dyn Cluster> {
        self.remote.as_ref()?;
        let remote = self.reachable();
        if remote.is_none() {
            self.fell_back(what);
        }
        remote
    }

    /// What the cluster answered, or `None` (logged, counted) when the
    /// answer must be local after all.
    fn answer<T>(&self, what: &'static str, answer: Result<T, ClusterError>) -> Option<T> {
        match answer {
            Ok(answer) => {
                self.answered();
                Some(answer)
            }
            Err(e) => {
                self.failed(what, e);
                self.fell_back(what);
                None
            }
        }
    }

    /// A presence change that did not reach Redis: this instance registers
    /// all of its presence again at the first heartbeat that does.
    fn told<T>(&self, answer: Option<T>) -> Option<T> {
        if answer.is_none()
            && let Some(remote) = &self.remote
        {
            remote.lost();
        }
        answer
    }

    /// Tells the other instances; lost while Redis is away.
    pub(super) fn broadcast(&self, msg: ClusterMsg) {
        if let Some(remote) = &self.remote {
            remote.broadcast(msg);
        }
    }

    /// Takes a token of `user`'s bucket named `bucket`.
    pub(super) async fn take_token(
        &self,
        bucket: &'static str,
        local: &TokenBuckets<UserId>,
        limit: Limit,
        user: UserId,
    ) -> Result<(), Duration> {
        match ask!(self, bucket, |c| c.take_token(bucket, user, limit)) {
            Some(answer) => answer,
            None => local.take(&user),
        }
    }

    /// Takes a token of `user`'s send bucket.
    pub(super) async fn take_send_token(
        &self,
        local: &TokenBuckets<UserId>,
        user: UserId,
        rate: u32,
        burst: u32,
    ) -> Result<(), Duration> {
        match ask!(self, "send", |c| c.take_send_token(user, rate, burst)) {
            Some(answer) => answer,
            None => local.take(&user),
        }
    }

    /// Counts one attempt of `kind` by `client` in a window.
    pub(super) async fn take_attempt(
        &self,
        kind: &'static str,
        local: &AttemptWindow<ClientNet>,
        client: ClientNet,
        max: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        match ask!(self, kind, |c| c.take_attempt(kind, client, max, window)) {
            Some(answer) => answer,
            None => local.take(&client),
        }
    }

    /// Counts a login attempt; with it, where it was counted.
    pub(super) async fn login_reserve(
        &self,
        local: &LoginGate,
        keys: &LoginKeys,
        limits: LoginLimits,
    ) -> (Result<u32, Duration>, Counted) {
        match ask!(self, "login", |c| c.login_reserve(keys, limits)) {
            Some(answer) => (answer, Counted::Shared),
            None => (local.reserve(keys), Counted::Local),
        }
    }

    /// The attempt failed: it stays counted where it was, and the username's failures grow.
    pub(super) async fn login_failed(&self, local: &LoginGate, keys: &LoginKeys, limits: LoginLimits, counted: Counted) {
        if counted == Counted::Shared && ask!(self, "login", |c| c.login_failed(keys, limits)).is_some() {
            return;
        }
        local.failed(keys);
    }

    /// The attempt gives its count back where it was counted.
    pub(super) async fn login_release(&self, local: &LoginGate, keys: &LoginKeys, succeeded: bool, counted: Counted) {
        if counted == Counted::Shared {
            // Not given back while Redis is away: the count lapses with its window.
            let _ = ask!(self, "login", |c| c.login_release(keys, succeeded));
        } else if succeeded {
            local.succeeded(keys);
        } else {
            local.release(keys);
        }
    }

    /// How many sockets `user` has open (on every instance); `local` is this instance's count.
    pub(super) async fn user_connections(&self, user: UserId, local: usize) -> usize {
        match ask!(self, "connections", |c| c.user_connections(user)) {
            Some(n) => n as usize,
            None => local,
        }
    }

    /// One more connection of `user` here, under the cap: `None` at the cap,
    /// else whether the user came online. `first_here`: this instance's answer.
    pub(super) async fn user_connected(&self, user: &UserSummary, max: u32, first_here: bool) -> Option<bool> {
        self.told(ask!(self, "presence", |c| c.user_connected_within(user, max))).unwrap_or(Some(first_here))
    }

    /// One connection of `user` here closed (with `lingering`, the user stays
    /// online until [`SharedState::linger_ended`]). True when it was their last
    /// everywhere; `last_here`: this instance's answer.
    pub(super) async fn user_disconnected(&self, user: UserId, lingering: bool, last_here: bool) -> bool {
        let answer = if lingering {
            self.told(ask!(self, "presence", |c| c.user_disconnected_lingering(user)))
        } else {
            self.told(ask!(self, "presence", |c| c.user_disconnected(user)))
        };
        answer.unwrap_or(last_here)
    }

    /// The linger this instance started is over: true when the user is now
    /// offline everywhere; `gone_here`: this instance's answer.
    pub(super) async fn linger_ended(&self, user: UserId, gone_here: impl FnOnce() -> bool) -> bool {
        match self.told(ask!(self, "presence", |c| c.linger_ended(user))) {
            Some(gone) => gone,
            None => gone_here(),
        }
    }

    pub(super) async fn entered_room(&self, room: RoomId, user: UserId) {
        let _ = self.told(ask!(self, "room_presence", |c| c.entered_room(room, user)));
    }

    pub(super) async fn left_room(&self, room: RoomId, user: UserId) {
        let _ = self.told(ask!(self, "room_presence", |c| c.left_room(room, user)));
    }

    /// One connection of `user` more in each of `rooms`, in one step.
    pub(super) async fn entered_rooms(&self, rooms: &[RoomId], user: UserId) {
        if !rooms.is_empty() {
            let _ = self.told(ask!(self, "room_presence", |c| c.entered_rooms(rooms, user)));
        }
    }

    /// One connection of `user` less in each of `rooms`, in one step.
    pub(super) async fn left_rooms(&self, rooms: &[RoomId], user: UserId) {
        if !rooms.is_empty() {
            let _ = self.told(ask!(self, "room_presence", |c| c.left_rooms(rooms, user)));
        }
    }

    /// Everyone online; `local`: this instance's view.
    pub(super) async fn online_users(&self, local: impl FnOnce() -> Vec<UserSummary>) -> Vec<UserSummary> {
        match ask!(self, "online_users", |c| c.online_users()) {
            Some(users) => users,
            None => local(),
        }
    }

    /// Everyone with a connection in the room; `local`: this instance's view.
    pub(super) async fn room_users(&self, room: RoomId, local: impl FnOnce() -> Vec<UserSummary>) -> Vec<UserSummary> {
        match ask!(self, "room_users", |c| c.room_users(room)) {
            Some(users) => users,
            None => local(),
        }
    }

    /// Registers this instance's connections again (after Redis lost them);
    /// the users who were offline everywhere until now. `Err` leaves them
    /// for the next heartbeat to ask again.
    pub(super) async fn rejoin(&self, here: &[LocalPresence]) -> Result<Vec<UserSummary>, ClusterError> {
        let Some(remote) = &self.remote else { return Ok(Vec::new()) };
        let back = remote.rejoin(here).await?;
        self.answered();
        Ok(back)
    }

}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use tokio::sync::mpsc;

    use super::*;

    /// A cluster whose Redis is away: every command fails, and is counted.
    #[derive(Default)]
    struct Unreachable {
        asked: AtomicUsize,
        lost: AtomicBool,
    }

    impl Unreachable {
        fn fail<T>(&self) -> Result<T, ClusterError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Err(ClusterError("connection refused".into()))
        }
    }

    #[async_trait]
    impl Cluster for Unreachable {
        fn broadcast(&self, _: ClusterMsg) {}
        fn incoming(&self) -> Option<mpsc::UnboundedReceiver<ClusterMsg>> {
            None
        }
        fn lost(&self) {
            self.lost.store(true, Ordering::SeqCst);
        }
        async fn user_disconnected(&self, _: UserId) -> Result<bool, ClusterError> {
            self.fail()
        }
        async fn entered_room(&self, _: RoomId, _: UserId) -> Result<(), ClusterError> {
            self.fail()
        }
        async fn left_room(&self, _: RoomId, _: UserId) -> Result<(), ClusterError> {
            self.fail()
        }
        async fn online_users(&self) -> Result<Vec<UserSummary>, ClusterError> {
            self.fail()
        }
        async fn room_users(&self, _: RoomId) -> Result<Vec<UserSummary>, ClusterError> {
            self.fail()
        }
        async fn rejoin(&self, _: &[LocalPresence]) -> Result<Vec<UserSummary>, ClusterError> {
            self.fail()
        }
        async fn take_send_token(&self, _: UserId, _: u32, _: u32) -> Result<Result<(), Duration>, ClusterError> {
            self.fail()
        }
        async fn login_reserve(&self, _: &LoginKeys, _: LoginLimits) -> Result<Result<u32, Duration>, ClusterError> {
            self.fail()
        }
        async fn login_failed(&self, _: &LoginKeys, _: LoginLimits) -> Result<(), ClusterError> {
            self.fail()
        }
        async fn login_release(&self, _: &LoginKeys, _: bool) -> Result<(), ClusterError> {
            self.fail()
        }
        async fn take_attempt(&self, _: &str, _: ClientNet, _: u32, _: Duration) -> Result<Result<(), Duration>, ClusterError> {
            self.fail()
        }
        async fn take_token(&self, _: &str, _: UserId, _: Limit) -> Result<Result<(), Duration>, ClusterError> {
            self.fail()
        }
        async fn user_connections(&self, _: UserId) -> Result<u32, ClusterError> {
            self.fail()
        }
        async fn user_connected_within(&self, _: &UserSummary, _: u32) -> Result<Option<bool>, ClusterError> {
            self.fail()
        }
        async fn user_disconnected_lingering(&self, _: UserId) -> Result<bool, ClusterError> {
            self.fail()
        }
        async fn linger_ended(&self, _: UserId) -> Result<bool, ClusterError> {
            self.fail()
        }
    }

    fn away() -> (SharedState, Arc<Unreachable>) {
        let cluster = Arc::new(Unreachable::default());
        (SharedState::new(Some(cluster.clone())), cluster)
    }

    #[tokio::test]
    async fn while_redis_is_away_a_limit_is_this_instance_s_own_not_a_refusal() {
        let (shared, _) = away();
        let local = TokenBuckets::of(Limit::per_minute(1, 2));
        let user = UserId(1);
        assert_eq!(shared.take_token("join", &local, Limit::per_minute(1, 2), user).await, Ok(()));
        assert_eq!(shared.take_token("join", &local, Limit::per_minute(1, 2), user).await, Ok(()));
        assert!(shared.take_token("join", &local, Limit::per_minute(1, 2), user).await.is_err(), "the local bucket holds");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_redis_is_not_asked_again_until_the_retry_time() {
        let (shared, cluster) = away();
        let local = TokenBuckets::new(1000, 1000);
        for _ in 0..5 {
            let _ = shared.take_send_token(&local, UserId(1), 10, 10).await;
        }
        assert_eq!(cluster.asked.load(Ordering::SeqCst), 1, "one failure, then local answers");
        tokio::time::advance(RETRY_AFTER).await;
        let _ = shared.take_send_token(&local, UserId(1), 10, 10).await;
        assert_eq!(cluster.asked.load(Ordering::SeqCst), 2, "tried again after the retry time");
    }

    #[tokio::test]
    async fn a_presence_change_that_misses_redis_is_registered_again_later() {
        let (shared, cluster) = away();
        let ann = UserSummary {
            id: UserId(1),
            username: crate::domain::Username::from_trusted("ann".into()),
            display_name: crate::domain::DisplayName::from_trusted("Ann".into()),
            avatar_color: crate::domain::AvatarColor::from_trusted("#000000".into()),
        };
        assert!(!cluster.lost.load(Ordering::SeqCst));
        assert_eq!(shared.user_connected(&ann, 20, true).await, Some(true), "this instance's answer");
        assert!(cluster.lost.load(Ordering::SeqCst), "asks for a rejoin at the next heartbeat");
        assert_eq!(shared.online_users(|| vec![ann.clone()]).await, vec![ann.clone()], "this instance's view");
        assert_eq!(shared.room_users(RoomId(1), Vec::new).await, Vec::<UserSummary>::new());
        assert!(shared.user_disconnected(ann.id, false, true).await, "this instance's answer");
    }

    #[tokio::test]
    async fn a_login_counted_here_while_redis_was_away_is_given_back_here() {
        let (shared, _) = away();
        let limits = LoginLimits { per_address: 1, per_username: 1, window: Duration::from_secs(60) };
        let gate = LoginGate::new(limits);
        let keys = LoginKeys::new("10.0.0.1".parse().unwrap(), "ann");
        let (reserved, counted) = shared.login_reserve(&gate, &keys, limits).await;
        assert_eq!((reserved, counted), (Ok(0), Counted::Local));
        assert!(shared.login_reserve(&gate, &keys, limits).await.0.is_err(), "the local limit of one holds");
        shared.login_release(&gate, &keys, true, counted).await;
        assert!(shared.login_reserve(&gate, &keys, limits).await.0.is_ok(), "given back where it was counted");
    }

    #[tokio::test]
    async fn a_single_instance_answers_from_its_own_buckets() {
        let shared = SharedState::new(None);
        let local = TokenBuckets::new(1, 1);
        assert_eq!(shared.take_send_token(&local, UserId(1), 1, 1).await, Ok(()));
        assert!(!shared.is_shared());
    }
}
