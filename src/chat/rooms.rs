//! Rooms: listing, creating, joining, leaving, managing, and their members.
//! Every use case that names a room asks [`Chat::access`] first.

use std::collections::{HashMap, HashSet};

use super::access::Action;
use super::{Audience, Chat, Event, MemberInfo, RoomInfo, Viewer, store_error};
use crate::domain::{
    ChatError, ConnId, MemberEntry, MemberRole, NewRoom, Room, RoomChanges, RoomId, RoomName, RoomType, Topic,
    UserId, UserSummary,
};

/// Members a room may have.
pub const MAX_MEMBERS: u64 = 10_000;
/// Rooms a user may be a member of.
pub const MAX_ROOMS_PER_USER: u64 = 1_000;
/// User ids one request may name.
pub const MAX_IDS: usize = 100;
/// People in a direct room, the caller included.
pub const DIRECT_MIN: usize = 2;
pub const DIRECT_MAX: usize = 9;

/// What `PATCH /api/rooms/<id>` asks for, parsed.
#[derive(Debug, Clone, Default)]
pub struct RoomEdit {
    pub name: Option<RoomName>,
    pub topic: Option<Topic>,
    pub archived: Option<bool>,
}

impl Chat {
    /// The user's room list: public rooms and the rooms they are a member of,
    /// not archived (or, with `archived`, only archived ones).
    pub async fn room_list(&self, user: &UserSummary, archived: bool) -> Result<Vec<RoomInfo>, ChatError> {
        let listings = self.inner.store.rooms_for(user.id, archived).await.map_err(store_error)?;
        // One query for the members of every direct room (not one per room).
        let direct: Vec<RoomId> =
            listings.iter().filter(|l| l.room.room_type == RoomType::Direct).map(|l| l.room.id).collect();
        let mut members_of: HashMap<RoomId, Vec<UserSummary>> = HashMap::with_capacity(direct.len());
        for (room, member) in self.inner.store.members_of_rooms(&direct).await.map_err(store_error)? {
            members_of.entry(room).or_default().push(UserSummary::from(&member));
        }
        let mut rooms = Vec::with_capacity(listings.len());
        for listing in listings {
            // In id order, as `direct_members` gives them.
            let members = (listing.room.room_type == RoomType::Direct)
                .then(|| members_of.remove(&listing.room.id).unwrap_or_default());
            rooms.push(RoomInfo {
                room: listing.room,
                last_message_id: listing.last_message_id,
                members,
                viewer: Some(Viewer { my_role: listing.my_role }),
            });
        }
        Ok(rooms)
    }

    /// A direct room's members, in id order; `None` for other rooms.
    async fn direct_members(&self, room: &Room) -> Result<Option<Vec<UserSummary>>, ChatError> {
        if room.room_type != RoomType::Direct {
            return Ok(None);
        }
        let mut members: Vec<UserSummary> = self
            .inner
            .store
            .members(room.id)
            .await
            .map_err(store_error)?
            .iter()
            .map(|m| UserSummary::from(&m.user))
            .collect();
        members.sort_by_key(|u| u.id);
        Ok(Some(members))
    }

    /// The room as `viewer` sees it (or, without one, as an event to many shows it).
    async fn room_info(&self, room: Room, viewer: Option<Viewer>) -> Result<RoomInfo, ChatError> {
        let members = self.direct_members(&room).await?;
        let last_message_id = self
            .inner
            .store
            .messages(room.id, crate::domain::Page::Latest { limit: 1 })
            .await
            .map_err(store_error)?
            .last()
            .map(|m| m.id);
        Ok(RoomInfo { room, last_message_id, members, viewer })
    }

    /// Tells each of `users` that they are now members of the room.
    async fn announce_added(&self, room: &Room, users: &[(UserId, MemberRole)]) -> Result<(), ChatError> {
        if users.is_empty() {
            return Ok(());
        }
        let shared = self.room_info(room.clone(), None).await?;
        for (user, role) in users {
            let mut info = shared.clone();
            info.viewer = Some(Viewer { my_role: Some(*role) });
            self.publish(Audience::User(*user), Event::RoomAdded(info));
        }
        Ok(())
    }

    /// The connection's user creates a public room (Part A's `create_room`).
    pub async fn create_room(&self, conn: &ConnId, name: RoomName) -> Result<Room, ChatError> {
        let user = self.user_of(conn)?;
        let info = self.create_room_as(&user, name, RoomType::Public, Topic::from_trusted(String::new()), Vec::new()).await?;
        Ok(info.room)
    }

