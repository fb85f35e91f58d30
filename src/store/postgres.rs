//! PostgreSQL.
//!
//! Messages are group-committed (`group_commit`): the sends that queue up
//! while the writers are busy go into one transaction per writer, with one
//! multi-row insert. A transaction locks its rooms' rows first
//! (`SELECT … FOR UPDATE`, in room id order), so within a room ids are handed
//! out in commit order even with several Parley instances writing: a reader
//! that has seen id N and asks `after=N` can never miss a message that commits
//! later with a smaller id. Batches of different rooms do not wait on each other.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::{ConnectOptions, Connection, Row};

use super::group_commit::{BatchPlan, CommitBatch, GroupCommit, HeldConnections, rooms_in_lock_order};
use super::rows::{self, message_columns, room_columns, user_columns};
use super::{CarriedOver, Inserted, NewSession, Page, SessionUser, Store, StoreError, map_err};
use crate::domain::{ClientId, Message, MessageId, NewMessage, NewUser, Room, RoomId, RoomName, RoomType, Timestamp, User, UserId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// Sends waiting for a group-commit writer.
    ingest: GroupCommit,
    /// The writers' connections, given back to the pool at close.
    held: Arc<HeldConnections<Postgres>>,
}

/// How many sends one transaction takes at most, and how many transactions
/// commit at once (each on a connection of its own; the rest of the pool
/// serves reads, logins and presence).
const MAX_BATCH: usize = 256;
const WRITERS: usize = 4;

impl PgStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("parley")
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        fill_room_keys(&pool).await?;
        let held = Arc::new(HeldConnections::new(pool.clone()));
        let writer = Writer { held: held.clone() };
        let ingest = GroupCommit::start(Arc::new(writer), WRITERS, MAX_BATCH);
        Ok(Self { pool, ingest, held })
    }
}

/// Gives the rooms made before migration 0003 their `name_key`
/// ([`super::keys_for_unkeyed_rooms`]); nothing to do after the first start.
/// Instances starting together write the same keys (`AND name_key IS NULL`
/// makes the second a no-op); a look-alike room made by a running instance
/// in between sends the old room to its fallback key.
async fn fill_room_keys(pool: &PgPool) -> Result<(), StoreError> {
    let unkeyed: Vec<(i64, String)> = sqlx::query_as("SELECT id, room_name FROM rooms WHERE name_key IS NULL ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    if unkeyed.is_empty() {
        return Ok(());
    }
    let taken: Vec<String> =
        sqlx::query_scalar("SELECT name_key FROM rooms WHERE name_key IS NOT NULL").fetch_all(pool).await.map_err(map_err)?;
    for (id, key) in super::keys_for_unkeyed_rooms(taken, unkeyed) {
        let set = |key: String| {
            sqlx::query("UPDATE rooms SET name_key = $1 WHERE id = $2 AND name_key IS NULL").bind(key).bind(id).execute(pool)
        };
        match set(key.clone()).await.map_err(map_err) {
            Err(StoreError::RoomNameTaken) => set(super::fallback_room_key(&key, id)).await.map_err(map_err)?,
            other => other?,
        };
    }
    Ok(())
}

/// Stores batches of sends, one transaction each.
struct Writer {
    held: Arc<HeldConnections<Postgres>>,
}

#[async_trait]
impl CommitBatch for Writer {
    async fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
        let mut conn = self.held.take().await?;
        match insert_batch(&mut conn, batch).await {
            Ok(answers) => {
                self.held.give_back(conn);
                Ok(answers)
            }
            // Once more on its own, through the pool: the held connection may
            // have died with a database restart.
            Err(e) if batch.len() == 1 => {
                tracing::debug!(error = %e, "send failed on a writer's connection; once more through the pool");
                drop(conn);
                Ok(vec![insert_one(self.held.pool(), batch[0].clone()).await?])
            }
            Err(e) => Err(e),
        }
    }
}

