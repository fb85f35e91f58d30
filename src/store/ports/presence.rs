use async_trait::async_trait;

use crate::domain::{Timestamp, User, UserId};
use crate::store::{SessionUser, StoreError};

/// What the last graceful stop left for the next start ([`PresenceStore::take_online`]).
#[derive(Debug, Default)]
pub struct CarriedOver {
    /// Who was online, each with when the server stopped, in id order.
    pub online: Vec<(User, Timestamp)>,
    /// Their sessions still live, by token hash, the latest to expire first
    /// (at most 10,000, as many as the chat's session cache holds): the start
    /// trusts them at once, instead of a query for each as the clients come back.
    pub sessions: Vec<(Vec<u8>, SessionUser)>,
}

/// Presence that outlives a connection: `last_seen`, and who was online at a stop.
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    async fn set_last_seen(&self, user: UserId, at: Timestamp) -> Result<(), StoreError>;
    /// Remembers who was online when this server stopped gracefully (a single
    /// instance), in place of what was remembered before.
    async fn save_online(&self, users: &[UserId], stopped_at: Timestamp) -> Result<(), StoreError>;
    /// Who [`PresenceStore::save_online`] remembered, with their sessions still
    /// live at `now`; forgets them.
    async fn take_online(&self, now: Timestamp) -> Result<CarriedOver, StoreError>;
}
