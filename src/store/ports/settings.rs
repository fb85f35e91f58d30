use async_trait::async_trait;

use crate::domain::ServerSettings;
use crate::store::StoreError;

/// The server's settings, as an admin set them.
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    /// The settings, with the default for each one never set.
    async fn settings(&self) -> Result<ServerSettings, StoreError>;
    async fn put_settings(&self, settings: &ServerSettings) -> Result<(), StoreError>;
}
