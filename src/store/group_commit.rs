//! Group commit for the database servers (MariaDB/MySQL, PostgreSQL): the
//! sends that arrive while a transaction commits wait together and go into the
//! next one, so one durable commit (one log flush) acknowledges many messages.
//! SQLite does the same on its writer thread (`sqlite::writer`), which forms
//! its batches itself.
//!
//! A backend says how it stores a batch in one transaction ([`CommitBatch`]);
//! this module queues the sends, forms the batches, and answers each send once
//! its batch has committed. A batch that fails is retried a message at a time,
//! so one bad message (a room deleted meanwhile, a retry racing its original on
//! another instance) cannot fail the others.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Database, Encode, QueryBuilder, Type};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::message_row::select;
use super::{Inserted, StoreError};
use crate::domain::{ClientId, Message, NewMessage};

/// How a backend stores a batch of messages in one transaction.
#[async_trait]
pub(crate) trait CommitBatch: Send + Sync + 'static {
    /// Stores every message of `batch` in one transaction and answers for each,
    /// in order, only after that transaction has committed. A `client_id` its
    /// user already used (in an earlier batch, or earlier in this one) answers
    /// with the first message and [`Inserted::Existing`].
    async fn commit_batch(&self, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError>;
}

type Reply = oneshot::Sender<Result<(Message, Inserted), StoreError>>;

/// The queue in front of a backend's writers.
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<(NewMessage, Reply)>,
}

impl GroupCommit {
    /// Starts `writers` tasks that take batches of at most `max_batch` sends
    /// from one queue: a database server commits several batches at once,
    /// one per connection.
    pub fn start(backend: Arc<dyn CommitBatch>, writers: usize, max_batch: usize) -> Self {
        let (queue, requests) = mpsc::channel(16 * max_batch);
        let requests = Arc::new(Mutex::new(requests));
        for _ in 0..writers.max(1) {
            tokio::spawn(writer(backend.clone(), requests.clone(), max_batch));
        }
        Self { queue }
    }

    /// Queues one send and waits until it is committed (or has failed).
    pub async fn insert(&self, message: NewMessage) -> Result<(Message, Inserted), StoreError> {
        let stopped = || StoreError::Unavailable("the writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send((message, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer: takes every send waiting (up to `max_batch`) as one batch.
///
/// A reply that cannot be delivered means its sender stopped waiting (the
/// socket went away); the message is stored all the same, as its retry will find.
async fn writer(
    backend: Arc<dyn CommitBatch>,
    requests: Arc<Mutex<mpsc::Receiver<(NewMessage, Reply)>>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    loop {
        {
            let mut requests = requests.lock().await;
            let Some((first, reply)) = requests.recv().await else { return };
            batch.push(first);
            replies.push(reply);
            while batch.len() < max_batch {
                match requests.try_recv() {
                    Ok((next, reply)) => {
                        batch.push(next);
                        replies.push(reply);
                    }
                    Err(_) => break,
                }
            }
        }
        metrics::histogram!("parley_store_batch_size").record(batch.len() as f64);
        match backend.commit_batch(&batch).await {
            Ok(results) => {
                for (reply, result) in replies.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(reply) = replies.pop() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "batch failed; storing its messages one at a time");
                for (m, reply) in batch.iter().zip(replies.drain(..)) {
                    let result = backend.commit_batch(std::slice::from_ref(m)).await.and_then(|r| {
                        r.into_iter().next().ok_or_else(|| StoreError::Other("a batch of one gave no answer".into()))
                    });
                    let _ = reply.send(result);
                }
            }
        }
        batch.clear();
    }
}

/// What each send of a batch becomes, worked out once the batch's rooms are
/// locked and the messages its `client_id`s already name have been read.
pub(crate) struct BatchPlan {
    answers: Vec<Answer>,
    /// Indices (into the batch) of the sends to insert, in batch order.
    pub fresh: Vec<usize>,
}

enum Answer {
    /// The `n`-th row inserted by this batch.
    New(usize),
    /// A message stored before, found by its `client_id`.
    Stored(Message),
    /// A retry of an earlier send in the same batch.
    SameAs(usize),
}

impl BatchPlan {
    /// `stored`: the messages already stored under the batch's (author, client_id) pairs.
    pub fn new(batch: &[NewMessage], stored: Vec<Message>) -> Self {
        use std::collections::HashMap;
        let mut stored: HashMap<(i64, String), Message> = stored
            .into_iter()
            .filter_map(|m| Some(((m.author.id.0, m.client_id.as_ref()?.as_str().to_owned()), m)))
            .collect();
        let mut first_in_batch: HashMap<(i64, &str), usize> = HashMap::new();
        let mut answers = Vec::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            if let Some(client_id) = &m.client_id {
                let key = (m.author.id.0, client_id.as_str());
                if let Some(found) = stored.remove(&(key.0, key.1.to_owned())) {
                    first_in_batch.insert(key, i);
                    answers.push(Answer::Stored(found));
                    continue;
                }
                if let Some(&first) = first_in_batch.get(&key) {
                    answers.push(Answer::SameAs(first));
                    continue;
                }
                first_in_batch.insert(key, i);
            }
            answers.push(Answer::New(fresh.len()));
            fresh.push(i);
        }
        Self { answers, fresh }
    }

    /// The answers, given the ids the fresh rows were stored under (in `fresh` order).
    pub fn answer(self, batch: &[NewMessage], ids: &[crate::domain::MessageId]) -> Vec<(Message, Inserted)> {
        let mut out: Vec<(Message, Inserted)> = Vec::with_capacity(batch.len());
        for (m, answer) in batch.iter().zip(self.answers) {
            let result = match answer {
                Answer::New(n) => (m.clone().stored_as(ids[n]), Inserted::New),
                Answer::Stored(found) => (found, Inserted::Existing),
                Answer::SameAs(first) => (out[first].0.clone(), Inserted::Existing),
            };
            out.push(result);
        }
        out
    }
}

/// Sends in chunks of a power of two (37 rows go as 32, 4 and 1), so that the
/// inserts come in few shapes and stay prepared.
pub(crate) fn power_of_two_chunks<T>(mut rest: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let (chunk, tail) = rest.split_at_checked(1 << rest.len().checked_ilog2()?)?;
        rest = tail;
        Some(chunk)
    })
}

