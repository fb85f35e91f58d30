//! Connections, who is online, and which rooms each connection joined.
//!
//! A user is online while at least one of their connections is open, or,
//! just after a graceful restart of a single instance, while the grace for
//! coming back lasts (see [`Chat::resume_presence`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::{Audience, AuthSession, Chat, Event};
use crate::domain::ChatError;
use crate::domain::{ConnId, RoomId, Timestamp, UserId, UserSummary};

struct Conn {
    user: UserSummary,
    token_hash: Vec<u8>,
    rooms: HashSet<RoomId>,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<ConnId, Conn>,
    /// Open connections per online user.
    online: HashMap<UserId, usize>,
    /// Online at the last graceful stop and not back yet: counted online until
    /// the grace ends, then offline with this `last_seen`.
    presumed: HashMap<UserId, (UserSummary, Timestamp)>,
    /// Last connection closed here less than the linger ago: still counted
    /// online, so that a reload or a reconnect announces nothing.
    lingering: HashMap<UserId, Lingering>,
    next_linger: u64,
}

struct Lingering {
    user: UserSummary,
    /// When the last connection closed (what `last_seen` says).
    since: Timestamp,
    /// Which linger this is: only its own timer ends it.
    generation: u64,
}

#[derive(Default)]
pub(super) struct Presence {
    registry: Mutex<Registry>,
    /// Disconnects still writing `last_seen`.
    closing: AtomicUsize,
    /// Set at a graceful stop once who is online is stored for the next
    /// start: users whose last connection closes are no longer announced offline.
    carrying_over: AtomicBool,
    /// Set when the connections are closed at shutdown: lingering would
    /// outlive the process, so whoever goes offline then is announced at once.
    stopping: AtomicBool,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    pub(super) fn connections_of_session(&self, token_hash: &[u8]) -> Vec<ConnId> {
        self.lock().conns.iter().filter(|(_, c)| c.token_hash == token_hash).map(|(id, _)| id.clone()).collect()
    }

    /// The sessions that open connections of this instance were opened with.
    pub(super) fn sessions_in_use(&self) -> Vec<Vec<u8>> {
        let reg = self.lock();
        let sessions: HashSet<&Vec<u8>> = reg.conns.values().map(|c| &c.token_hash).collect();
        sessions.into_iter().cloned().collect()
    }

    /// Does the user have an open connection on this instance?
    pub(super) fn has_connections(&self, user: UserId) -> bool {
        self.lock().online.get(&user).is_some_and(|n| *n > 0)
    }

    /// The user of a connection, if it is open.
    pub(super) fn user_of(&self, conn: &ConnId) -> Option<UserSummary> {
        self.lock().conns.get(conn).map(|c| c.user.clone())
    }

    pub(super) fn is_in_room(&self, conn: &ConnId, room: RoomId) -> bool {
        self.lock().conns.get(conn).is_some_and(|c| c.rooms.contains(&room))
    }

    /// Adds the room to the connection; false if it was there already.
    pub(super) fn enter(&self, conn: &ConnId, room: RoomId) -> bool {
        self.lock().conns.get_mut(conn).is_some_and(|c| c.rooms.insert(room))
    }

    /// Removes the room from the connection; false if it was not there.
    pub(super) fn exit(&self, conn: &ConnId, room: RoomId) -> bool {
        self.lock().conns.get_mut(conn).is_some_and(|c| c.rooms.remove(&room))
    }

    /// Everyone online, each once, in id order: those with a connection and
    /// those still in the grace after a restart.
    pub(super) fn online_users(&self) -> Vec<UserSummary> {
        let reg = self.lock();
        let mut users = users_where(&reg, |_| true);
        users.extend(reg.presumed.values().map(|(user, _)| user.clone()));
        users.extend(reg.lingering.values().map(|l| l.user.clone()));
        users.sort_by_key(|u| u.id);
        users
    }

    /// How many connections the user has open on this instance.
    pub(super) fn connections_of(&self, user: UserId) -> usize {
        self.lock().online.get(&user).copied().unwrap_or(0)
    }

    /// Removes a connection. With it, whether it was its user's last here.
    fn unregister(&self, conn: &ConnId) -> Option<(Conn, bool)> {
        let mut reg = self.lock();
        let c = reg.conns.remove(conn)?;
        let last = match reg.online.get_mut(&c.user.id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                reg.online.remove(&c.user.id);
                true
            }
        };
        Some((c, last))
    }

    /// The user's name or colour changed: their connections (and their
    /// entries while lingering or awaited) carry the new one from now on.
    pub(super) fn user_changed(&self, user: &UserSummary) {
        let mut reg = self.lock();
        for c in reg.conns.values_mut().filter(|c| c.user.id == user.id) {
            c.user = user.clone();
        }
        if let Some((u, _)) = reg.presumed.get_mut(&user.id) {
            *u = user.clone();
        }
        if let Some(l) = reg.lingering.get_mut(&user.id) {
            l.user = user.clone();
        }
    }

    /// Everyone with a connection in the room, each once, in id order.
    pub(super) fn users_in_room(&self, room: RoomId) -> Vec<UserSummary> {
        let mut users = users_where(&self.lock(), |c| c.rooms.contains(&room));
        users.sort_by_key(|u| u.id);
        users
    }
}

