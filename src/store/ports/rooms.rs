use async_trait::async_trait;

use crate::domain::{NewRoom, Room, RoomChanges, RoomId, RoomListing, Timestamp, UserId};
use crate::store::StoreError;

/// Rooms: public, private and direct.
#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    async fn room(&self, id: RoomId) -> Result<Option<Room>, StoreError>;
    /// The room whose unique name is `folded` (`RoomName::folded`).
    async fn room_by_name(&self, folded: &str) -> Result<Option<Room>, StoreError>;
    /// Creates a public or private room in one transaction, with `created_by`
    /// as its owner and each of `members` as a member.
    async fn create_room(&self, room: NewRoom) -> Result<Room, StoreError>;
    /// The rooms `user` may see: every public room, and those they are a member of.
    async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<Room>, StoreError>;
    /// What `user`'s room list shows: every public room and every room they are
    /// a member of, archived ones only when `archived` (and only those then);
    /// public and private rooms by name, then direct rooms by id.
    async fn rooms_for(&self, user: UserId, archived: bool) -> Result<Vec<RoomListing>, StoreError>;
    /// The direct room of `key` (its members' sorted ids), made now with
    /// `label` as its name and `members` as members if there is none;
    /// `true` when it was made now. Two callers racing get one room.
    async fn direct_room(&self, key: &str, label: &str, members: &[UserId], at: Timestamp)
    -> Result<(Room, bool), StoreError>;
    /// Renames, sets the topic, archives or unarchives; `None` when there is no such room.
    async fn update_room(&self, id: RoomId, changes: RoomChanges) -> Result<Option<Room>, StoreError>;
}
