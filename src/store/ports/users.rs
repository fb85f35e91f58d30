use async_trait::async_trait;

use crate::domain::{AvatarColor, DisplayName, NewUser, Role, Timestamp, User, UserId};
use crate::store::StoreError;

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new account: an admin when it is the first one, else a member
    /// (decided by the insert itself).
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    /// Looks a user up by the case-folded username.
    async fn user_by_username(&self, folded: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by the case-folded email (`Email::folded`).
    async fn user_by_email(&self, folded: &str) -> Result<Option<User>, StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The users of `ids` that exist, in id order.
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;
    /// Users whose folded username or lower-cased display name contains `q`
    /// (already lower-cased), ordered by folded username, at most `limit`.
    /// SQLite lower-cases ASCII letters only: on it, `ö` does not find `Ö`
    /// in a display name (usernames are ASCII and stored folded).
    async fn search_users(&self, q: Option<&str>, limit: u32, include_deactivated: bool) -> Result<Vec<User>, StoreError>;
    /// Changes what is given; `None` when the user does not exist.
    async fn update_profile(
        &self,
        id: UserId,
        display_name: Option<DisplayName>,
        avatar_color: Option<AvatarColor>,
    ) -> Result<Option<User>, StoreError>;
    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError>;
    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, StoreError>;
    /// `Some(at)` deactivates the user from `at`, `None` reactivates them.
    async fn set_deactivated(&self, id: UserId, at: Option<Timestamp>) -> Result<Option<User>, StoreError>;
    /// Admins who are not deactivated.
    async fn count_active_admins(&self) -> Result<u64, StoreError>;
}