fn users_where(reg: &Registry, keep: impl Fn(&Conn) -> bool) -> Vec<UserSummary> {
    let mut seen = HashSet::new();
    reg.conns.values().filter(|c| keep(c) && seen.insert(c.user.id)).map(|c| c.user.clone()).collect()
}

/// A refusal of one more connection of a user, counted for the operator.
fn too_many_connections(max: u32) -> ChatError {
    metrics::counter!("parley_connections_refused_per_user_total").increment(1);
    ChatError::TooManyConnections { max }
}

/// What a new connection is told about itself.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub user: UserSummary,
}

impl Chat {
    /// Whether a handshake of this session may open one more connection: the
    /// user has fewer than `max_sockets_per_user` open (on every instance).
    /// Checked before the handshake is accepted, so that the client hears a
    /// `connect_error`; [`Chat::connect`] enforces the cap again, atomically,
    /// for handshakes that pass this check together.
    pub async fn admit(&self, session: &AuthSession) -> Result<(), ChatError> {
        let max = self.inner.config.max_sockets_per_user;
        let user = session.user.id;
        let open = match &self.inner.cluster {
            None => self.inner.presence.connections_of(user),
            Some(cluster) => match cluster.user_connections(user).await {
                Ok(n) => n as usize,
                // Connect checks again; refusing everyone while Redis is away would be worse.
                Err(e) => {
                    tracing::warn!(error = %e, "connection count not shared");
                    self.inner.presence.connections_of(user)
                }
            },
        };
        if open >= max as usize {
            return Err(too_many_connections(max));
        }
        Ok(())
    }