    /// `user` creates a public or private room, owned by them, with
    /// `member_ids` as members (a private room only). A public room is
    /// announced to everyone (`room_created`); each member hears `room_added`.
    pub async fn create_room_as(
        &self,
        user: &UserSummary,
        name: RoomName,
        room_type: RoomType,
        topic: Topic,
        member_ids: Vec<UserId>,
    ) -> Result<RoomInfo, ChatError> {
        if room_type == RoomType::Direct {
            return Err(ChatError::invalid("room_type must be public or private"));
        }
        let others = self.others(user.id, member_ids)?;
        if room_type == RoomType::Public && !others.is_empty() {
            // Nobody adds others to a public room: they join it themselves.
            return Err(ChatError::Forbidden);
        }
        self.active_users(&others).await?;
        // Every new public room is announced to everyone: a flood of them floods every client.
        let limit = self.inner.config.room_create;
        self.take_token("room_create", &self.inner.room_create_limit, limit, user.id).await?;
        for id in std::iter::once(user.id).chain(others.iter().copied()) {
            self.check_room_count(id).await?;
        }
        let new = NewRoom {
            name,
            room_type,
            topic,
            created_by: user.id,
            at: self.inner.clock.now(),
            members: others.clone(),
        };
        let room = self.inner.store.create_room(new).await.map_err(store_error)?;
        tracing::info!(room_id = %room.id, user_id = %user.id, "room created");
        let mut added = vec![(user.id, MemberRole::Owner)];
        added.extend(others.iter().map(|id| (*id, MemberRole::Member)));
        for (id, _) in &added {
            self.membership_changed(room.id, *id, true).await;
        }
        if room_type == RoomType::Public {
            self.publish(Audience::Everyone, Event::RoomCreated(room.clone()));
        }
        self.announce_added(&room, &added).await?;
        self.room_info(room, Some(Viewer { my_role: Some(MemberRole::Owner) })).await
    }

    /// The ids of a request, without duplicates and without the caller's own;
    /// more than [`MAX_IDS`] is `invalid_members`.
    fn others(&self, me: UserId, ids: Vec<UserId>) -> Result<Vec<UserId>, ChatError> {
        if ids.len() > MAX_IDS {
            return Err(ChatError::InvalidMembers);
        }
        let mut seen = HashSet::new();
        Ok(ids.into_iter().filter(|id| *id != me && seen.insert(*id)).collect())
    }

