//! The embedded default: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so concurrent sends queue
//! in Parley instead of failing with "database is locked"; reads use a separate
//! pool of several connections, which WAL lets run beside the writer. Every ack
//! follows a commit made with `synchronous=FULL`. Messages are group-committed:
//! the sends that queue up while one transaction commits go into the next.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::group_commit::{
    BatchPlan, CommitBatch, GroupCommit, client_id_keys, find_by_client_ids, multi_row_insert, power_of_two_chunks,
};
use super::rows::{self, message_columns, room_columns, user_columns};
use super::{Inserted, NewSession, Page, SessionUser, Store, StoreError, map_err};
use crate::domain::{
    AvatarColor, ClientId, DisplayName, Message, MessageBody, MessageId, MessageType, NewMessage, NewUser, Room, RoomId,
    RoomName, RoomType, Timestamp, User, UserId, UserSummary, Username,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Sends waiting for the group-commit writer.
    ingest: GroupCommit,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        MIGRATOR.run(&writer).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                // A file has no server that could have gone away; sqlx's check
                // is one more hand-off to the connection's thread per query.
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.read_only(true))
                .await
                .map_err(map_err)?
        };
        let ingest = GroupCommit::start(Arc::new(Writer(writer.clone())), 1, MAX_BATCH);
        Ok(Self { writer, reader, ingest })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn backup(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Other(format!("{} already exists", path.display())));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Other("the backup path is not UTF-8".into()))?;
        // VACUUM INTO copies a consistent snapshot while other connections keep working.
        sqlx::query("VACUUM INTO ?").bind(target).execute(&self.writer).await.map_err(map_err)?;
        Ok(())
    }

    async fn create_user(&self, u: NewUser) -> Result<User, StoreError> {
        let row = sqlx::query(
            "INSERT INTO users (username, username_folded, email, email_folded, display_name, password_hash, \
             avatar_color, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(u.username.as_str())
        .bind(u.username.folded())
        .bind(u.email.as_str())
        .bind(u.email.folded())
        .bind(u.display_name.as_str())
        .bind(&u.password_hash)
        .bind(u.avatar_color.as_str())
        .bind(u.created_at.as_millis())
        .fetch_one(&self.writer)
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
        let sql = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.username_folded = ?");
        let row = sqlx::query(sql).bind(folded).fetch_optional(&self.reader).await.map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen = ? WHERE id = ?")
            .bind(at.as_millis())
            .bind(user.0)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_session(&self, s: NewSession) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(&s.token_hash)
            .bind(s.user_id.0)
            .bind(s.created_at.as_millis())
            .bind(s.expires_at.as_millis())
            .execute(&self.writer)
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
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::session_user).transpose().map_err(map_err)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
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
        let rows = sqlx::query(sql).bind(user.0).fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(rows::room).collect::<Result<_, _>>().map_err(map_err)
    }

    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        let sql = concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.id = ?");
        let row = sqlx::query(sql).bind(id.0).fetch_optional(&self.reader).await.map_err(map_err)?;
        row.as_ref().map(rows::room).transpose().map_err(map_err)
    }

    async fn create_room(
        &self,
        name: &RoomName,
        room_type: RoomType,
        created_by: UserId,
        at: Timestamp,
    ) -> Result<Room, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let row = sqlx::query(
            "INSERT INTO rooms (room_name, room_name_folded, room_type, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name.as_str())
        .bind(name.folded())
        .bind(room_type.as_str())
        .bind(created_by.0)
        .bind(at.as_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        let id = RoomId(row.try_get("id").map_err(map_err)?);
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
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn insert_message(&self, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
        self.ingest.insert(m).await
    }

    /// The page comes back as one JSON array in one row, oldest first. sqlx
    /// hands each row from its SQLite thread to the caller through a channel
    /// and copies each value out of SQLite; for a page of 100 that cost more
    /// than the query (BENCHMARKS.md, "History").
    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        macro_rules! page {
            ($tail:literal) => {
                concat!(
                    "SELECT json_group_array(json_array(id, room_id, user_id, username, display_name, avatar_color, \
                     message, message_type, client_id, created_at) ORDER BY id) AS page FROM (SELECT ",
                    message_columns!(),
                    " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.room_id = ?",
                    $tail,
                    ")"
                )
            };
        }
        let (sql, cursor, limit) = match page {
            Page::Latest { limit } => (page!(" ORDER BY m.id DESC LIMIT ?"), None, limit),
            Page::Before { id, limit } => (page!(" AND m.id < ? ORDER BY m.id DESC LIMIT ?"), Some(id), limit),
            Page::After { id, limit } => (page!(" AND m.id > ? ORDER BY m.id ASC LIMIT ?"), Some(id), limit),
        };
        let mut query = sqlx::query(sql).bind(room.0);
        if let Some(id) = cursor {
            query = query.bind(id.0);
        }
        let row = query.bind(i64::from(limit)).fetch_one(&self.reader).await.map_err(map_err)?;
        let page: &str = row.try_get("page").map_err(map_err)?;
        let page: Vec<JsonMessage> =
            serde_json::from_str(page).map_err(|e| StoreError::Other(format!("a page of messages: {e}")))?;
        Ok(page.into_iter().map(JsonMessage::into_message).collect())
    }
}

/// One message of a page as `json_array` writes it, in `message_columns!` order.
#[derive(serde::Deserialize)]
struct JsonMessage(i64, i64, i64, String, String, String, String, String, Option<String>, i64);