    /// A connection opened. The user comes online if it is their first (and
    /// they were not lingering after their last one closed). Refused when the
    /// user already has `max_sockets_per_user` connections open.
    pub async fn connect(&self, conn: ConnId, session: AuthSession) -> Result<Welcome, ChatError> {
        let user = session.user.clone();
        let max = self.inner.config.max_sockets_per_user;
        let first_here = {
            let mut reg = self.inner.presence.lock();
            let open = reg.online.get(&user.id).copied().unwrap_or(0);
            if open >= max as usize {
                return Err(too_many_connections(max));
            }
            reg.conns.insert(
                conn.clone(),
                Conn { user: user.clone(), token_hash: session.token_hash, rooms: HashSet::new() },
            );
            reg.online.insert(user.id, open + 1);
            // Counted online since the restart, or still lingering: back, not new.
            let awaited = reg.presumed.remove(&user.id).is_some();
            let lingered = reg.lingering.remove(&user.id).is_some();
            open == 0 && !awaited && !lingered
        };
        let came_online = match &self.inner.cluster {
            None => first_here,
            Some(cluster) => match cluster.user_connected_within(&user, max).await {
                Ok(Some(came_online)) => came_online,
                Ok(None) => {
                    self.inner.presence.unregister(&conn);
                    return Err(too_many_connections(max));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "presence not shared");
                    first_here
                }
            },
        };
        if came_online {
            let event = Event::Presence { user: user.clone(), is_online: true, last_seen: None };
            self.publish(Audience::Everyone, event);
        }
        Ok(Welcome { user })
    }

    /// A connection closed. The user goes offline, with `last_seen` now, if it was their last.
    pub async fn disconnect(&self, conn: &ConnId) {
        self.inner.presence.closing.fetch_add(1, Ordering::SeqCst);
        self.close_connection(conn).await;
        self.inner.presence.closing.fetch_sub(1, Ordering::SeqCst);
    }

    async fn close_connection(&self, conn: &ConnId) {
        let Some((Conn { user, rooms, .. }, last)) = self.inner.presence.unregister(conn) else { return };
        for room in rooms {
            self.stop_typing(room, &user, conn);
            if let Some(cluster) = &self.inner.cluster
                && let Err(e) = cluster.left_room(room, user.id).await
            {
                tracing::warn!(error = %e, "room presence not shared");
            }
        }
        let linger = self.inner.config.presence_linger;
        let lingers = !linger.is_zero() && !self.inner.presence.stopping.load(Ordering::SeqCst);
        let went_offline = match &self.inner.cluster {
            None => last,
            Some(cluster) => {
                let gone = if lingers {
                    cluster.user_disconnected_lingering(user.id).await
                } else {
                    cluster.user_disconnected(user.id).await
                };
                gone.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "presence not shared");
                    last
                })
            }
        };
        if !went_offline {
            return;
        }
        let now = self.inner.clock.now();
        if lingers {
            // Offline is announced when the linger ends, if the user is not
            // back by then: reloads and reconnects announce nothing, and a
            // user cycling connections costs at most two events per linger.
            self.linger(user.clone(), now, linger);
        } else {
            self.announce_offline(user.clone(), now);
        }
        if let Err(e) = self.inner.store.set_last_seen(user.id, now).await {
            tracing::warn!(error = %e, user_id = %user.id, "could not record last_seen");
        }
    }

    /// Announces that the user went offline (last seen `since`), unless a
    /// graceful stop that the next start picks up keeps them online.
    fn announce_offline(&self, user: UserSummary, since: Timestamp) {
        if self.inner.presence.carrying_over.load(Ordering::SeqCst) {
            return;
        }
        // Announced before the `last_seen` write: a new connection of this
        // user that comes in meanwhile announces itself after this, not before.
        self.publish(Audience::Everyone, Event::Presence { user: user.clone(), is_online: false, last_seen: Some(since) });
        // And if one came in between the decision and the announcement,
        // its "online" went out first: say it again.
        if self.inner.presence.has_connections(user.id) {
            self.publish(Audience::Everyone, Event::Presence { user, is_online: true, last_seen: None });
        }
    }

    /// The user's last connection closed: they stay online for `linger`.
    fn linger(&self, user: UserSummary, since: Timestamp, linger: Duration) {
        let id = user.id;
        let generation = {
            let mut reg = self.inner.presence.lock();
            reg.next_linger += 1;
            let generation = reg.next_linger;
            reg.lingering.insert(id, Lingering { user, since, generation });
            generation
        };
        let chat = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            chat.end_linger(id, Some(generation)).await;
        });
    }

    /// Ends a user's linger (with `generation`, only that one): unless they
    /// came back meanwhile, on any instance, they go offline now.
    async fn end_linger(&self, user: UserId, generation: Option<u64>) {
        let ended = {
            let mut reg = self.inner.presence.lock();
            match reg.lingering.get(&user) {
                Some(l) if generation.is_none_or(|g| g == l.generation) => reg.lingering.remove(&user),
                _ => None,
            }
        };
        let Some(Lingering { user, since, .. }) = ended else { return };
        let gone = match &self.inner.cluster {
            None => true,
            Some(cluster) => cluster.linger_ended(user.id).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "presence not shared");
                !self.inner.presence.has_connections(user.id)
            }),
        };
        if gone {
            self.announce_offline(user, since);
        }
    }

    /// Waits (up to `limit`) until every connection has closed and its
    /// `last_seen` is written: the last step of a graceful shutdown.
    pub async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.inner.presence.connection_count() > 0 || self.inner.presence.closing.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(open = self.inner.presence.connection_count(), "shutdown: connections still open");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Closes every connection still registered (at shutdown), all at once:
    /// their `last_seen` writes share transactions.
    /// Those lingering go offline at once too: the process would not be
    /// there to announce it later.
    pub async fn disconnect_all(&self) {
        self.inner.presence.stopping.store(true, Ordering::SeqCst);
        let conns: Vec<ConnId> = self.inner.presence.lock().conns.keys().cloned().collect();
        futures_util::future::join_all(conns.iter().map(|conn| self.disconnect(conn))).await;
        let lingering: Vec<UserId> = self.inner.presence.lock().lingering.keys().copied().collect();
        futures_util::future::join_all(lingering.into_iter().map(|user| self.end_linger(user, None))).await;
    }

    /// At a graceful stop, before the connections close: stores who is online,
    /// so that the next start counts them online while they come back
    /// ([`Chat::resume_presence`]), and announces no one offline from here on.
    /// Not with several instances, whose presence is shared (a stopping
    /// instance's users go offline on the others), nor with no grace configured.
    pub async fn carry_presence_over(&self) {
        if self.inner.cluster.is_some() || self.inner.config.restart_grace.is_zero() {
            return;
        }
        let users: Vec<UserId> = {
            let reg = self.inner.presence.lock();
            reg.online.keys().chain(reg.presumed.keys()).chain(reg.lingering.keys()).copied().collect()
        };
        match self.inner.store.save_online(&users, self.inner.clock.now()).await {
            Ok(()) => {
                self.inner.presence.carrying_over.store(true, Ordering::SeqCst);
                tracing::info!(users = users.len(), "who is online is kept for the next start");
            }
            Err(e) => tracing::warn!(error = %e, "could not keep who is online: they go offline"),
        }
    }

    /// At a start, before any connection: whoever the last graceful stop left
    /// online counts as online until `restart_grace` after that stop, and
    /// their return announces nothing. Whoever is not back by then goes
    /// offline, announced with the `last_seen` of the stop. Their live
    /// sessions are trusted at once, so that coming back costs no query each.
    /// What was stored is read once and forgotten; with several instances it
    /// is not used.
    pub async fn resume_presence(&self) {
        let now = self.inner.clock.now();
        let carried = match self.inner.store.take_online(now).await {
            Ok(carried) => carried,
            Err(e) => {
                tracing::warn!(error = %e, "could not read who was online at the last stop");
                return;
            }
        };
        let Some((_, stopped_at)) = carried.online.first() else { return };
        let grace_ms = i64::try_from(self.inner.config.restart_grace.as_millis()).unwrap_or(i64::MAX);
        let left_ms = stopped_at.as_millis().saturating_add(grace_ms) - now.as_millis();
        if self.inner.cluster.is_some() || left_ms <= 0 {
            return;
        }
        let (users, sessions) = (carried.online.len(), carried.sessions.len());
        self.inner.sessions.confirmed(carried.sessions, now);
        {
            let mut reg = self.inner.presence.lock();
            for (user, stopped_at) in carried.online {
                let last_seen = user.last_seen.unwrap_or(stopped_at);
                reg.presumed.insert(user.id, (UserSummary::from(&user), last_seen));
            }
        }
        tracing::info!(users, sessions, grace_ms = left_ms, "online at the last stop: counted online while they come back");
        let chat = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(left_ms.unsigned_abs())).await;
            chat.end_grace();
        });
    }

    /// Those still awaited when the grace ends go offline.
    fn end_grace(&self) {
        let mut gone: Vec<_> = self.inner.presence.lock().presumed.drain().map(|(_, v)| v).collect();
        gone.sort_by_key(|(user, _)| user.id);
        for (user, last_seen) in gone {
            let back = user.clone();
            self.publish(Audience::Everyone, Event::Presence { user, is_online: false, last_seen: Some(last_seen) });
            // Came back just as the grace ended: its "online" may have gone out first.
            if self.inner.presence.has_connections(back.id) {
                self.publish(Audience::Everyone, Event::Presence { user: back, is_online: true, last_seen: None });
            }
        }
    }

    /// Everyone online (on every instance).
    pub async fn online_users(&self) -> Result<Vec<UserSummary>, ChatError> {
        match &self.inner.cluster {
            None => Ok(self.inner.presence.online_users()),
            Some(cluster) => cluster.online_users().await.map_err(super::cluster_error),
        }
    }
}

