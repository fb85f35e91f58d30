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
use super::rows;
use super::sql::{self, Exec, one};
use super::server::OnServer;
use super::{Inserted, StoreError, map_err};
use crate::domain::{ClientId, Message, MessageId, NewMessage, UserId};

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
        super::server::fill_room_keys(&mut *pool.acquire().await.map_err(map_err)?).await?;
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
    let mut conn = pool.acquire().await.map_err(map_err)?;
    one(conn.fetch_optional(sql::messages::by_client_id(user, client_id)).await?, rows::message)
}

impl OnServer for MySqlStore {
    type P = sqlx::Pool<MySql>;

    fn pool(&self) -> &Self::P {
        &self.pool
    }

    fn ingest(&self) -> &GroupCommit {
        &self.ingest
    }

    async fn shut(&self) {
        self.held.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MySqlStore;
    use crate::store::Store;
    #[allow(unused_imports)]
    use crate::store::ports::*;
    use crate::store::testdb::{self, Backend};

    /// A store on a database of its own, or `None` (skip) without `PARLEY_TEST_MYSQL_URL`.
    async fn open() -> Option<(Arc<dyn Store>, testdb::TestDb)> {
        let db = testdb::TestDb::create(Backend::MySql).await?;
        Some((Arc::new(MySqlStore::open(&db.url).await.expect("store opens")), db))
    }

    crate::contract_tests!(open);

    #[tokio::test]
    async fn migration_0004_makes_membership_last_and_the_first_user_admin() {
        use crate::store::contract;

        let Some(db) = testdb::TestDb::create(Backend::MySql).await else {
            eprintln!("skipped: no test database server configured");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let old = contract::migrations_before_0004("mysql", dir.path()).await;
        let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
        old.run(&pool).await.unwrap();
        for sql in contract::BEFORE_0004_SQL {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = MySqlStore::open(&db.url).await.expect("store opens");
        contract::migration_0004_made_membership_last_and_the_first_user_admin(&store).await;
        store.close().await;
    }

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
