use async_trait::async_trait;

use crate::domain::{MemberEntry, MemberRole, Membership, RoomId, Timestamp, User, UserId};
use crate::store::StoreError;

/// Who belongs to which room, with which role.
#[async_trait]
pub trait MemberStore: Send + Sync + 'static {
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;
    async fn membership(&self, room: RoomId, user: UserId) -> Result<Option<Membership>, StoreError>;
    /// The rooms `user` is a member of that are not archived, in room id order.
    async fn member_rooms(&self, user: UserId) -> Result<Vec<(RoomId, MemberRole)>, StoreError>;
    /// The members of `room`, the earliest to join first.
    async fn members(&self, room: RoomId) -> Result<Vec<MemberEntry>, StoreError>;
    /// The members of every room in `rooms` in one query, by room id then
    /// user id (a room without members, or unknown, is simply absent).
    async fn members_of_rooms(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, User)>, StoreError>;
    /// The ids of the members of `room`, in id order.
    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError>;
    /// Adds the users who are not members yet, with `role`; answers those it
    /// added (members already keep their role).
    async fn add_members(&self, room: RoomId, users: &[UserId], role: MemberRole, at: Timestamp)
    -> Result<Vec<UserId>, StoreError>;
    /// `false` when `user` was not a member.
    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;
    /// `false` when `user` is not a member.
    async fn set_member_role(&self, room: RoomId, user: UserId, role: MemberRole) -> Result<bool, StoreError>;
    async fn count_members(&self, room: RoomId) -> Result<u64, StoreError>;
    /// How many rooms `user` is a member of (archived ones included).
    async fn count_rooms_of(&self, user: UserId) -> Result<u64, StoreError>;
}