/// One transaction, four round trips: begin; lock the batch's rooms (in id
/// order) and take ids for its messages from the sequence, in one statement
/// whose lock subquery is a one-time filter (so the ids are taken after the
/// locks, and a room's ids follow commit order); insert them all, skipping
/// those whose `client_id` was already used; commit. Only when some were
/// skipped does a fifth query fetch the messages stored before.
async fn insert_batch(conn: &mut PgConnection, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let plan = BatchPlan::new(batch, Vec::new());
    let fresh: Vec<&NewMessage> = plan.fresh.iter().map(|&i| &batch[i]).collect();
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $2) \
         WHERE (SELECT count(*) FROM (SELECT id FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE) locked) >= 0",
    )
    .bind(rooms_in_lock_order(batch))
    .bind(fresh.len() as i64)
    .fetch_all(&mut *tx)
    .await
    .map_err(map_err)?;
    ids.sort_unstable();
    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO messages (id, room_id, user_id, message, message_type, client_id, created_at) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
         ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(fresh.iter().map(|m| m.room_id.0).collect::<Vec<_>>())
    .bind(fresh.iter().map(|m| m.author.id.0).collect::<Vec<_>>())
    .bind(fresh.iter().map(|m| m.body.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|m| m.message_type.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|m| m.client_id.as_ref().map(ClientId::as_str)).collect::<Vec<_>>())
    .bind(fresh.iter().map(|m| m.created_at.as_millis()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await
    .map_err(map_err)?;
    if inserted.len() == ids.len() {
        tx.commit().await.map_err(map_err)?;
        let ids: Vec<MessageId> = ids.into_iter().map(MessageId).collect();
        return Ok(plan.answer(batch, &ids));
    }
    // Some were sent before (retries): answer those with the stored message.
    let inserted: std::collections::HashSet<i64> = inserted.into_iter().collect();
    let (users, client_ids): (Vec<i64>, Vec<&str>) = fresh
        .iter()
        .zip(&ids)
        .filter(|(_, id)| !inserted.contains(id))
        .filter_map(|(m, _)| Some((m.author.id.0, m.client_id.as_ref()?.as_str())))
        .unzip();
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.user_id \
         WHERE (m.user_id, m.client_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))"
    );
    let mut stored = Vec::new();
    for row in sqlx::query(sql).bind(&users).bind(&client_ids).fetch_all(&mut *tx).await.map_err(map_err)? {
        stored.push(rows::message(&row).map_err(map_err)?);
    }
    tx.commit().await.map_err(map_err)?;
    let plan = BatchPlan::new(batch, stored);
    let ids: Vec<MessageId> = ids.into_iter().filter(|id| inserted.contains(id)).map(MessageId).collect();
    if plan.fresh.len() != ids.len() {
        return Err(StoreError::Other("a batch's skipped sends did not match the messages stored before".into()));
    }
    Ok(plan.answer(batch, &ids))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.held.close().await;
    }

    async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        let row = sqlx::query(
            "INSERT INTO users (username, username_folded, email, email_folded, display_name, password_hash, \
             avatar_color, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(u.username.as_str())
        .bind(u.username.folded())
        .bind(u.email.as_str())
        .bind(u.email.folded())
        .bind(u.display_name.as_str())
        .bind(&u.password_hash)
        .bind(u.avatar_color.as_str())
        .bind(u.created_at.as_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(User {
            id: UserId(row.try_get("id").map_err(map_err)?),
            username: u.username,
            email: u.email.as_str().to_owned(),
            display_name: u.display_name,
            avatar_color: u.avatar_color,
            password_hash: u.password_hash,
            created_at: u.created_at,
            last_seen: None,
        })
    }

    async fn user_by_username(&self, folded: &str) -> Result<Option<User>, StoreError> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.username_folded = $1");
        let row = sqlx::query(sql).bind(folded).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn user_by_email(&self, folded: &str) -> Result<Option<User>, StoreError> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.email_folded = $1");
        let row = sqlx::query(sql).bind(folded).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen = $1 WHERE id = $2")
            .bind(at.as_millis())
            .bind(user.0)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn save_online(&self, users: &[UserId], stopped_at: Timestamp) -> Result<(), StoreError> {
        let ids: Vec<i64> = users.iter().map(|u| u.0).collect();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("DELETE FROM presence_carryover").execute(&mut *tx).await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO presence_carryover (user_id, stopped_at) SELECT u, $2 FROM unnest($1::bigint[]) AS u \
             ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(stopped_at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn take_online(&self, now: Timestamp) -> Result<CarriedOver, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let online = sqlx::query(rows::CARRIED_OVER).fetch_all(&mut *tx).await.map_err(map_err)?;
        let sessions = sqlx::query(rows::carried_sessions!("$1"))
            .bind(now.as_millis())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM presence_carryover").execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        rows::carried(&online, &sessions).map_err(map_err)
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&s.token_hash)
            .bind(s.user_id.0)
            .bind(s.created_at.as_millis())
            .bind(s.expires_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<Option<SessionUser>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            ", s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        let row = sqlx::query(sql)
            .bind(token_hash)
            .bind(now.as_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::session_user).transpose().map_err(map_err)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<Room>, StoreError> {
        let sql = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE r.room_type = 'public' \
             OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $1) ORDER BY r.id"
        );
        let found = sqlx::query(sql).bind(user.0).fetch_all(&self.pool).await.map_err(map_err)?;
        found.iter().map(rows::room).collect::<Result<_, _>>().map_err(map_err)
    }

    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        let sql = concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.id = $1");
        let row = sqlx::query(sql).bind(id.0).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(rows::room).transpose().map_err(map_err)
    }

    async fn create_room(
        &self,
        name: &RoomName,
        room_type: RoomType,
        created_by: UserId,
        at: Timestamp,
    ) -> Result<Room, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = sqlx::query(
            "INSERT INTO rooms (room_name, room_name_folded, name_key, room_type, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name.as_str())
        .bind(name.folded())
        .bind(name.key())
        .bind(room_type.as_str())
        .bind(created_by.0)
        .bind(at.as_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        let id = RoomId(row.try_get("id").map_err(map_err)?);
        sqlx::query("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)")
            .bind(id.0)
            .bind(created_by.0)
            .bind(at.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Room { id, name: name.clone(), room_type, created_by: Some(created_by), created_at: at })
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2")
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn insert_message(&self, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
        self.ingest.insert(m).await
    }

    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        macro_rules! page {
            ($tail:literal) => {
                concat!("SELECT ", message_columns!(), " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = $1", $tail)
            };
        }
        let (sql, cursor, limit, newest_first) = match page {
            Page::Latest { limit } => (page!(" ORDER BY m.id DESC LIMIT $2"), None, limit, true),
            Page::Before { id, limit } => (page!(" AND m.id < $2 ORDER BY m.id DESC LIMIT $3"), Some(id), limit, true),
            Page::After { id, limit } => (page!(" AND m.id > $2 ORDER BY m.id ASC LIMIT $3"), Some(id), limit, false),
        };
        let mut query = sqlx::query(sql).bind(room.0);
        if let Some(id) = cursor {
            query = query.bind(id.0);
        }
        let found = query.bind(i64::from(limit)).fetch_all(&self.pool).await.map_err(map_err)?;
        let messages = found.iter().map(rows::message).collect::<Result<Vec<_>, _>>().map_err(map_err)?;
        Ok(rows::oldest_first(messages, newest_first))
    }
}

