use async_trait::async_trait;

use crate::domain::{Message, NewMessage, Page, RoomId};
use crate::store::StoreError;

/// Whether an insert stored a new row or found the one a retry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    Existing,
}

/// A room's messages.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a message once the transaction commits. A message with a
    /// `client_id` that this user already used returns the stored one instead.
    async fn insert_message(&self, message: NewMessage) -> Result<(Message, Inserted), StoreError>;
    /// A page of a room's history, oldest first.
    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError>;
}
