//! The embedded default: one SQLite file in WAL mode.
//!
//! Writes go through exactly one connection, owned by a thread of its own
//! ([`writer`]), so concurrent writes queue in Parley instead of failing with
//! "database is locked"; reads use a pool of several sqlx connections, which
//! WAL lets run beside the writer. Every ack follows a commit made with
//! `synchronous=FULL`. Messages are group-committed: the sends that queue up
//! while one transaction commits go into the next.

use std::str::FromStr;
use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};

use super::rows::{self, message_columns};
use super::{Inserted, Page, StoreError, map_err};
use crate::domain::{
    AvatarColor, ClientId, DisplayName, Message, MessageBody, MessageId, MessageType, NewMessage, RoomId, Timestamp,
    UserId, UserSummary, Username,
};
use writer::WriteThread;

mod ports;
mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: WriteThread,
    reader: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // The writer and the readers are separate connections, and each
            // would see a database of its own.
            return Err(StoreError::Other(
                "an in-memory SQLite database is not supported; name a file (sqlite:parley.db)".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        create_private(options.get_filename())?;
        let mut migrating = options.connect().await.map_err(map_err)?;
        MIGRATOR.run(&mut migrating).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        super::server::fill_room_keys(&mut migrating).await?;
        migrating.close().await.map_err(map_err)?;
        let writer = WriteThread::open(options.get_filename().to_owned()).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // A file has no server that could have gone away; sqlx's check
            // is one more hand-off to the connection's thread per query.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.read_only(true))
            .await
            .map_err(map_err)?;
        Ok(Self { writer, reader })
    }
}

