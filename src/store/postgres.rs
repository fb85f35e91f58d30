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
use super::rows::{self, message_columns};
use super::sql::{self, Exec, one};
use super::server::OnServer;
use super::{Inserted, StoreError, map_err};
use crate::domain::{ClientId, Message, MessageId, NewMessage};

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
        super::server::fill_room_keys(&mut *pool.acquire().await.map_err(map_err)?).await?;
        let held = Arc::new(HeldConnections::new(pool.clone()));
        let writer = Writer { held: held.clone() };
        let ingest = GroupCommit::start(Arc::new(writer), WRITERS, MAX_BATCH);
        Ok(Self { pool, ingest, held })
    }
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

impl OnServer for PgStore {
    type P = sqlx::Pool<Postgres>;

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
    // A send with no client_id always inserts, so this one has a client_id.
    let client_id = m.client_id.as_ref().ok_or_else(|| StoreError::Other("an insert without a client_id was skipped".into()))?;
    let stored = one(tx.fetch_optional(sql::messages::by_client_id(m.author.id, client_id)).await?, rows::message)?;
    tx.commit().await.map_err(map_err)?;
    let stored = stored.ok_or_else(|| StoreError::Other("a skipped send's first message was not found".into()))?;
    Ok((stored, Inserted::Existing))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::PgStore;
    use crate::store::Store;
    #[allow(unused_imports)]
    use crate::store::ports::*;
    use crate::store::testdb::{self, Backend};

    /// A store on a database of its own, or `None` (skip) without `PARLEY_TEST_POSTGRES_URL`.
    async fn open() -> Option<(Arc<dyn Store>, testdb::TestDb)> {
        let db = testdb::TestDb::create(Backend::Postgres).await?;
        Some((Arc::new(PgStore::open(&db.url).await.expect("store opens")), db))
    }

    crate::contract_tests!(open);

    #[tokio::test]
    async fn migration_0004_makes_membership_last_and_the_first_user_admin() {
        use crate::store::contract;

        let Some(db) = testdb::TestDb::create(Backend::Postgres).await else {
            eprintln!("skipped: no test database server configured");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let old = contract::migrations_before_0004("postgres", dir.path()).await;
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        old.run(&pool).await.unwrap();
        for sql in contract::BEFORE_0004_SQL {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = PgStore::open(&db.url).await.expect("store opens");
        contract::migration_0004_made_membership_last_and_the_first_user_admin(&store).await;
        store.close().await;
    }

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
