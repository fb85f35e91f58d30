//! MySQL / MariaDB, the original application's database.
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
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, QueryBuilder};

use super::group_commit::{
    BatchPlan, CommitBatch, GroupCommit, HeldConnections, client_id_keys, find_by_client_ids, multi_row_insert, padded,
    power_of_two_chunks, rooms_in_lock_order,
};
use super::rows::{self, message_columns, room_columns, user_columns};
use super::{CarriedOver, Inserted, NewSession, Page, SessionUser, Store, StoreError, map_err};
use crate::domain::{ClientId, Message, MessageId, NewMessage, NewUser, Room, RoomId, RoomName, RoomType, Timestamp, User, UserId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

pub struct MySqlStore {
    pool: MySqlPool,
    /// Sends waiting for a group-commit writer.
    ingest: GroupCommit,
    /// The writers' connections, given back to the pool at close.
    held: Arc<HeldConnections<MySql>>,
}

/// How many sends one transaction takes at most, and how many transactions
/// commit at once (each on a connection of its own; the rest of the pool
/// serves reads, logins and presence).
const MAX_BATCH: usize = 256;
const WRITERS: usize = 4;

impl MySqlStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // `mariadb:` is accepted as a synonym; the driver speaks one protocol.
        let url = url.strip_prefix("mariadb:").map_or_else(|| url.to_owned(), |rest| format!("mysql:{rest}"));
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Other(format!("invalid MySQL URL: {e}")))?
            .charset("utf8mb4")
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        fill_room_keys(&pool).await?;
        // A multi-row INSERT gets consecutive ids only with the "traditional" or
        // "consecutive" auto-increment lock mode (MariaDB's default; MySQL 8's
        // is "interleaved") and an increment of 1 (not so under Galera).
        let (lock_mode, increment): (i64, i64) =
            sqlx::query_as("SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED), CAST(@@auto_increment_increment AS SIGNED)")
                .fetch_one(&pool)
                .await
                .map_err(map_err)?;
        let held = Arc::new(HeldConnections::new(pool.clone()));
        let writer = Writer { held: held.clone(), consecutive_ids: lock_mode < 2 && increment == 1 };
        let ingest = GroupCommit::start(Arc::new(writer), WRITERS, MAX_BATCH);
        Ok(Self { pool, ingest, held })
    }
}

/// Gives the rooms made before migration 0003 their `name_key`
/// ([`super::keys_for_unkeyed_rooms`]); nothing to do after the first start.
/// Instances starting together write the same keys (`AND name_key IS NULL`
/// makes the second a no-op); a look-alike room made by a running instance
/// in between sends the old room to its fallback key.
async fn fill_room_keys(pool: &MySqlPool) -> Result<(), StoreError> {
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
            sqlx::query("UPDATE rooms SET name_key = ? WHERE id = ? AND name_key IS NULL").bind(key).bind(id).execute(pool)
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
    held: Arc<HeldConnections<MySql>>,
    /// Whether one multi-row INSERT's ids are `LAST_INSERT_ID()` and the next ones.
    consecutive_ids: bool,
}

#[async_trait]
impl CommitBatch for Writer {
    async fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
        if let [one] = batch {
            return Ok(vec![insert_one(self.held.pool(), one.clone()).await?]);
        }
        let mut conn = self.held.take().await?;
        let result = self.insert_batch(&mut conn, batch).await;
        if result.is_ok() {
            self.held.give_back(conn);
        }
        result
    }
}

