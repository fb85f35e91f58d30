//! The one connection that writes to the SQLite file, on a thread of its own,
//! and its group commits: of messages, and of small writes (`last_seen`).
//!
//! sqlx runs each SQLite statement on its connection's thread and hands the
//! result back to the runtime: two thread wake-ups per statement, about a
//! dozen per group-commit batch, and the thread idle between statements
//! (BENCHMARKS.md, "Durable ingest on SQLite"). Here every write is one job
//! run on the thread, with one hand-off there and one back, and the thread
//! forms the batches of messages itself: the sends that queued while one
//! batch committed are the next batch, taken without waiting for anyone.
//! Every write goes through this thread, so SQLite's write lock is never
//! contended from inside Parley, and SQLite's sleep-and-retry busy handler
//! never runs between our writes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::oneshot;

use crate::domain::{Message, NewMessage};
use crate::store::{Inserted, StoreError};

type Stored = Result<(Message, Inserted), StoreError>;

type SmallWrite = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;

enum Job {
    /// Any write, run on its own.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
    /// A small write that shares one transaction (and its sync to disk) with
    /// the small writes queued behind it, each in a savepoint of its own.
    Small(SmallWrite, oneshot::Sender<Result<(), StoreError>>),
    /// A message to store; the messages queued together are one transaction.
    Message(NewMessage, oneshot::Sender<Stored>),
}

/// How many messages one transaction takes at most.
const MAX_BATCH: usize = 1024;

/// How many pages the WAL holds before a commit copies them into the database
/// file (SQLite's default is 1,000, about 4 MB). A checkpoint copies each page
/// once however often it changed meanwhile, and the pages that change with
/// every batch (each room's newest index leaf) change many times in a longer
/// WAL: 10,000 pages (about 40 MB of WAL on disk) gave 13% more acked sends
/// per second (BENCHMARKS.md), with the same ack p99 at 1,000 sends/s.
const CHECKPOINT_PAGES: u32 = 10_000;

/// The writer thread's queue of work, and the word that it has stopped.
pub(super) struct WriteThread {
    /// `None` once closing has begun.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Answered when the thread has run its last job and closed the connection.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl WriteThread {
    /// Opens the (existing, migrated) database file at `path` for writing, on
    /// a new thread that then runs every write given to [`WriteThread::run`]
    /// and [`WriteThread::insert`], in the order they came.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let (opened, open_result) = oneshot::channel();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (stopped_tx, stopped) = oneshot::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let mut conn = match connect(&path) {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = opened.send(Err(e)); // the opener is waiting for exactly this
                        return;
                    }
                };
                if opened.send(Ok(())).is_err() {
                    return; // the opener gave up
                }
                serve(&mut conn, &queue);
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "closing the SQLite writer connection");
                }
                let _ = stopped_tx.send(()); // nobody waiting is fine: the store was dropped, not closed
            })
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer thread: {e}")))?;
        open_result.await.map_err(|_| StoreError::Other("the SQLite writer thread stopped while opening".into()))??;
        Ok(Self { jobs: Mutex::new(Some(jobs)), stopped: Mutex::new(Some(stopped)) })
    }

    /// Runs `work` on the writer's connection, after the jobs queued before
    /// it, and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Run(Box::new(move |conn| {
            // A panic rolls back the job's transaction, if open, as it
            // unwinds; the caller gets an error and the thread goes on.
            let result = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
                Ok(result) => result.map_err(lite_err),
                Err(_) => Err(panicked()),
            };
            // No one to tell means the caller stopped waiting (its socket went
            // away); the write is done all the same, as a retry will find.
            let _ = reply.send(result);
        })))?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `work` (a write with no result) in one transaction with the
    /// other small writes queued with it, and waits until that is committed.
    /// A disconnect storm (a restart's thousands of `last_seen`) then costs a
    /// few syncs to disk instead of one each.
    pub async fn run_small(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Small(Box::new(work), reply))?;
        answer.await.map_err(|_| stopped())?
    }

    /// Stores a message in the next batch and waits until it is committed
    /// (or has failed).
    pub async fn insert(&self, message: NewMessage) -> Stored {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Message(message, reply))?;
        answer.await.map_err(|_| stopped())?
    }

    /// The queue has no bound of its own: every caller waits for its answer,
    /// so it holds at most one job per waiting caller (and each connection's
    /// events are handled one at a time).
    fn queue(&self, job: Job) -> Result<(), StoreError> {
        match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.send(job).map_err(|_| stopped()),
            None => Err(stopped()),
        }
    }

    /// Runs the jobs already queued, refuses new ones, and closes the connection.
    pub async fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(PoisonError::into_inner).take());
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(stopped) = stopped {
            let _ = stopped.await; // an Err means the thread ended without saying so: stopped all the same
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer has stopped".into())
}

