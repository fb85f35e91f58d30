//! The ports on a database server (MariaDB/MySQL, PostgreSQL), written once:
//! the statements of [`super::sql`] run on either, and only opening, closing
//! and the group commit of messages are each backend's own.

use std::future::Future;

use async_trait::async_trait;

use super::group_commit::GroupCommit;
use super::ports::*;
use super::rows::{self, ParleyRow as _};
use super::sql::{self, Exec, Pool, Stmt, all, count, one};
use super::{StoreError, map_err};
use crate::domain::{
    AvatarColor, DisplayName, Invite, MemberEntry, MemberRole, Membership, Message, NewInvite, NewMessage, NewRoom,
    NewUser, Page, Role, Room, RoomChanges, RoomId, RoomListing, ServerSettings, Timestamp, User, UserId,
};

/// A store on a database server: what the shared port implementations need.
pub(crate) trait OnServer: Send + Sync + 'static {
    type P: Pool;
    fn pool(&self) -> &Self::P;
    /// Sends waiting for a group-commit writer.
    fn ingest(&self) -> &GroupCommit;
    /// Waits for the writers and closes the pool.
    fn shut(&self) -> impl Future<Output = ()> + Send;
}

/// Gives the rooms made before migration 0003 their `name_key`
/// ([`super::keys_for_unkeyed_rooms`]); nothing to do after the first start.
/// Instances starting together write the same keys (`AND name_key IS NULL`
/// makes the second a no-op); a look-alike room made by a running instance
/// in between sends the old room to its fallback key.
pub(crate) async fn fill_room_keys<C: Exec>(c: &mut C) -> Result<(), StoreError> {
    let unkeyed = c.fetch_all(Stmt::new("SELECT id, room_name FROM rooms WHERE name_key IS NULL ORDER BY id")).await?;
    if unkeyed.is_empty() {
        return Ok(());
    }
    let unkeyed: Vec<(i64, String)> = all(&unkeyed, |r| Ok((r.int("id")?, r.text("room_name")?)))?;
    let taken = c.fetch_all(Stmt::new("SELECT name_key FROM rooms WHERE name_key IS NOT NULL")).await?;
    let taken: Vec<String> = all(&taken, |r| r.text("name_key"))?;
    for (id, key) in super::keys_for_unkeyed_rooms(taken, unkeyed) {
        let set = |key: String| {
            Stmt::new("UPDATE rooms SET name_key = ").bind(key).push(" WHERE id = ").bind(id).push(" AND name_key IS NULL")
        };
        match c.execute(set(key.clone())).await {
            Err(StoreError::RoomNameTaken) => c.execute(set(super::fallback_room_key(&key, id))).await?,
            other => other?,
        };
    }
    Ok(())
}

#[async_trait]
impl<S: OnServer> Database for S {
    async fn ping(&self) -> Result<(), StoreError> {
        self.pool().conn().await?.execute(Stmt::new("SELECT 1")).await.map(drop)
    }

    async fn close(&self) {
        self.shut().await;
    }
}

#[async_trait]
impl<S: OnServer> UserStore for S {
    async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        let mut c = self.pool().conn().await?;
        let id = UserId(c.insert(sql::users::insert(&u)).await?);
        let role = c.fetch_optional(sql::users::role_of(id)).await?;
        let role = one(role, |r| r.text("role"))?.map_or(Role::Member, |r| Role::from_db(&r));
        Ok(User {
            id,
            username: u.username,
            email: u.email.as_str().to_owned(),
            display_name: u.display_name,
            avatar_color: u.avatar_color,
            password_hash: u.password_hash,
            created_at: u.created_at,
            last_seen: None,
            role,
            deactivated: false,
        })
    }

    async fn user_by_username(&self, folded: &str) -> Result<Option<User>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::users::by_username(folded)).await?, rows::user)
    }

    async fn user_by_email(&self, folded: &str) -> Result<Option<User>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::users::by_email(folded)).await?, rows::user)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::users::by_id(id)).await?, rows::user)
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let Some(s) = sql::users::by_ids(ids) else { return Ok(Vec::new()) };
        all(&self.pool().conn().await?.fetch_all(s).await?, rows::user)
    }

    async fn search_users(&self, q: Option<&str>, limit: u32, include_deactivated: bool) -> Result<Vec<User>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::users::search(q, limit, include_deactivated)).await?, rows::user)
    }

    async fn update_profile(
        &self,
        id: UserId,
        display_name: Option<DisplayName>,
        avatar_color: Option<AvatarColor>,
    ) -> Result<Option<User>, StoreError> {
        let mut c = self.pool().conn().await?;
        if let Some(s) = sql::users::update_profile(id, display_name.as_ref(), avatar_color.as_ref()) {
            c.execute(s).await?;
        }
        one(c.fetch_optional(sql::users::by_id(id)).await?, rows::user)
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        self.pool().conn().await?.execute(sql::users::set_password_hash(id, hash)).await.map(drop)
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, StoreError> {
        let mut c = self.pool().conn().await?;
        c.execute(sql::users::set_role(id, role)).await?;
        one(c.fetch_optional(sql::users::by_id(id)).await?, rows::user)
    }

    async fn set_deactivated(&self, id: UserId, at: Option<Timestamp>) -> Result<Option<User>, StoreError> {
        let mut c = self.pool().conn().await?;
        c.execute(sql::users::set_deactivated(id, at)).await?;
        one(c.fetch_optional(sql::users::by_id(id)).await?, rows::user)
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        count(&mut *self.pool().conn().await?, sql::users::count_active_admins()).await
    }
}

