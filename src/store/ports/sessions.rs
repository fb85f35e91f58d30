use async_trait::async_trait;

use crate::domain::{Timestamp, User, UserId};
use crate::store::StoreError;

/// The user a live session belongs to, and when the session ends.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub expires_at: Timestamp,
}

/// A session as the store keeps it: the hash of the token, never the token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Sessions, by the hash of their token.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn create_session(&self, session: NewSession) -> Result<(), StoreError>;
    /// The user of an unexpired session, unless the user is deactivated.
    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<Option<SessionUser>, StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Ends every session of `user` but `except`; answers the token hashes it deleted.
    async fn delete_sessions_of(&self, user: UserId, except: Option<&[u8]>) -> Result<Vec<Vec<u8>>, StoreError>;
}