    /// Each of `ids` is an account that is not deactivated (`user_not_found`).
    async fn active_users(&self, ids: &[UserId]) -> Result<Vec<crate::domain::User>, ChatError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let users = self.inner.store.users_by_ids(ids).await.map_err(store_error)?;
        let found: HashSet<UserId> = users.iter().filter(|u| !u.deactivated).map(|u| u.id).collect();
        if ids.iter().any(|id| !found.contains(id)) {
            return Err(ChatError::UserNotFound);
        }
        Ok(users)
    }

    /// `user` may become a member of one more room.
    async fn check_room_count(&self, user: UserId) -> Result<(), ChatError> {
        let count = self.inner.store.count_rooms_of(user).await.map_err(store_error)?;
        if count >= MAX_ROOMS_PER_USER { Err(ChatError::TooManyRooms) } else { Ok(()) }
    }

    /// Makes `user` a member of a room they may join; true when the
    /// membership began now (`member_added` to the members, `room_added` to
    /// the user's sockets, which start receiving the room).
    async fn become_member(&self, room: &Room, user: &UserSummary) -> Result<bool, ChatError> {
        let store = &self.inner.store;
        if store.is_member(room.id, user.id).await.map_err(store_error)? {
            return Ok(false);
        }
        self.check_room_count(user.id).await?;
        if store.count_members(room.id).await.map_err(store_error)? >= MAX_MEMBERS {
            return Err(ChatError::TooManyMembers);
        }
        let now = self.inner.clock.now();
        let added = store.add_members(room.id, &[user.id], MemberRole::Member, now).await.map_err(store_error)?;
        if added.is_empty() {
            return Ok(false); // joined meanwhile, from another socket
        }
        self.membership_changed(room.id, user.id, true).await;
        self.announce_member_added(room.id, &added).await?;
        self.announce_added(room, &[(user.id, MemberRole::Member)]).await?;
        Ok(true)
    }

    /// `member_added` to the room for each of `users` (just added).
    /// Reads only the new members' accounts: a join to a room of thousands
    /// must not read its whole member list (it made `connect`-and-join 4×
    /// slower when it did). Both callers add members as `member`.
    async fn announce_member_added(&self, room: RoomId, users: &[UserId]) -> Result<(), ChatError> {
        let accounts = self.inner.store.users_by_ids(users).await.map_err(store_error)?;
        let online = self.online_ids().await;
        let now = self.inner.clock.now();
        for account in accounts {
            let entry = MemberEntry { user: account, role: MemberRole::Member, joined_at: now };
            let member = member_info(&entry, &online);
            self.publish(Audience::Room(room), Event::MemberAdded { room, member });
        }
        Ok(())
    }

    /// The connection joins a room: from now on it hears the room's events.
    /// A public room's non-member becomes a member (`new_member: true`);
    /// joining a room the connection is in already changes nothing.
    pub async fn join_room(&self, conn: &ConnId, room: RoomId) -> Result<Room, ChatError> {
        let user = self.user_of(conn)?;
        self.take_join_token(&user).await?;
        let access = self.access(&user, room, Action::Join).await?;
        let room = access.room;
        // A member only subscribes one more socket: no query for that.
        let new_member = !access.standing.member && self.become_member(&room, &user).await?;
        let entered = self.inner.presence.enter(conn, room.id);
        if entered {
            self.inner.shared.entered_room(room.id, user.id).await;
            self.inner.notifier.subscribe(conn, room.id);
        }
        if entered || new_member {
            let text = format!("{} has joined the room", user.display_name.as_str());
            self.publish(Audience::Room(room.id), Event::UserJoined { room: room.id, user, text, new_member });
        }
        Ok(room)
    }

    /// The connection leaves a room. A `membership` connection ends the
    /// membership (every socket of the user stops receiving the room); a
    /// plain one only stops receiving it, and the membership goes on.
    pub async fn leave_room(&self, conn: &ConnId, room: RoomId) -> Result<(), ChatError> {
        let user = self.user_of(conn)?;
        self.take_join_token(&user).await?;
        if self.inner.presence.follows_memberships(conn) {
            return self.remove_member(&user, room, user.id).await;
        }
        self.access(&user, room, Action::See).await?;
        if !self.inner.presence.exit(conn, room) {
            return Err(ChatError::NotInRoom);
        }
        self.inner.shared.left_room(room, user.id).await;
        self.stop_typing(room, &user, conn);
        self.inner.notifier.unsubscribe(conn, room);
        let text = format!("{} has left the room", user.display_name.as_str());
        self.publish(Audience::Room(room), Event::UserLeft { room, user, text, new_member: false });
        Ok(())
    }

    /// Joins and leaves share one bucket per user: each is announced to the
    /// room, so join+leave pairs would otherwise flood it.
    async fn take_join_token(&self, user: &UserSummary) -> Result<(), ChatError> {
        self.take_token("join", &self.inner.join_limit, self.inner.config.join, user.id).await
    }

    /// The users online in the room: its members with a socket connected, and
    /// whoever has a socket in it (Part A sockets that joined a public room).
    pub async fn online_in_room(&self, user: &UserSummary, room: RoomId) -> Result<Vec<UserSummary>, ChatError> {
        let room = self.access(user, room, Action::See).await?.room;
        let presence = &self.inner.presence;
        let mut users = self.inner.shared.room_users(room.id, || presence.users_in_room(room.id)).await;
        let members: HashSet<UserId> =
            self.inner.store.member_ids(room.id).await.map_err(store_error)?.into_iter().collect();
        let mut seen: HashSet<UserId> = users.iter().map(|u| u.id).collect();
        for online in self.online_users().await? {
            if members.contains(&online.id) && seen.insert(online.id) {
                users.push(online);
            }
        }
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    /// `GET /api/rooms/<id>/members`: every member, the earliest to join first.
    pub async fn room_members(&self, user: &UserSummary, room: RoomId) -> Result<Vec<MemberInfo>, ChatError> {
        let room = self.access(user, room, Action::See).await?.room;
        let entries = self.inner.store.members(room.id).await.map_err(store_error)?;
        let online = self.online_ids().await;
        Ok(entries.iter().map(|e| member_info(e, &online)).collect())
    }

    /// `POST /api/rooms/<id>/members {user_ids}`: oneself joins a public
    /// room; an owner or admin adds others to a private room.
    pub async fn add_members(&self, user: &UserSummary, room: RoomId, ids: Vec<UserId>) -> Result<(), ChatError> {
        if ids.is_empty() {
            return Err(ChatError::invalid("user_ids must name at least one user"));
        }
        let others = self.others(user.id, ids)?;
        if others.is_empty() {
            let access = self.access(user, room, Action::Join).await?;
            if !access.standing.member {
                self.become_member(&access.room, user).await?;
            }
            return Ok(());
        }
        let room = self.access(user, room, Action::AddOthers).await?.room;
        self.active_users(&others).await?;
        let store = &self.inner.store;
        let count = store.count_members(room.id).await.map_err(store_error)?;
        if count + others.len() as u64 > MAX_MEMBERS {
            return Err(ChatError::TooManyMembers);
        }
        let mut candidates = Vec::with_capacity(others.len());
        for id in others {
            if !store.is_member(room.id, id).await.map_err(store_error)? {
                self.check_room_count(id).await?;
                candidates.push(id);
            }
        }
        let now = self.inner.clock.now();
        let added = store.add_members(room.id, &candidates, MemberRole::Member, now).await.map_err(store_error)?;
        for id in &added {
            self.membership_changed(room.id, *id, true).await;
        }
        self.announce_member_added(room.id, &added).await?;
        let roles: Vec<(UserId, MemberRole)> = added.iter().map(|id| (*id, MemberRole::Member)).collect();
        self.announce_added(&room, &roles).await
    }

    /// `DELETE /api/rooms/<id>/members/<user_id>`: oneself leaves; an owner
    /// or admin removes someone else. When a private room's last owner goes,
    /// the member who joined earliest becomes its owner; when nobody is left,
    /// the room is archived.
    pub async fn remove_member(&self, user: &UserSummary, room: RoomId, target: UserId) -> Result<(), ChatError> {
        let leaving = target == user.id;
        let action = if leaving { Action::Leave } else { Action::RemoveOthers };
        let room = self.access(user, room, action).await?.room;
        let store = &self.inner.store;
        let was = store.membership(room.id, target).await.map_err(store_error)?.ok_or(ChatError::NotAMember)?;
        if !store.remove_member(room.id, target).await.map_err(store_error)? {
            return Err(ChatError::NotAMember);
        }
        // Every instance unsubscribes the user before anyone hears of it.
        self.membership_changed(room.id, target, false).await;
        if leaving {
            let text = format!("{} has left the room", user.display_name.as_str());
            let event = Event::UserLeft { room: room.id, user: user.clone(), text, new_member: true };
            self.publish(Audience::Room(room.id), event);
        }
        self.publish(Audience::Room(room.id), Event::MemberRemoved { room: room.id, user: target });
        self.publish(Audience::User(target), Event::RoomRemoved { room: room.id });
        if was.role == MemberRole::Owner && room.room_type == RoomType::Private {
            self.after_owner_left(&room).await?;
        }
        Ok(())
    }

    /// A private room's owner left: if no owner is left, the earliest member
    /// becomes one; if no member is left, the room is archived.
    async fn after_owner_left(&self, room: &Room) -> Result<(), ChatError> {
        let store = &self.inner.store;
        let members = store.members(room.id).await.map_err(store_error)?;
        if members.iter().any(|m| m.role == MemberRole::Owner) {
            return Ok(());
        }
        let Some(heir) = members.first() else {
            let changes = RoomChanges { name: None, topic: None, archived: Some(true), at: self.inner.clock.now() };
            if let Some(archived) = store.update_room(room.id, changes).await.map_err(store_error)? {
                self.room_changed(archived.id);
                tracing::info!(room_id = %room.id, "private room archived: its last member left");
            }
            return Ok(());
        };
        let heir = heir.user.id;
        if store.set_member_role(room.id, heir, MemberRole::Owner).await.map_err(store_error)? {
            // Re-reads the heir's memberships everywhere (they stay subscribed).
            self.membership_changed(room.id, heir, true).await;
            let info = self.room_info(room.clone(), None).await?;
            self.publish(Audience::Room(room.id), Event::RoomUpdated(info.clone()));
            let mine = RoomInfo { viewer: Some(Viewer { my_role: Some(MemberRole::Owner) }), ..info };
            self.publish(Audience::User(heir), Event::RoomUpdated(mine));
        }
        Ok(())
    }

    /// The room changed in the store: every instance reads it again.
    fn room_changed(&self, room: RoomId) {
        self.inner.shared.broadcast(super::ClusterMsg::RoomChanged { room });
        self.inner.rooms.changed(room);
    }

    /// `PATCH /api/rooms/<id>`: an owner or admin renames the room, sets its
    /// topic, archives or unarchives it. `room_updated` goes to the members
    /// (to everyone for a public room); archiving also sends `room_removed`
    /// to each member, and unarchiving `room_added`.
    pub async fn update_room(&self, user: &UserSummary, room: RoomId, edit: RoomEdit) -> Result<RoomInfo, ChatError> {
        let access = self.access(user, room, Action::Manage).await?;
        let before = access.room;
        let changes = RoomChanges { name: edit.name, topic: edit.topic, archived: edit.archived, at: self.inner.clock.now() };
        let store = &self.inner.store;
        let room = store.update_room(before.id, changes).await.map_err(store_error)?.ok_or(ChatError::RoomNotFound)?;
        self.room_changed(room.id);
        let shared = self.room_info(room.clone(), None).await?;
        let audience = if room.room_type == RoomType::Public { Audience::Everyone } else { Audience::Room(room.id) };
        self.publish(audience, Event::RoomUpdated(shared.clone()));
        if room.archived != before.archived {
            // Members' cached rooms leave out archived ones: read again everywhere.
            let members = store.members(room.id).await.map_err(store_error)?;
            let mut back = Vec::new();
            for m in &members {
                if room.archived {
                    self.publish(Audience::User(m.user.id), Event::RoomRemoved { room: room.id });
                }
                self.membership_changed(room.id, m.user.id, !room.archived).await;
                back.push((m.user.id, m.role));
            }
            if !room.archived {
                self.announce_added(&room, &back).await?;
            }
        }
        let my_role = store.membership(room.id, user.id).await.map_err(store_error)?.map(|m| m.role);
        Ok(RoomInfo { viewer: Some(Viewer { my_role }), ..shared })
    }

    /// `POST /api/direct {user_ids}`: the one direct room of exactly the
    /// caller and `ids` (1 to 8 others), made now (`true`) or found.
    pub async fn direct_room(&self, user: &UserSummary, ids: Vec<UserId>) -> Result<(RoomInfo, bool), ChatError> {
        if ids.len() > MAX_IDS || ids.contains(&user.id) {
            return Err(ChatError::InvalidMembers);
        }
        let others = self.others(user.id, ids)?;
        if others.len() + 1 < DIRECT_MIN || others.len() + 1 > DIRECT_MAX {
            return Err(ChatError::InvalidMembers);
        }
        let mut people: Vec<UserSummary> =
            self.active_users(&others).await?.iter().map(UserSummary::from).collect();
        people.push(user.clone());
        people.sort_by_key(|u| u.id);
        let key = people.iter().map(|u| u.id.to_string()).collect::<Vec<_>>().join(",");
        let label = people.iter().map(|u| u.username.as_str()).collect::<Vec<_>>().join(", ");
        let ids: Vec<UserId> = people.iter().map(|u| u.id).collect();
        let now = self.inner.clock.now();
        let (room, created) = self.inner.store.direct_room(&key, &label, &ids, now).await.map_err(store_error)?;
        if created {
            tracing::info!(room_id = %room.id, members = ids.len(), "direct room created");
            for id in &ids {
                self.membership_changed(room.id, *id, true).await;
            }
            let roles: Vec<(UserId, MemberRole)> = ids.iter().map(|id| (*id, MemberRole::Member)).collect();
            self.announce_added(&room, &roles).await?;
        }
        let info = self.room_info(room, Some(Viewer { my_role: Some(MemberRole::Member) })).await?;
        Ok((info, created))
    }

    /// A new account becomes a member of General (when a room of that name
    /// exists); registration calls it once the account is stored. A failure
    /// is logged: the account stands, and the user can join General later.
    pub async fn add_new_account_to_general(&self, user: UserId) {
        let store = &self.inner.store;
        let general = match store.room_by_name("general").await {
            Ok(Some(room)) if room.room_type == RoomType::Public && !room.archived => room,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user, "new account not made a member of General");
                return;
            }
        };
        let now = self.inner.clock.now();
        match store.add_members(general.id, &[user], MemberRole::Member, now).await {
            Ok(added) if !added.is_empty() => {
                self.membership_changed(general.id, user, true).await;
                // The members' lists learn of the newcomer at once (one user
                // read: General holds everyone, its member list is not read).
                match store.user(user).await {
                    Ok(Some(account)) => {
                        let entry = MemberEntry { user: account, role: MemberRole::Member, joined_at: now };
                        let member = member_info(&entry, &HashSet::new());
                        self.publish(Audience::Room(general.id), Event::MemberAdded { room: general.id, member });
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, user_id = %user, "member_added for a new account not sent"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, user_id = %user, "new account not made a member of General"),
        }
    }
}

/// A member as `GET /members` and `member_added` show them.
fn member_info(entry: &MemberEntry, online: &HashSet<UserId>) -> MemberInfo {
    MemberInfo {
        user: UserSummary::from(&entry.user),
        role: entry.user.role,
        deactivated: entry.user.deactivated,
        is_online: online.contains(&entry.user.id),
        last_seen: entry.user.last_seen,
        room_role: entry.role,
    }
}
