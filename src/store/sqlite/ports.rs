//! The ports on SQLite: reads run the shared statements ([`crate::store::sql`])
//! on the reader pool; every write runs them on the writer thread.

use async_trait::async_trait;
use rusqlite::TransactionBehavior;

use super::SqliteStore;
use crate::domain::{
    AvatarColor, DisplayName, Invite, MemberEntry, MemberRole, Membership, Message, NewInvite, NewMessage, NewRoom,
    NewUser, Page, Role, Room, RoomChanges, RoomId, RoomListing, ServerSettings, Timestamp, User, UserId,
};
use crate::store::ports::*;
use crate::store::rows::{self, ParleyRow as _};
use crate::store::sql::{self, Exec, Pool, Stmt, all, count, one};
use crate::store::{StoreError, map_err};

/// What SQLite writes to skip a row whose key exists.
const INSERT_IGNORE: (&str, &str) = <sqlx::SqliteConnection as Exec>::INSERT_IGNORE;

type Lite<T> = rusqlite::Result<T>;

/// The first row `s` finds on the writer's connection, mapped.
fn lite_one<T>(conn: &rusqlite::Connection, s: Stmt, map: impl Fn(&sql::LiteRow<'_, '_>) -> Lite<T>) -> Lite<Option<T>> {
    Ok(s.lite_query(conn, map)?.into_iter().next())
}

impl SqliteStore {
    async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        self.reader.conn().await
    }

    /// Runs `write` and then reads the user back, on the writer's connection.
    async fn write_user(
        &self,
        id: UserId,
        write: impl FnOnce(&rusqlite::Connection) -> Lite<()> + Send + 'static,
    ) -> Result<Option<User>, StoreError> {
        self.writer
            .run(move |conn| {
                write(conn)?;
                lite_one(conn, sql::users::by_id(id), |r| rows::user(r))
            })
            .await
    }
}