// Statement shapes: see `group_commit::padded`. On MySQL a new shape costs a
// prepare round trip, and an evicted one a `COM_STMT_CLOSE` written ahead of
// the next command, which then waits behind Nagle's algorithm (sqlx 0.9.0
// leaves TCP_NODELAY off): measured, 4× fewer acked sends per second over TCP.
impl Writer {
    /// One transaction: lock the batch's rooms (in id order), find the
    /// `client_id`s already used, insert the rest, commit. A unique violation
    /// (a retry racing its original elsewhere) fails the batch, which is then
    /// stored a message at a time.
    async fn insert_batch(&self, conn: &mut MySqlConnection, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
        let mut tx = conn.begin().await.map_err(map_err)?;
        let rooms = rooms_in_lock_order(batch);
        let mut lock = QueryBuilder::<MySql>::new("SELECT id FROM rooms WHERE id IN (");
        let mut list = lock.separated(", ");
        for room in padded(&rooms) {
            list.push_bind(room);
        }
        lock.push(") ORDER BY id FOR UPDATE");
        lock.build().fetch_all(&mut *tx).await.map_err(map_err)?;

        let keys = client_id_keys(batch);
        let mut stored = Vec::new();
        if !keys.is_empty() {
            for row in find_by_client_ids::<MySql>(&keys).build().fetch_all(&mut *tx).await.map_err(map_err)? {
                stored.push(rows::message(&row).map_err(map_err)?);
            }
        }

        let plan = BatchPlan::new(batch, stored);
        let fresh: Vec<&NewMessage> = plan.fresh.iter().map(|&i| &batch[i]).collect();
        let mut ids = Vec::with_capacity(fresh.len());
        if self.consecutive_ids {
            for chunk in power_of_two_chunks(&fresh) {
                let done = multi_row_insert::<MySql>(chunk).build().execute(&mut *tx).await.map_err(map_err)?;
                let first = done.last_insert_id() as i64;
                ids.extend((0..chunk.len() as i64).map(|n| MessageId(first + n)));
            }
        } else {
            for m in &fresh {
                let done = insert_statement(m).execute(&mut *tx).await.map_err(map_err)?;
                ids.push(MessageId(done.last_insert_id() as i64));
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(plan.answer(batch, &ids))
    }
}

fn insert_statement(m: &NewMessage) -> sqlx::query::Query<'_, MySql, sqlx::mysql::MySqlArguments> {
    sqlx::query(
        "INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(m.room_id.0)
    .bind(m.author.id.0)
    .bind(m.body.as_str())
    .bind(m.message_type.as_str())
    .bind(m.client_id.as_ref().map(ClientId::as_str))
    .bind(m.created_at.as_millis())
}

/// A send on its own: its own transaction, and a `client_id` already used
/// (also by a retry racing it through another connection) finds the first message.
async fn insert_one(pool: &MySqlPool, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
    if let Some(client_id) = &m.client_id
        && let Some(first) = by_client_id(pool, m.author.id, client_id).await?
    {
        return Ok((first, Inserted::Existing));
    }
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Serialise this room's inserts until commit: ids in commit order.
    sqlx::query("SELECT id FROM rooms WHERE id = ? FOR UPDATE")
        .bind(m.room_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let inserted = insert_statement(&m).execute(&mut *tx).await;
    let done = match (inserted, &m.client_id) {
        (Ok(done), _) => done,
        // The same send, retried at the same moment through another connection.
        (Err(sqlx::Error::Database(e)), Some(client_id)) if e.is_unique_violation() => {
            drop(tx);
            let first = by_client_id(pool, m.author.id, client_id).await?;
            return first.map(|f| (f, Inserted::Existing)).ok_or_else(|| StoreError::Other(e.to_string()));
        }
        (Err(e), _) => return Err(map_err(e)),
    };
    tx.commit().await.map_err(map_err)?;
    let message = m.stored_as(MessageId(done.last_insert_id() as i64));
    Ok((message, Inserted::New))
}

async fn by_client_id(pool: &MySqlPool, user: UserId, client_id: &ClientId) -> Result<Option<Message>, StoreError> {
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.user_id = ? AND m.client_id = ?"
    );
    let row = sqlx::query(sql)
        .bind(user.0)
        .bind(client_id.as_str())
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    row.as_ref().map(rows::message).transpose().map_err(map_err)
}

#[async_trait]
impl Store for MySqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.held.close().await;
    }