#[async_trait]
impl<S: OnServer> SessionStore for S {
    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        self.pool().conn().await?.execute(sql::sessions::insert(&s)).await.map(drop)
    }

    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<Option<SessionUser>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::sessions::user_of(token_hash, now)).await?, rows::session_user)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.pool().conn().await?.execute(sql::sessions::delete(token_hash)).await.map(drop)
    }

    async fn delete_sessions_of(&self, user: UserId, except: Option<&[u8]>) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let hashes = all(&tx.fetch_all(sql::sessions::hashes_of(user, except)).await?, |r| r.bytes("token_hash"))?;
        if let Some(s) = sql::sessions::delete_hashes(user, &hashes) {
            tx.execute(s).await?;
        }
        S::P::commit(tx).await?;
        Ok(hashes)
    }
}

#[async_trait]
impl<S: OnServer> PresenceStore for S {
    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError> {
        self.pool().conn().await?.execute(sql::presence::set_last_seen(user, at)).await.map(drop)
    }

    async fn save_online(&self, users: &[UserId], stopped_at: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        tx.execute(sql::presence::forget_online()).await?;
        for chunk in users.chunks(1000) {
            let ignore = <<S::P as Pool>::Conn as Exec>::INSERT_IGNORE;
            tx.execute(sql::presence::remember_online(chunk, stopped_at, ignore)).await?;
        }
        S::P::commit(tx).await
    }

    async fn take_online(&self, now: Timestamp) -> Result<CarriedOver, StoreError> {
        let mut tx = self.pool().begin().await?;
        let online = tx.fetch_all(sql::presence::carried_over()).await?;
        let sessions = tx.fetch_all(sql::presence::carried_sessions(now)).await?;
        tx.execute(sql::presence::forget_online()).await?;
        S::P::commit(tx).await?;
        rows::carried(&online, &sessions).map_err(map_err)
    }
}

#[async_trait]
impl<S: OnServer> RoomStore for S {
    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::rooms::by_id(id)).await?, rows::room)
    }

    async fn room_by_name(&self, folded: &str) -> Result<Option<Room>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::rooms::by_name(folded)).await?, rows::room)
    }

    async fn create_room(&self, new: NewRoom) -> Result<Room, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id = RoomId(tx.insert(sql::rooms::insert(&new)).await?);
        for (user, role) in sql::members::first_members(Some(new.created_by), &new.members) {
            tx.execute(sql::members::insert(id, user, role, new.at, sql::members::INSERT)).await?;
        }
        S::P::commit(tx).await?;
        Ok(Room {
            id,
            name: new.name,
            room_type: new.room_type,
            created_by: Some(new.created_by),
            created_at: new.at,
            topic: new.topic.as_str().to_owned(),
            archived: false,
        })
    }

    async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::rooms::visible_to(user)).await?, rows::room)
    }

    async fn rooms_for(&self, user: UserId, archived: bool) -> Result<Vec<RoomListing>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::rooms::listing(user, archived)).await?, rows::listing)
    }

    async fn direct_room(
        &self,
        key: &str,
        label: &str,
        members: &[UserId],
        at: Timestamp,
    ) -> Result<(Room, bool), StoreError> {
        let found = |room: Option<Room>| {
            room.map(|r| (r, false)).ok_or_else(|| StoreError::Other("a direct room vanished while it was made".into()))
        };
        if let Some(room) = self.direct_room_by_key(key).await? {
            return Ok((room, false));
        }
        let mut tx = self.pool().begin().await?;
        let id = match tx.insert(sql::rooms::insert_direct(key, label, at)).await {
            Ok(id) => RoomId(id),
            // Made meanwhile by another request (on this instance or another).
            Err(StoreError::RoomNameTaken) => {
                drop(tx);
                return found(self.direct_room_by_key(key).await?);
            }
            Err(e) => return Err(e),
        };
        for (user, role) in sql::members::first_members(None, members) {
            tx.execute(sql::members::insert(id, user, role, at, sql::members::INSERT)).await?;
        }
        let room = one(tx.fetch_optional(sql::rooms::by_id(id)).await?, rows::room)?;
        S::P::commit(tx).await?;
        Ok((room.ok_or_else(|| StoreError::Other("a direct room was not stored".into()))?, true))
    }

    async fn update_room(&self, id: RoomId, changes: RoomChanges) -> Result<Option<Room>, StoreError> {
        let mut c = self.pool().conn().await?;
        if let Some(s) = sql::rooms::update(id, &changes) {
            c.execute(s).await?;
        }
        one(c.fetch_optional(sql::rooms::by_id(id)).await?, rows::room)
    }
}