#[async_trait]
impl Database for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read().await?.execute(Stmt::new("SELECT 1")).await.map(drop)
    }

    /// The readers close first: the last connection to close copies the WAL
    /// into the database and removes it, and a read-only reader cannot, which
    /// left up to 40 MB of WAL for the next start to read.
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn backup(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Other(format!("{} already exists", path.display())));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Other("the backup path is not UTF-8".into()))?.to_owned();
        // VACUUM INTO copies a consistent snapshot while the readers keep working.
        self.writer.run(move |conn| conn.execute("VACUUM INTO ?", [target])).await?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        // The new user goes to the writer's thread and comes back with its id and role.
        self.writer
            .run(move |conn| {
                let id = UserId(sql::users::insert(&u).lite_insert(conn)?);
                let role = lite_one(conn, sql::users::role_of(id), |r| r.text("role"))?;
                Ok(User {
                    id,
                    username: u.username,
                    email: u.email.as_str().to_owned(),
                    display_name: u.display_name,
                    avatar_color: u.avatar_color,
                    password_hash: u.password_hash,
                    created_at: u.created_at,
                    last_seen: None,
                    role: role.map_or(Role::Member, |r| Role::from_db(&r)),
                    deactivated: false,
                })
            })
            .await
    }

    async fn user_by_username(&self, folded: &str) -> Result<Option<User>, StoreError> {
        one(self.read().await?.fetch_optional(sql::users::by_username(folded)).await?, rows::user)
    }

    async fn user_by_email(&self, folded: &str) -> Result<Option<User>, StoreError> {
        one(self.read().await?.fetch_optional(sql::users::by_email(folded)).await?, rows::user)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        one(self.read().await?.fetch_optional(sql::users::by_id(id)).await?, rows::user)
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let Some(s) = sql::users::by_ids(ids) else { return Ok(Vec::new()) };
        all(&self.read().await?.fetch_all(s).await?, rows::user)
    }

    async fn search_users(&self, q: Option<&str>, limit: u32, include_deactivated: bool) -> Result<Vec<User>, StoreError> {
        all(&self.read().await?.fetch_all(sql::users::search(q, limit, include_deactivated)).await?, rows::user)
    }

    async fn update_profile(
        &self,
        id: UserId,
        display_name: Option<DisplayName>,
        avatar_color: Option<AvatarColor>,
    ) -> Result<Option<User>, StoreError> {
        let update = sql::users::update_profile(id, display_name.as_ref(), avatar_color.as_ref());
        self.write_user(id, move |conn| update.map_or(Ok(()), |s| s.lite_execute(conn).map(drop))).await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        let s = sql::users::set_password_hash(id, hash);
        self.writer.run(move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, StoreError> {
        let s = sql::users::set_role(id, role);
        self.write_user(id, move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn set_deactivated(&self, id: UserId, at: Option<Timestamp>) -> Result<Option<User>, StoreError> {
        let s = sql::users::set_deactivated(id, at);
        self.write_user(id, move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        count(&mut *self.read().await?, sql::users::count_active_admins()).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        let s = sql::sessions::insert(&s);
        self.writer.run(move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<Option<SessionUser>, StoreError> {
        one(self.read().await?.fetch_optional(sql::sessions::user_of(token_hash, now)).await?, rows::session_user)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let s = sql::sessions::delete(token_hash);
        self.writer.run(move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn delete_sessions_of(&self, user: UserId, except: Option<&[u8]>) -> Result<Vec<Vec<u8>>, StoreError> {
        let find = sql::sessions::hashes_of(user, except);
        self.writer
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let hashes = find.lite_query(&tx, |r| r.bytes("token_hash"))?;
                if let Some(delete) = sql::sessions::delete_hashes(user, &hashes) {
                    delete.lite_execute(&tx)?;
                }
                tx.commit()?;
                Ok(hashes)
            })
            .await
    }
}

#[async_trait]
impl PresenceStore for SqliteStore {
    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError> {
        let s = sql::presence::set_last_seen(user, at);
        self.writer.run_small(move |conn| s.lite_execute(conn).map(drop)).await
    }

    async fn save_online(&self, users: &[UserId], stopped_at: Timestamp) -> Result<(), StoreError> {
        let users = users.to_vec();
        self.writer
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                sql::presence::forget_online().lite_execute(&tx)?;
                for chunk in users.chunks(1000) {
                    sql::presence::remember_online(chunk, stopped_at, INSERT_IGNORE).lite_execute(&tx)?;
                }
                tx.commit()
            })
            .await
    }

    async fn take_online(&self, now: Timestamp) -> Result<CarriedOver, StoreError> {
        let mut c = self.read().await?;
        let online = c.fetch_all(sql::presence::carried_over()).await?;
        if online.is_empty() {
            return Ok(CarriedOver::default());
        }
        let sessions = c.fetch_all(sql::presence::carried_sessions(now)).await?;
        drop(c);
        let carried = rows::carried(&online, &sessions).map_err(map_err)?;
        self.writer.run(|conn| sql::presence::forget_online().lite_execute(conn)).await?;
        Ok(carried)
    }
}

#[async_trait]
impl RoomStore for SqliteStore {
    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        one(self.read().await?.fetch_optional(sql::rooms::by_id(id)).await?, rows::room)
    }

    async fn room_by_name(&self, folded: &str) -> Result<Option<Room>, StoreError> {
        one(self.read().await?.fetch_optional(sql::rooms::by_name(folded)).await?, rows::room)
    }

    async fn create_room(&self, new: NewRoom) -> Result<Room, StoreError> {
        self.writer
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let id = RoomId(sql::rooms::insert(&new).lite_insert(&tx)?);
                for (user, role) in sql::members::first_members(Some(new.created_by), &new.members) {
                    sql::members::insert(id, user, role, new.at, sql::members::INSERT).lite_execute(&tx)?;
                }
                tx.commit()?;
                Ok(Room {
                    id,
                    name: new.name,
                    room_type: new.room_type,
                    created_by: Some(new.created_by),
                    created_at: new.at,
                    topic: new.topic.as_str().to_owned(),
                    archived: false,
                })
            })
            .await
    }

    async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        all(&self.read().await?.fetch_all(sql::rooms::visible_to(user)).await?, rows::room)
    }

    async fn rooms_for(&self, user: UserId, archived: bool) -> Result<Vec<RoomListing>, StoreError> {
        all(&self.read().await?.fetch_all(sql::rooms::listing(user, archived)).await?, rows::listing)
    }

    /// The writer is the only one that writes: the look-up and the insert
    /// cannot be interleaved with another request's.
    async fn direct_room(
        &self,
        key: &str,
        label: &str,
        members: &[UserId],
        at: Timestamp,
    ) -> Result<(Room, bool), StoreError> {
        let (key, label, members) = (key.to_owned(), label.to_owned(), members.to_vec());
        let made = self
            .writer
            .run(move |conn| {
                if let Some(room) = lite_one(conn, sql::rooms::by_direct_key(&key), |r| rows::room(r))? {
                    return Ok(Some((room, false)));
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let id = RoomId(sql::rooms::insert_direct(&key, &label, at).lite_insert(&tx)?);
                for (user, role) in sql::members::first_members(None, &members) {
                    sql::members::insert(id, user, role, at, sql::members::INSERT).lite_execute(&tx)?;
                }
                let room = lite_one(&tx, sql::rooms::by_id(id), |r| rows::room(r))?;
                tx.commit()?;
                Ok(room.map(|r| (r, true)))
            })
            .await?;
        made.ok_or_else(|| StoreError::Other("a direct room was not stored".into()))
    }

    async fn update_room(&self, id: RoomId, changes: RoomChanges) -> Result<Option<Room>, StoreError> {
        let update = sql::rooms::update(id, &changes);
        self.writer
            .run(move |conn| {
                if let Some(s) = update {
                    s.lite_execute(conn)?;
                }
                lite_one(conn, sql::rooms::by_id(id), |r| rows::room(r))
            })
            .await
    }
}

#[async_trait]
impl MemberStore for SqliteStore {
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.read().await?.fetch_optional(sql::members::is_member(room, user)).await?.is_some())
    }

    async fn membership(&self, room: RoomId, user: UserId) -> Result<Option<Membership>, StoreError> {
        one(self.read().await?.fetch_optional(sql::members::membership(room, user)).await?, rows::membership)
    }

    async fn member_rooms(&self, user: UserId) -> Result<Vec<(RoomId, MemberRole)>, StoreError> {
        let found = all(&self.read().await?.fetch_all(sql::members::rooms_of(user)).await?, rows::membership)?;
        Ok(found.into_iter().map(|m| (m.room_id, m.role)).collect())
    }

    async fn members(&self, room: RoomId) -> Result<Vec<MemberEntry>, StoreError> {
        all(&self.read().await?.fetch_all(sql::members::entries(room)).await?, rows::member_entry)
    }

    async fn members_of_rooms(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, User)>, StoreError> {
        let Some(s) = sql::members::of_rooms(rooms) else { return Ok(Vec::new()) };
        all(&self.read().await?.fetch_all(s).await?, |r| Ok((RoomId(r.int("member_room")?), rows::user(r)?)))
    }

    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        all(&self.read().await?.fetch_all(sql::members::ids(room)).await?, |r| r.int("n").map(UserId))
    }

    async fn add_members(
        &self,
        room: RoomId,
        users: &[UserId],
        role: MemberRole,
        at: Timestamp,
    ) -> Result<Vec<UserId>, StoreError> {
        let users = users.to_vec();
        self.writer
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut added = Vec::new();
                for user in users {
                    if sql::members::insert(room, user, role, at, INSERT_IGNORE).lite_execute(&tx)? > 0 {
                        added.push(user);
                    }
                }
                tx.commit()?;
                Ok(added)
            })
            .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let s = sql::members::remove(room, user);
        self.writer.run(move |conn| Ok(s.lite_execute(conn)? > 0)).await
    }

    async fn set_member_role(&self, room: RoomId, user: UserId, role: MemberRole) -> Result<bool, StoreError> {
        let s = sql::members::set_role(room, user, role);
        self.writer.run(move |conn| Ok(s.lite_execute(conn)? > 0)).await
    }

    async fn count_members(&self, room: RoomId) -> Result<u64, StoreError> {
        count(&mut *self.read().await?, sql::members::count(room)).await
    }

    async fn count_rooms_of(&self, user: UserId) -> Result<u64, StoreError> {
        count(&mut *self.read().await?, sql::members::count_rooms_of(user)).await
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
        self.writer.insert(m).await
    }

    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        self.page(room, page).await
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn settings(&self) -> Result<ServerSettings, StoreError> {
        let found =
            all(&self.read().await?.fetch_all(sql::settings::all()).await?, |r| Ok((r.text("name")?, r.text("value")?)))?;
        Ok(sql::settings::from_rows(found))
    }

    async fn put_settings(&self, settings: &ServerSettings) -> Result<(), StoreError> {
        let put = sql::settings::put(settings);
        self.writer
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for s in put {
                    s.lite_execute(&tx)?;
                }
                tx.commit()
            })
            .await
    }
}

#[async_trait]
impl InviteStore for SqliteStore {
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite, StoreError> {
        let s = sql::invites::insert(&invite);
        let id = self.writer.run(move |conn| s.lite_insert(conn)).await?;
        Ok(invite.stored_as(id))
    }

    async fn live_invites(&self, now: Timestamp) -> Result<Vec<Invite>, StoreError> {
        all(&self.read().await?.fetch_all(sql::invites::live_list(now)).await?, rows::invite)
    }

    async fn count_live_invites(&self, now: Timestamp) -> Result<u64, StoreError> {
        count(&mut *self.read().await?, sql::invites::count_live(now)).await
    }

    async fn revoke_invite(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let s = sql::invites::revoke(id, now);
        self.writer.run(move |conn| Ok(s.lite_execute(conn)? > 0)).await
    }

    async fn use_invite(&self, code_hash: &[u8], now: Timestamp) -> Result<bool, StoreError> {
        let s = sql::invites::use_one(code_hash, now);
        self.writer.run(move |conn| Ok(s.lite_execute(conn)? > 0)).await
    }
}
