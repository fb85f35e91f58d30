use async_trait::async_trait;

use crate::store::StoreError;

/// The database as a whole: health, shutdown, backup.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Is the database answering? (`/readyz`)
    async fn ping(&self) -> Result<(), StoreError>;
    /// Waits for in-flight writes and closes the connections.
    async fn close(&self);
    /// Writes a consistent copy of the database to `path` while it is in use.
    /// Only the embedded database can; servers have their own tools.
    async fn backup(&self, _path: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Other(
            "this database backs up with its own tools (mariadb-dump, pg_dump); see docs/deploy.md".into(),
        ))
    }
}