impl SqliteStore {
    /// The page comes back as one JSON array in one row, oldest first. sqlx
    /// hands each row from its SQLite thread to the caller through a channel
    /// and copies each value out of SQLite; for a page of 100 that cost more
    /// than the query (BENCHMARKS.md, "History").
    pub(super) async fn page(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
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

/// Stores a batch of sends in one transaction (one fsync with
/// `synchronous=FULL`). A `client_id` its user already used, in an earlier
/// batch or earlier in this one, conflicts on the (user_id, client_id) index
/// and answers with the message stored first.
///
/// On this thread a statement costs microseconds, so each send is its own
/// prepared insert; sqlx's thread hand-offs were why they had to be
/// multi-row inserts before.
fn commit_batch(conn: &mut rusqlite::Connection, batch: &[NewMessage]) -> rusqlite::Result<Vec<(Message, Inserted)>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING id",
        )?;
        let mut find = tx.prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN users u ON u.id = m.user_id WHERE m.user_id = ? AND m.client_id = ?"
        ))?;
        for m in batch {
            let client_id = m.client_id.as_ref().map(ClientId::as_str);
            let id: Option<i64> = insert
                .query_row(
                    params![
                        m.room_id.0,
                        m.author.id.0,
                        m.body.as_str(),
                        m.message_type.as_str(),
                        client_id,
                        m.created_at.as_millis()
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let result = match id {
                Some(id) => (m.clone().stored_as(MessageId(id)), Inserted::New),
                None => {
                    let stored = find.query_row(params![m.author.id.0, client_id], |r| rows::message(&crate::store::sql::LiteRow(r)))?;
                    (stored, Inserted::Existing)
                }
            };
            results.push(result);
        }
    }
    tx.commit()?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SqliteStore;
    use crate::store::Store;
    #[allow(unused_imports)]
    use crate::store::ports::*;

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

    #[tokio::test]
    async fn small_writes_queued_together_share_a_transaction_and_one_that_fails_fails_alone() {
        use crate::domain::Timestamp;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&format!("sqlite:{}", dir.path().join("small.db").display())).await.unwrap());
        let mut users = Vec::new();
        for i in 0..40 {
            users.push(store.create_user(crate::store::contract::new_user(&format!("user{i}"))).await.unwrap());
        }
        // The failing writes first write this, which their rollback must undo.
        let bystander = store.create_user(crate::store::contract::new_user("bystander")).await.unwrap().id;
        let touch = move |c: &rusqlite::Connection| c.execute("UPDATE users SET last_seen = 5 WHERE id = ?", [bystander.0]);
        // Hold the writer, so that everything below queues behind it and is one group.
        let (held, hold) = std::sync::mpsc::channel::<()>();
        let writer_held = tokio::spawn({
            let store = store.clone();
            async move { store.writer.run(move |_| Ok(hold.recv().ok())).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut writes = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let (s, id) = (store.clone(), user.id);
            writes.push(tokio::spawn(async move { s.set_last_seen(id, Timestamp::from_millis(1_000 + i as i64)).await }));
            if i == 10 {
                let store = store.clone();
                writes.push(tokio::spawn(async move {
                    store.writer.run_small(move |c| c.execute_batch("INSERT INTO no_such_table VALUES (1)").and(touch(c).map(drop))).await
                }));
            }
            if i == 20 {
                let store = store.clone();
                writes.push(tokio::spawn(async move {
                    store.writer.run_small(move |c| {
                        touch(c)?;
                        panic!("a write that panics")
                    })
                    .await
                }));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        held.send(()).unwrap();
        writer_held.await.unwrap().unwrap();
        let results: Vec<_> = futures_util::future::join_all(writes).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 2, "{results:?}");
        assert!(results[11].as_ref().is_err_and(|e| e.to_string().contains("no such table")), "{:?}", results[11]);
        assert!(results[22].as_ref().is_err_and(|e| e.to_string().contains("the write failed")), "{:?}", results[22]);
        let untouched = store.user_by_username("bystander").await.unwrap().unwrap();
        assert_eq!(untouched.last_seen, None, "a failed write is rolled back");
        for (i, user) in users.iter().enumerate() {
            let found = store.user_by_username(user.username.as_str()).await.unwrap().unwrap();
            assert_eq!(found.last_seen, Some(Timestamp::from_millis(1_000 + i as i64)), "user{i}");
        }
    }

    /// Rooms made before migration 0003 have no key; the next start gives
    /// them one, and two old look-alikes both stay.
    #[tokio::test]
    async fn rooms_made_before_the_name_key_get_their_keys_at_the_next_start() {
        use std::str::FromStr;

        use sqlx::{ConnectOptions, Connection};

        use crate::store::contract;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("keys.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        store.create_user(contract::new_user("ann")).await.unwrap();
        store.close().await;
        // What a database migrated before 0003 looks like, with a look-alike
        // that the old rule let in.
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().connect().await.unwrap();
        for sql in contract::UNKEY_ROOMS_SQL {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();

        let store = SqliteStore::open(&url).await.unwrap();
        contract::rooms_from_before_the_name_key_were_keyed_at_the_start(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn migration_0004_makes_membership_last_and_the_first_user_admin() {
        use std::str::FromStr;

        use sqlx::{ConnectOptions, Connection};

        use crate::store::contract;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("old.db").display());
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let old = contract::migrations_before_0004("sqlite", &migrations).await;
        let mut conn =
            sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true).connect().await.unwrap();
        old.run(&mut conn).await.unwrap();
        for sql in contract::BEFORE_0004_SQL {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        let store = SqliteStore::open(&url).await.unwrap();
        contract::migration_0004_made_membership_last_and_the_first_user_admin(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_clear_error() {
        let Err(e) = SqliteStore::open("sqlite::memory:").await else { panic!("an in-memory database opened") };
        assert!(e.to_string().contains("in-memory SQLite database is not supported"), "{e}");
    }

    #[tokio::test]
    async fn closing_stores_every_write_already_queued_folds_in_the_wal_and_refuses_later_ones() {
        use crate::domain::{Page, RoomId, UserSummary};
        use crate::store::{StoreError, contract};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("close.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let author = UserSummary::from(&store.create_user(contract::new_user("ann")).await.unwrap());
        let sends = (0..50).map(|i| store.insert_message(contract::message(RoomId(1), &author, &format!("m{i}"), None, i)));
        // join! polls the sends first, and each is queued on its first poll.
        let (sent, ()) = tokio::join!(futures_util::future::join_all(sends), store.close());
        assert!(sent.iter().all(Result::is_ok), "every send queued before the close is stored and answered");
        let late = store.insert_message(contract::message(RoomId(1), &author, "late", None, 99)).await;
        assert!(matches!(late, Err(StoreError::Unavailable(_))), "a send after the close: {late:?}");
        assert!(matches!(store.set_last_seen(author.id, crate::domain::Timestamp::from_millis(1)).await, Err(StoreError::Unavailable(_))));
        assert!(!dir.path().join("close.db-wal").exists(), "the WAL is copied into the database and removed");

        let reopened = SqliteStore::open(&url).await.unwrap();
        let stored = reopened.messages(RoomId(1), Page::Latest { limit: 100 }).await.unwrap();
        assert_eq!(stored.len(), 50, "all 50 are in the file after a reopen");
    }
}

/// Creates the database file readable by its owner only (0600) if it does not
/// exist yet: it holds password hashes and session digests, and SQLite gives
/// its -wal and -shm files the database file's mode.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(StoreError::Other(format!("cannot create {}: {e}", path.display()))),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
