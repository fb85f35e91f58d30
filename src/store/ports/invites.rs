use async_trait::async_trait;

use crate::domain::{Invite, NewInvite, Timestamp};
use crate::store::StoreError;

/// Invites to register, by the hash of their code.
#[async_trait]
pub trait InviteStore: Send + Sync + 'static {
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite, StoreError>;
    /// The invites that can still be used at `now`, in id order.
    async fn live_invites(&self, now: Timestamp) -> Result<Vec<Invite>, StoreError>;
    async fn count_live_invites(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// `false` when there is no such invite or it was revoked already.
    async fn revoke_invite(&self, id: i64, now: Timestamp) -> Result<bool, StoreError>;
    /// Counts one use of the invite whose code hashes to `code_hash`, only if
    /// it is live (not revoked, not expired, not used up), in one statement.
    async fn use_invite(&self, code_hash: &[u8], now: Timestamp) -> Result<bool, StoreError>;
}
