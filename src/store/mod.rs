//! Storage: small ports per aggregate ([`ports`]), [`Store`] as all of them,
//! one module per database, one contract suite per port.
//!
//! The chat layer talks to a `dyn Store` and never sees SQL. The statements
//! are written once ([`sql`]) and run on every database; each backend turns
//! its constraint violations into meaning here (`UsernameTaken`,
//! `RoomNameTaken`) and its connection failures into [`StoreError::Unavailable`].

use std::sync::Arc;

pub use crate::domain::Page;
use crate::domain::RoomName;

mod group_commit;
pub mod mysql;
pub mod ports;
pub mod postgres;
mod rows;
mod server;
mod sql;
pub mod sqlite;
pub mod testdb;

pub use ports::{
    CarriedOver, Database, Inserted, InviteStore, MemberStore, MessageStore, NewSession, PresenceStore, RoomStore,
    SessionStore, SessionUser, SettingsStore, UserStore,
};

#[cfg(test)]
pub(crate) mod contract;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rooms_get_their_keys_and_a_later_look_alike_gets_a_key_of_its_own() {
        let keys = keys_for_unkeyed_rooms(
            [RoomName::from_trusted("Random".into()).key()],
            [(1, "General".into()), (4, "G\u{0435}neral".into()), (5, "random".into()), (6, "Rust".into())],
        );
        let general = RoomName::from_trusted("General".into()).key();
        let random = RoomName::from_trusted("Random".into()).key();
        assert_eq!(
            keys,
            [
                (1, general.clone()),
                (4, fallback_room_key(&general, 4)),
                (5, fallback_room_key(&random, 5)),
                (6, RoomName::from_trusted("Rust".into()).key())
            ]
        );
    }
}

/// What went wrong in storage, in the terms the chat layer cares about.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("room name taken")]
    RoomNameTaken,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
    /// The database's disk (or quota) is full: nothing more can be written
    /// until space is freed; reads still work.
    #[error("database storage full: {0}")]
    Full(String),
}

/// Every port together: what the chat layer holds (`Arc<dyn Store>`) and
/// calls as `store.method(..)`. A backend implements the ports; the blanket
/// impl makes it a `Store`.
pub trait Store:
    Database + UserStore + SessionStore + PresenceStore + RoomStore + MemberStore + MessageStore + SettingsStore + InviteStore
{
}

impl<T> Store for T where
    T: Database
        + UserStore
        + SessionStore
        + PresenceStore
        + RoomStore
        + MemberStore
        + MessageStore
        + SettingsStore
        + InviteStore
{
}

/// Opens the database named by `url` (by its scheme), creating and migrating it.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        "mysql" | "mariadb" => Ok(Arc::new(mysql::MySqlStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PgStore::open(url).await?)),
        _ => Err(StoreError::Other(format!(
            "unsupported database URL scheme '{scheme}:' (use sqlite:, mysql:, mariadb: or postgres:)"
        ))),
    }
}

/// Turns a driver error into what it means for Parley: a taken name, an
/// unreachable database, or a failure to log.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            taken(db.message()).unwrap_or_else(|| StoreError::Other(e.to_string()))
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|c| connection_lost(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        // PostgreSQL's disk_full (53100). SQLite's SQLITE_FULL is mapped in
        // its writer; MariaDB reports a full disk as a generic HY000 and
        // stays `Other`.
        sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "53100") => StoreError::Full(e.to_string()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

/// What a unique constraint's violation means, by the column its message
/// names (every database names the index or column).
pub(crate) fn taken(message: &str) -> Option<StoreError> {
    if message.contains("username_folded") {
        Some(StoreError::UsernameTaken)
    } else if message.contains("email_folded") {
        Some(StoreError::EmailTaken)
    } else if message.contains("room_name_folded") || message.contains("name_key") || message.contains("direct_key") {
        Some(StoreError::RoomNameTaken)
    } else {
        None
    }
}

/// The keys to give the rooms that have none (made before the `name_key`
/// column), in id order: each its name's key ([`RoomName::key`]), unless an
/// earlier room holds that key already, as two look-alike rooms made before
/// the rule may; then [`fallback_room_key`], so the later room stays and the
/// earlier one keeps the name.
pub(crate) fn keys_for_unkeyed_rooms(
    taken: impl IntoIterator<Item = String>,
    unkeyed: impl IntoIterator<Item = (i64, String)>,
) -> Vec<(i64, String)> {
    let mut taken: std::collections::HashSet<String> = taken.into_iter().collect();
    let mut keys = Vec::new();
    for (id, name) in unkeyed {
        let key = RoomName::from_trusted(name).key();
        let key = if taken.contains(&key) { fallback_room_key(&key, id) } else { key };
        taken.insert(key.clone());
        keys.push((id, key));
    }
    keys
}

/// A key no room name can have (names hold no control character), unique by
/// the room's id: for an old room whose look-alike came first.
pub(crate) fn fallback_room_key(key: &str, id: i64) -> String {
    format!("{key}\u{1}{id}")
}

/// SQLSTATEs that mean "the connection or the server went away": class 08
/// (connection exception; MySQL/MariaDB report shutdown and lost connections
/// as 08S01), PostgreSQL's 57P01..57P03 (shutting down, starting up) and
/// MySQL's 70100 (connection killed).
fn connection_lost(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "70100"
}

/// Runs the migrations of the database named by `url`, closes it and returns.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    open(url).await?.close().await;
    Ok(())
}