impl JsonMessage {
    fn into_message(self) -> Message {
        let Self(id, room_id, user_id, username, display_name, avatar_color, body, message_type, client_id, created_at) =
            self;
        Message {
            id: MessageId(id),
            room_id: RoomId(room_id),
            author: UserSummary {
                id: UserId(user_id),
                username: Username::from_trusted(username),
                display_name: DisplayName::from_trusted(display_name),
                avatar_color: AvatarColor::from_trusted(avatar_color),
            },
            body: MessageBody::from_trusted(body),
            message_type: MessageType::from_db(&message_type),
            client_id: client_id.map(ClientId::from_trusted),
            created_at: Timestamp::from_millis(created_at),
        }
    }
}

/// Inserts one message inside the batch's transaction; a `client_id` this
/// user already used (in an earlier batch or earlier in this one) finds the
/// first message instead.
async fn insert_one(conn: &mut SqliteConnection, m: NewMessage) -> Result<(Message, Inserted), StoreError> {
    let row = sqlx::query(
        "INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING id",
    )
    .bind(m.room_id.0)
    .bind(m.author.id.0)
    .bind(m.body.as_str())
    .bind(m.message_type.as_str())
    .bind(m.client_id.as_ref().map(ClientId::as_str))
    .bind(m.created_at.as_millis())
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    if let Some(row) = row {
        let id = MessageId(row.try_get("id").map_err(map_err)?);
        let message = m.stored_as(id);
        return Ok((message, Inserted::New));
    }
    let sql = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.user_id = ? AND m.client_id = ?"
    );
    let row = sqlx::query(sql)
        .bind(m.author.id.0)
        .bind(m.client_id.as_ref().map(ClientId::as_str))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok((rows::message(&row).map_err(map_err)?, Inserted::Existing))
}


/// How many sends one transaction takes at most.
const MAX_BATCH: usize = 1024;

/// The one writer connection, storing a batch of sends in one transaction
/// (`synchronous=FULL`: one fsync for the whole batch).
struct Writer(SqlitePool);

#[async_trait]
impl CommitBatch for Writer {
    /// One transaction in a few statements, not one per send: every statement
    /// is a round trip to sqlx's connection thread, and with a statement per
    /// send that thread spent most of its time being woken and put to sleep.
    async fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
        if let [one] = batch {
            let mut tx = self.0.begin().await.map_err(map_err)?;
            let result = insert_one(&mut tx, one.clone()).await?;
            tx.commit().await.map_err(map_err)?;
            return Ok(vec![result]);
        }
        let mut tx = self.0.begin().await.map_err(map_err)?;
        let stored = already_stored(&mut tx, batch).await?;
        let plan = BatchPlan::new(batch, stored);
        let fresh: Vec<&NewMessage> = plan.fresh.iter().map(|&i| &batch[i]).collect();
        let mut ids = Vec::with_capacity(fresh.len());
        for chunk in power_of_two_chunks(&fresh) {
            let done = multi_row_insert::<Sqlite>(chunk).build().execute(&mut *tx).await.map_err(map_err)?;
            // AUTOINCREMENT numbers the rows of one INSERT consecutively, in
            // VALUES order, and this is the only writer.
            let count = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
            if done.rows_affected() != chunk.len() as u64 {
                return Err(StoreError::Other(format!("{} of {count} messages inserted", done.rows_affected())));
            }
            let first = done.last_insert_rowid() - count + 1;
            ids.extend((first..first + count).map(MessageId));
        }
        tx.commit().await.map_err(map_err)?;
        Ok(plan.answer(batch, &ids))
    }
}

/// The messages already stored under the batch's (author, `client_id`) pairs:
/// retries of sends that an earlier batch committed.
async fn already_stored(conn: &mut SqliteConnection, batch: &[NewMessage]) -> Result<Vec<Message>, StoreError> {
    let mut stored = Vec::new();
    // SQLite caps an expression's depth at 1,000, hence the chunks (a
    // row-value `IN (VALUES …)` would need none, but scans the table).
    for chunk in client_id_keys(batch).chunks(128) {
        for row in find_by_client_ids::<Sqlite>(chunk).build().fetch_all(&mut *conn).await.map_err(map_err)? {
            stored.push(rows::message(&row).map_err(map_err)?);
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SqliteStore;
    use crate::store::Store;

    async fn open() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("contract.db").display());
        Some((Arc::new(SqliteStore::open(&url).await.expect("store opens")), dir))
    }

    crate::contract_tests!(open);

    #[tokio::test]
    async fn a_backup_is_a_consistent_copy_that_opens_on_its_own() {
        let (store, dir) = open().await.unwrap();
        let user = store.create_user(crate::store::contract::new_user("ann")).await.unwrap();
        let copy = dir.path().join("copy.db");
        store.backup(&copy).await.unwrap();
        assert!(store.backup(&copy).await.is_err(), "an existing file is never overwritten");
        let restored = SqliteStore::open(&format!("sqlite:{}", copy.display())).await.unwrap();
        assert_eq!(restored.user_by_username("ann").await.unwrap().map(|u| u.id), Some(user.id));
    }

    #[tokio::test]
    async fn reopening_a_database_keeps_its_data_and_does_not_migrate_twice() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("twice.db").display());
        let first = SqliteStore::open(&url).await.unwrap();
        first.close().await;
        let second = SqliteStore::open(&url).await.unwrap();
        let rooms = second.rooms_visible_to(crate::domain::UserId(1)).await.unwrap();
        assert_eq!(rooms.len(), 3);
    }
}