/// Helpers of the shared implementations.
trait Lookups {
    fn direct_room_by_key(&self, key: &str) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send;
}

impl<S: OnServer> Lookups for S {
    async fn direct_room_by_key(&self, key: &str) -> Result<Option<Room>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::rooms::by_direct_key(key)).await?, rows::room)
    }
}

#[async_trait]
impl<S: OnServer> MemberStore for S {
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.pool().conn().await?.fetch_optional(sql::members::is_member(room, user)).await?.is_some())
    }

    async fn membership(&self, room: RoomId, user: UserId) -> Result<Option<Membership>, StoreError> {
        one(self.pool().conn().await?.fetch_optional(sql::members::membership(room, user)).await?, rows::membership)
    }

    async fn member_rooms(&self, user: UserId) -> Result<Vec<(RoomId, MemberRole)>, StoreError> {
        let found = all(&self.pool().conn().await?.fetch_all(sql::members::rooms_of(user)).await?, rows::membership)?;
        Ok(found.into_iter().map(|m| (m.room_id, m.role)).collect())
    }

    async fn members(&self, room: RoomId) -> Result<Vec<MemberEntry>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::members::entries(room)).await?, rows::member_entry)
    }

    async fn members_of_rooms(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, User)>, StoreError> {
        let Some(s) = sql::members::of_rooms(rooms) else { return Ok(Vec::new()) };
        all(&self.pool().conn().await?.fetch_all(s).await?, |r| Ok((RoomId(r.int("member_room")?), rows::user(r)?)))
    }

    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::members::ids(room)).await?, |r| r.int("n").map(UserId))
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: &[UserId],
        role: MemberRole,
        at: Timestamp,
    ) -> Result<Vec<UserId>, StoreError> {
        let ignore = <<S::P as Pool>::Conn as Exec>::INSERT_IGNORE;
        let mut tx = self.pool().begin().await?;
        let mut added = Vec::new();
        for &user in users {
            if tx.execute(sql::members::insert(room, user, role, at, ignore)).await? > 0 {
                added.push(user);
            }
        }
        S::P::commit(tx).await?;
        Ok(added)
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.pool().conn().await?.execute(sql::members::remove(room, user)).await? > 0)
    }

    async fn set_member_role(&self, room: RoomId, user: UserId, role: MemberRole) -> Result<bool, StoreError> {
        // MariaDB counts the rows matched (sqlx asks for FOUND_ROWS), as PostgreSQL does.
        Ok(self.pool().conn().await?.execute(sql::members::set_role(room, user, role)).await? > 0)
    }

    async fn count_members(&self, room: RoomId) -> Result<u64, StoreError> {
        count(&mut *self.pool().conn().await?, sql::members::count(room)).await
    }

    async fn count_rooms_of(&self, user: UserId) -> Result<u64, StoreError> {
        count(&mut *self.pool().conn().await?, sql::members::count_rooms_of(user)).await
    }
}

#[async_trait]
impl<S: OnServer> MessageStore for S {
    async fn insert_message(&self, m: NewMessage) -> Result<(Message, super::Inserted), StoreError> {
        self.ingest().insert(m).await
    }

    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        let (s, newest_first) = sql::messages::page(room, page);
        let messages = all(&self.pool().conn().await?.fetch_all(s).await?, rows::message)?;
        Ok(rows::oldest_first(messages, newest_first))
    }
}

#[async_trait]
impl<S: OnServer> SettingsStore for S {
    async fn settings(&self) -> Result<ServerSettings, StoreError> {
        let found = all(&self.pool().conn().await?.fetch_all(sql::settings::all()).await?, |r| {
            Ok((r.text("name")?, r.text("value")?))
        })?;
        Ok(sql::settings::from_rows(found))
    }

    async fn put_settings(&self, settings: &ServerSettings) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for s in sql::settings::put(settings) {
            tx.execute(s).await?;
        }
        S::P::commit(tx).await
    }
}

#[async_trait]
impl<S: OnServer> InviteStore for S {
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite, StoreError> {
        let id = self.pool().conn().await?.insert(sql::invites::insert(&invite)).await?;
        Ok(invite.stored_as(id))
    }

    async fn live_invites(&self, now: Timestamp) -> Result<Vec<Invite>, StoreError> {
        all(&self.pool().conn().await?.fetch_all(sql::invites::live_list(now)).await?, rows::invite)
    }

    async fn count_live_invites(&self, now: Timestamp) -> Result<u64, StoreError> {
        count(&mut *self.pool().conn().await?, sql::invites::count_live(now)).await
    }

    async fn revoke_invite(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.pool().conn().await?.execute(sql::invites::revoke(id, now)).await? > 0)
    }

    async fn use_invite(&self, code_hash: &[u8], now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.pool().conn().await?.execute(sql::invites::use_one(code_hash, now)).await? > 0)
    }
}