impl Chat {
    /// The user a connection belongs to.
    pub fn user_of(&self, conn: &ConnId) -> Result<UserSummary, crate::domain::ChatError> {
        self.inner.presence.user_of(conn).ok_or(crate::domain::ChatError::NotAuthenticated)
    }
}

impl Presence {
    /// This instance's connections, per user, for [`Chat::rejoin_cluster`].
    fn here(&self) -> Vec<super::cluster::LocalPresence> {
        let reg = self.lock();
        let mut by_user: HashMap<UserId, super::cluster::LocalPresence> = HashMap::new();
        for c in reg.conns.values() {
            let entry = by_user.entry(c.user.id).or_insert_with(|| super::cluster::LocalPresence {
                user: c.user.clone(),
                connections: 0,
                rooms: Vec::new(),
            });
            entry.connections += 1;
            for room in &c.rooms {
                match entry.rooms.iter_mut().find(|(r, _)| r == room) {
                    Some((_, n)) => *n += 1,
                    None => entry.rooms.push((*room, 1)),
                }
            }
        }
        by_user.into_values().collect()
    }
}

impl Chat {
    /// The shared state lost this instance's connections (Redis restarted
    /// empty, or this instance was taken for dead): registers them again, so
    /// that every instance counts these users online and in their rooms, and
    /// announces online those whom the others had been told went offline.
    pub(super) async fn rejoin_cluster(&self) {
        let Some(cluster) = &self.inner.cluster else { return };
        let here = self.inner.presence.here();
        match cluster.rejoin(&here).await {
            Ok(back) => {
                tracing::info!(users = here.len(), "connections registered again with the cluster");
                for user in back {
                    self.publish(Audience::Everyone, Event::Presence { user, is_online: true, last_seen: None });
                }
            }
            // The cluster asks again at its next heartbeat.
            Err(e) => tracing::warn!(error = %e, "connections not registered again with the cluster"),
        }
    }
}