/// The thread's loop: runs each job in turn until every sender is gone (the
/// store closed or dropped). A message takes every message queued behind it,
/// up to the first job of another kind, into its batch; a small write takes
/// the small writes queued behind it.
fn serve(conn: &mut Connection, queue: &mpsc::Receiver<Job>) {
    let mut next = queue.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Run(work) => work(conn),
            Job::Small(work, reply) => {
                let group = gather(queue, (work, reply), &mut next, |job| match job {
                    Job::Small(work, reply) => Ok((work, reply)),
                    other => Err(other),
                });
                commit_small(conn, group);
            }
            Job::Message(message, reply) => {
                let group = gather(queue, (message, reply), &mut next, |job| match job {
                    Job::Message(message, reply) => Ok((message, reply)),
                    other => Err(other),
                });
                let (batch, mut replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
                commit(conn, &batch, &mut replies);
            }
        }
        if next.is_none() {
            next = queue.recv().ok();
        }
    }
}

/// `first` and the jobs of its kind queued right behind it (`same` takes
/// them apart, or hands back a job of another kind), up to [`MAX_BATCH`];
/// the first job of another kind is left in `next`.
fn gather<T>(queue: &mpsc::Receiver<Job>, first: T, next: &mut Option<Job>, same: impl Fn(Job) -> Result<T, Job>) -> Vec<T> {
    let mut group = vec![first];
    while group.len() < MAX_BATCH {
        let Ok(job) = queue.try_recv() else { break };
        match same(job) {
            Ok(item) => group.push(item),
            Err(other) => {
                *next = Some(other);
                break;
            }
        }
    }
    group
}

/// Commits one batch and answers each of its sends. A batch that fails is
/// retried a message at a time, so one bad message (its room deleted
/// meanwhile) cannot fail the others. An answer that cannot be delivered means
/// its sender stopped waiting; the message is stored all the same, as its retry
/// will find.
fn commit(conn: &mut Connection, batch: &[NewMessage], replies: &mut Vec<oneshot::Sender<Stored>>) {
    metrics::histogram!("parley_store_batch_size").record(batch.len() as f64);
    match attempt(conn, batch) {
        Ok(results) => {
            for (reply, result) in replies.drain(..).zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) if batch.len() > 1 => {
            tracing::debug!(error = %e, size = batch.len(), "batch failed; storing its messages one at a time");
            for (message, reply) in batch.iter().zip(replies.drain(..)) {
                let result = attempt(conn, std::slice::from_ref(message)).and_then(|mut one| {
                    one.pop().ok_or_else(|| StoreError::Other("a batch of one gave no answer".into()))
                });
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            if let Some(reply) = replies.pop() {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// One transaction for a group of small writes, each in a savepoint: one that
/// fails (or panics) is rolled back alone and answered with its error, and the
/// others are answered once the transaction is committed.
fn commit_small(conn: &mut Connection, group: Vec<(SmallWrite, oneshot::Sender<Result<(), StoreError>>)>) {
    let (works, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
    let run = |conn: &mut Connection| -> rusqlite::Result<Vec<Result<(), StoreError>>> {
        let mut tx = conn.transaction()?;
        let mut results = Vec::with_capacity(works.len());
        for work in works {
            let savepoint = tx.savepoint()?;
            results.push(match catch_unwind(AssertUnwindSafe(|| work(&savepoint))) {
                Ok(Ok(())) => savepoint.commit().map_err(lite_err),
                Ok(Err(e)) => Err(lite_err(e)), // dropping the savepoint rolls it back
                Err(_) => Err(panicked()),
            });
        }
        tx.commit()?;
        Ok(results)
    };
    match run(conn) {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result); // the caller stopped waiting; the write is done all the same
            }
        }
        Err(e) => {
            let e = lite_err(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// One transaction for `batch`. A panic inside it rolls the transaction back
/// as it unwinds and becomes an error, so the thread goes on serving.
fn attempt(conn: &mut Connection, batch: &[NewMessage]) -> Result<Vec<(Message, Inserted)>, StoreError> {
    match catch_unwind(AssertUnwindSafe(|| super::commit_batch(conn, batch))) {
        Ok(result) => result.map_err(lite_err),
        Err(_) => Err(panicked()),
    }
}

fn panicked() -> StoreError {
    tracing::error!("a SQLite write panicked; its transaction was rolled back");
    StoreError::Other("the write failed".into())
}

/// The writer's connection, with the settings sqlx gives the readers: WAL,
/// every commit synced to disk (`synchronous=FULL`, what an ack promises),
/// foreign keys enforced.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(lite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(lite_err)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(lite_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Other(format!("SQLite would not use WAL (journal_mode is {mode})")));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")
        .map_err(lite_err)?;
    conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES).map_err(lite_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Turns a rusqlite error into what it means for Parley, as
/// [`crate::store::map_err`] does for sqlx's.
fn lite_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
            ErrorCode::ConstraintViolation if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
                message.as_deref().and_then(crate::store::taken).unwrap_or_else(|| StoreError::Other(e.to_string()))
            }
            // SQLITE_FULL: the write was rolled back, the file is intact,
            // and the next write succeeds once there is space again.
            ErrorCode::DiskFull => StoreError::Full(e.to_string()),
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        },
        _ => StoreError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_its_own_error_not_an_outage() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert!(matches!(lite_err(full), StoreError::Full(_)));
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(matches!(lite_err(busy), StoreError::Unavailable(_)));
    }
}