/// `INSERT INTO messages (…) VALUES (…), (…), …` for a chunk of sends.
pub(crate) fn multi_row_insert<DB: Database>(chunk: &[&NewMessage]) -> QueryBuilder<DB>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    let mut insert =
        QueryBuilder::new("INSERT INTO messages (room_id, user_id, message, message_type, client_id, created_at) ");
    insert.push_values(chunk, |mut row, m| {
        row.push_bind(m.room_id.0)
            .push_bind(m.author.id.0)
            .push_bind(m.body.as_str())
            .push_bind(m.message_type.as_str())
            .push_bind(m.client_id.as_ref().map(ClientId::as_str))
            .push_bind(m.created_at.as_millis());
    });
    insert
}

/// The (author, `client_id`) pairs a batch names: what a retry of a send
/// already stored is found by.
pub(crate) fn client_id_keys(batch: &[NewMessage]) -> Vec<(i64, &str)> {
    batch.iter().filter_map(|m| Some((m.author.id.0, m.client_id.as_ref()?.as_str()))).collect()
}

/// `SELECT` the messages stored under any of `keys` (padded), as an OR of
/// pairs, which the (user_id, client_id) index serves.
pub(crate) fn find_by_client_ids<DB: Database>(keys: &[(i64, &str)]) -> QueryBuilder<DB>
where
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let mut find = QueryBuilder::new(format!("{} WHERE ", select()));
    let mut any = find.separated(" OR ");
    for (user, client_id) in padded(keys) {
        any.push("(m.user_id = ").push_bind_unseparated(user);
        any.push_unseparated(" AND m.client_id = ").push_bind_unseparated(client_id).push_unseparated(")");
    }
    find
}

/// A list bound into a statement, padded to a power of two by repeating its
/// last item. With inserts in power-of-two chunks too, a batch's statements
/// come in a few shapes that stay in the connection's prepared statement cache.
pub(crate) fn padded<T: Copy>(items: &[T]) -> impl Iterator<Item = T> + '_ {
    let last = items.last().copied();
    items.iter().copied().chain(std::iter::repeat_n(last, items.len().next_power_of_two() - items.len()).flatten())
}

/// The distinct rooms of a batch in ascending id order: the order every
/// writer locks them in, so two batches never wait on each other in a cycle.
pub(crate) fn rooms_in_lock_order(batch: &[NewMessage]) -> Vec<i64> {
    let mut rooms: Vec<i64> = batch.iter().map(|m| m.room_id.0).collect();
    rooms.sort_unstable();
    rooms.dedup();
    rooms
}

/// Connections the writers keep between batches. A connection taken from the
/// pool is pinged on the way out and on the way back; a writer that commits
/// hundreds of batches a second keeps its own instead. A batch that fails
/// drops its connection (the pool then checks it), so a database restart
/// costs one failed batch per writer, whose sends are retried one at a time
/// through the pool.
pub(crate) struct HeldConnections<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    idle: std::sync::Mutex<Vec<sqlx::pool::PoolConnection<DB>>>,
}

impl<DB: sqlx::Database> HeldConnections<DB> {
    pub fn new(pool: sqlx::Pool<DB>) -> Self {
        Self { pool, idle: std::sync::Mutex::new(Vec::new()) }
    }

    /// The pool the connections come from (and a send on its own goes through).
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    pub async fn take(&self) -> Result<sqlx::pool::PoolConnection<DB>, StoreError> {
        let held = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        match held {
            Some(conn) => Ok(conn),
            None => self.pool.acquire().await.map_err(super::map_err),
        }
    }

    /// Keeps a connection whose batch committed (unless the pool is closing).
    pub fn give_back(&self, conn: sqlx::pool::PoolConnection<DB>) {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.pool.is_closed() {
            idle.push(conn);
        }
    }

    /// Closes the pool: the held connections go back to it, since closing
    /// waits for every connection to return.
    pub async fn close(&self) {
        let closing = {
            let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let closing = self.pool.close(); // marks the pool closed at once
            idle.clear();
            closing
        };
        closing.await;
    }
}