/// A send on its own, in its own transaction; a `client_id` already used finds the first message.
async fn insert_one(pool: &PgPool, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Serialise this room's inserts until commit: ids in commit order.
    sqlx::query("SELECT id FROM rooms WHERE id = $1 FOR UPDATE")
        .bind(m.room_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let row = sqlx::query(
        "INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING id",
    )
    .bind(m.room_id.0)
    .bind(m.author.id.0)
    .bind(m.body.as_str())
    .bind(m.message_type.as_str())
    .bind(m.client_id.as_ref().map(ClientId::as_str))
    .bind(m.created_at.as_millis())
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    if let Some(row) = row {
        let id = MessageId(row.try_get("id").map_err(map_err)?);
        tx.commit().await.map_err(map_err)?;
        let message = m.stored_as(id);
        return Ok((message, Inserted::New));
    }
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.user_id = $1 AND m.client_id = $2"
    );
    let row = sqlx::query(sql)
        .bind(m.author.id.0)
        .bind(m.client_id.as_ref().map(ClientId::as_str))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok((rows::message(&row).map_err(map_err)?, Inserted::Existing))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::PgStore;
    use crate::store::Store;
    use crate::store::testdb::{self, Backend};

    /// A store on a database of its own, or `None` (skip) without `PARLEY_TEST_POSTGRES_URL`.
    async fn open() -> Option<(Arc<dyn Store>, testdb::TestDb)> {
        let db = testdb::TestDb::create(Backend::Postgres).await?;
        Some((Arc::new(PgStore::open(&db.url).await.expect("store opens")), db))
    }

    crate::contract_tests!(open);

    /// Rooms made before migration 0003 get their keys at the next start.
    #[tokio::test]
    async fn rooms_made_before_the_name_key_get_their_keys_at_the_next_start() {
        use crate::store::contract;

        let Some(db) = testdb::TestDb::create(Backend::Postgres).await else {
            eprintln!("skipped: no test database server configured");
            return;
        };
        let store = PgStore::open(&db.url).await.expect("store opens");
        store.create_user(contract::new_user("ann")).await.unwrap();
        store.close().await;
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        for sql in contract::UNKEY_ROOMS_SQL {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = PgStore::open(&db.url).await.expect("store opens again");
        contract::rooms_from_before_the_name_key_were_keyed_at_the_start(&store).await;
        store.close().await;
    }
}
