//! [`crate::store::MemberStore`].

use super::{new_room, new_user};
use crate::domain::{MemberRole, RoomChanges, RoomId, RoomType, Timestamp};
use crate::store::Store;

pub async fn membership_has_a_role_and_a_join_time(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let room = store.create_room(new_room("Rust", RoomType::Public, ann.id, 9)).await.unwrap();
    let m = store.membership(room.id, ann.id).await.unwrap().expect("the creator is a member");
    assert_eq!((m.room_id, m.user_id, m.role, m.joined_at), (room.id, ann.id, MemberRole::Owner, Timestamp::from_millis(9)));
    assert!(store.membership(room.id, bob.id).await.unwrap().is_none());
    assert!(!store.is_member(room.id, bob.id).await.unwrap());
    assert!(store.membership(RoomId(999_999), ann.id).await.unwrap().is_none());
}

pub async fn adding_members_adds_only_those_not_yet_members(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let room = store.create_room(new_room("Rust", RoomType::Private, ann.id, 9)).await.unwrap();
    let at = Timestamp::from_millis(20);
    assert_eq!(store.add_members(room.id, &[bob.id], MemberRole::Member, at).await.unwrap(), [bob.id]);
    let added = store.add_members(room.id, &[ann.id, bob.id, cat.id, cat.id], MemberRole::Member, at).await.unwrap();
    assert_eq!(added, [cat.id], "members already keep their place, and each is added once");
    assert_eq!(store.membership(room.id, ann.id).await.unwrap().map(|m| m.role), Some(MemberRole::Owner), "role kept");
    assert_eq!(store.count_members(room.id).await.unwrap(), 3);
    assert!(store.add_members(room.id, &[], MemberRole::Member, at).await.unwrap().is_empty());
}

pub async fn a_member_is_removed_or_given_another_role(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let room = store.create_room(new_room("Rust", RoomType::Private, ann.id, 9)).await.unwrap();
    store.add_members(room.id, &[bob.id], MemberRole::Member, Timestamp::from_millis(10)).await.unwrap();
    assert!(store.set_member_role(room.id, bob.id, MemberRole::Owner).await.unwrap());
    assert!(store.set_member_role(room.id, bob.id, MemberRole::Owner).await.unwrap(), "the same role again: still a member");
    assert_eq!(store.membership(room.id, bob.id).await.unwrap().map(|m| m.role), Some(MemberRole::Owner));
    assert!(store.remove_member(room.id, ann.id).await.unwrap());
    assert!(!store.remove_member(room.id, ann.id).await.unwrap(), "not a member any more");
    assert!(!store.set_member_role(room.id, ann.id, MemberRole::Owner).await.unwrap());
    assert_eq!(store.member_ids(room.id).await.unwrap(), [bob.id]);
    assert_eq!(store.count_rooms_of(ann.id).await.unwrap(), 0);
    assert_eq!(store.count_rooms_of(bob.id).await.unwrap(), 1);
}

pub async fn a_user_s_member_rooms_leave_out_archived_ones_and_members_come_in_join_order(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let one = store.create_room(new_room("One", RoomType::Public, ann.id, 9)).await.unwrap();
    let two = store.create_room(new_room("Two", RoomType::Private, bob.id, 9)).await.unwrap();
    let old = store.create_room(new_room("Old", RoomType::Private, ann.id, 9)).await.unwrap();
    store.add_members(two.id, &[ann.id], MemberRole::Member, Timestamp::from_millis(11)).await.unwrap();
    store.add_members(one.id, &[cat.id], MemberRole::Member, Timestamp::from_millis(10)).await.unwrap();
    store.add_members(one.id, &[bob.id], MemberRole::Member, Timestamp::from_millis(12)).await.unwrap();
    let archive = RoomChanges { name: None, topic: None, archived: Some(true), at: Timestamp::from_millis(30) };
    store.update_room(old.id, archive).await.unwrap();
    assert_eq!(store.member_rooms(ann.id).await.unwrap(), [(one.id, MemberRole::Owner), (two.id, MemberRole::Member)]);
    assert_eq!(store.count_rooms_of(ann.id).await.unwrap(), 3, "archived rooms count");
    let members = store.members(one.id).await.unwrap();
    let seen: Vec<_> = members.iter().map(|m| (m.user.username.as_str(), m.role, m.joined_at.as_millis())).collect();
    assert_eq!(seen, [("ann", MemberRole::Owner, 9), ("cat", MemberRole::Member, 10), ("bob", MemberRole::Member, 12)]);
    assert_eq!(store.member_ids(one.id).await.unwrap(), [ann.id, bob.id, cat.id], "ids in id order");
    assert!(store.members(RoomId(999_999)).await.unwrap().is_empty());
    assert_eq!(store.count_members(RoomId(999_999)).await.unwrap(), 0);
}

pub async fn the_members_of_many_rooms_come_in_one_answer_by_room_then_user(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let one = store.create_room(new_room("One", RoomType::Private, cat.id, 9)).await.unwrap();
    let two = store.create_room(new_room("Two", RoomType::Private, bob.id, 9)).await.unwrap();
    let other = store.create_room(new_room("Other", RoomType::Private, ann.id, 9)).await.unwrap();
    // Joined after cat, yet listed before: user id order, not join order.
    store.add_members(one.id, &[ann.id], MemberRole::Member, Timestamp::from_millis(10)).await.unwrap();
    let (direct, _) = store.direct_room("k", "ann, bob", &[bob.id, ann.id], Timestamp::from_millis(11)).await.unwrap();
    let deactivated = store.set_deactivated(bob.id, Some(Timestamp::from_millis(12))).await.unwrap().unwrap();

    let asked = [direct.id, RoomId(999_999), two.id, one.id];
    let got = store.members_of_rooms(&asked).await.unwrap();
    let seen: Vec<_> = got.iter().map(|(room, user)| (*room, user.id)).collect();
    let mut want = vec![(one.id, ann.id), (one.id, cat.id), (two.id, bob.id), (direct.id, ann.id), (direct.id, bob.id)];
    want.sort_by_key(|(room, user)| (room.0, user.0));
    assert_eq!(seen, want, "rooms not asked for are left out, unknown ones are absent");
    let bob_in_two = got.iter().find(|(room, _)| *room == two.id).map(|(_, u)| (u.username.as_str(), u.deactivated));
    assert_eq!(bob_in_two, Some((deactivated.username.as_str(), true)), "the whole user, deactivated ones included");
    assert!(!seen.iter().any(|(room, _)| *room == other.id));
    assert!(store.members_of_rooms(&[]).await.unwrap().is_empty());
}