    async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (username, username_folded, email, email_folded, display_name, password_hash, \
             avatar_color, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(u.username.as_str())
        .bind(u.username.folded())
        .bind(u.email.as_str())
        .bind(u.email.folded())
        .bind(u.display_name.as_str())
        .bind(&u.password_hash)
        .bind(u.avatar_color.as_str())
        .bind(u.created_at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(User {
            id: UserId(done.last_insert_id() as i64),
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
        let sql = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.username_folded = ?");
        let row = sqlx::query(sql).bind(folded).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn user_by_email(&self, folded: &str) -> Result<Option<User>, StoreError> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.email_folded = ?");
        let row = sqlx::query(sql).bind(folded).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen = ? WHERE id = ?")
            .bind(at.as_millis())
            .bind(user.0)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn save_online(&self, users: &[UserId], stopped_at: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("DELETE FROM presence_carryover").execute(&mut *tx).await.map_err(map_err)?;
        for chunk in users.chunks(1000) {
            let mut insert = QueryBuilder::<MySql>::new("INSERT IGNORE INTO presence_carryover (user_id, stopped_at) ");
            insert.push_values(chunk, |mut row, user| {
                row.push_bind(user.0).push_bind(stopped_at.as_millis());
            });
            insert.build().execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn take_online(&self, now: Timestamp) -> Result<CarriedOver, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let online = sqlx::query(rows::CARRIED_OVER).fetch_all(&mut *tx).await.map_err(map_err)?;
        let sessions = sqlx::query(rows::carried_sessions!("?"))
            .bind(now.as_millis())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM presence_carryover").execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        rows::carried(&online, &sessions).map_err(map_err)
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
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
            ", s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?"
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
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
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
             OR EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = ?) ORDER BY r.id"
        );
        let found = sqlx::query(sql).bind(user.0).fetch_all(&self.pool).await.map_err(map_err)?;
        found.iter().map(rows::room).collect::<Result<_, _>>().map_err(map_err)
    }

    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        let sql = concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.id = ?");
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
        let done = sqlx::query(
            "INSERT INTO rooms (room_name, room_name_folded, name_key, room_type, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(name.as_str())
        .bind(name.folded())
        .bind(name.key())
        .bind(room_type.as_str())
        .bind(created_by.0)
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let id = RoomId(done.last_insert_id() as i64);
        sqlx::query("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES (?, ?, 'owner', ?)")
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
        let row = sqlx::query("SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?")
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
                concat!("SELECT ", message_columns!(), " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?", $tail)
            };
        }
        let (sql, cursor, limit, newest_first) = match page {
            Page::Latest { limit } => (page!(" ORDER BY m.id DESC LIMIT ?"), None, limit, true),
            Page::Before { id, limit } => (page!(" AND m.id < ? ORDER BY m.id DESC LIMIT ?"), Some(id), limit, true),
            Page::After { id, limit } => (page!(" AND m.id > ? ORDER BY m.id ASC LIMIT ?"), Some(id), limit, false),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MySqlStore;
    use crate::store::Store;
    use crate::store::testdb::{self, Backend};

    /// A store on a database of its own, or `None` (skip) without `PARLEY_TEST_MYSQL_URL`.
    async fn open() -> Option<(Arc<dyn Store>, testdb::TestDb)> {
        let db = testdb::TestDb::create(Backend::MySql).await?;
        Some((Arc::new(MySqlStore::open(&db.url).await.expect("store opens")), db))
    }

    crate::contract_tests!(open);

    /// Rooms made before migration 0003 get their keys at the next start.
    #[tokio::test]
    async fn rooms_made_before_the_name_key_get_their_keys_at_the_next_start() {
        use crate::store::contract;

        let Some(db) = testdb::TestDb::create(Backend::MySql).await else {
            eprintln!("skipped: no test database server configured");
            return;
        };
        let store = MySqlStore::open(&db.url).await.expect("store opens");
        store.create_user(contract::new_user("ann")).await.unwrap();
        store.close().await;
        let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
        for sql in contract::UNKEY_ROOMS_SQL {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = MySqlStore::open(&db.url).await.expect("store opens again");
        contract::rooms_from_before_the_name_key_were_keyed_at_the_start(&store).await;
        store.close().await;
    }
}
