//! [`crate::store::RoomStore`].

use super::{message, new_room, new_user};
use crate::domain::{MemberRole, RoomChanges, RoomId, RoomName, RoomType, Timestamp, Topic, UserId, UserSummary};
use crate::store::{Store, StoreError};

pub async fn a_fresh_store_has_the_three_public_rooms(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let rooms = store.rooms_visible_to(user.id).await.unwrap();
    let names: Vec<_> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["General", "Technology", "Random"]);
    assert!(rooms.iter().all(|r| r.room_type == RoomType::Public && r.created_by.is_none()));
    assert!(rooms.iter().all(|r| r.topic.is_empty() && !r.archived));
}

pub async fn room_names_are_unique_case_insensitively_and_the_creator_is_owner(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let room = store.create_room(new_room("Rust", RoomType::Public, user.id, 9)).await.unwrap();
    assert_eq!(room.created_by, Some(user.id));
    assert_eq!(store.room(room.id).await.unwrap(), Some(room.clone()));
    assert!(store.is_member(room.id, user.id).await.unwrap());
    assert_eq!(store.membership(room.id, user.id).await.unwrap().map(|m| m.role), Some(MemberRole::Owner));
    for taken in ["rUST", "general"] {
        let made = store.create_room(new_room(taken, RoomType::Public, user.id, 9)).await;
        assert!(matches!(made, Err(StoreError::RoomNameTaken)), "{taken}: {made:?}");
    }
    assert!(store.room(RoomId(999)).await.unwrap().is_none());
}

/// The `name_key` column's unique index holds the rule, not only a check
/// before the insert: `Gеneral` (Cyrillic `е`) differs from `General` in
/// `room_name_folded` and is refused by the key alone.
pub async fn room_names_are_unique_by_their_confusable_skeleton(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    for look_alike in ["G\u{0435}neral", "GENERAL", "R\u{0430}nd\u{043E}m"] {
        let made = store.create_room(new_room(look_alike, RoomType::Public, user.id, 9)).await;
        assert!(matches!(made, Err(StoreError::RoomNameTaken)), "{look_alike:?}");
    }
    let cafe = store.create_room(new_room("Caf\u{00E9}", RoomType::Public, user.id, 9)).await.unwrap();
    assert_eq!(store.room(cafe.id).await.unwrap().unwrap().name.as_str(), "Caf\u{00E9}");
    for same in ["Cafe\u{0301}", "C\u{0430}f\u{00E9}", "caf\u{00C9}"] {
        let made = store.create_room(new_room(same, RoomType::Public, user.id, 9)).await;
        assert!(matches!(made, Err(StoreError::RoomNameTaken)), "{same:?}");
    }
    store.create_room(new_room("Caf\u{00E9}s", RoomType::Public, user.id, 9)).await.unwrap();
}

pub async fn private_rooms_are_visible_to_members_only(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bo = store.create_user(new_user("bob")).await.unwrap();
    let room = store.create_room(new_room("Secret", RoomType::Private, ann.id, 9)).await.unwrap();
    assert!(store.rooms_visible_to(ann.id).await.unwrap().iter().any(|r| r.id == room.id));
    assert!(!store.rooms_visible_to(bo.id).await.unwrap().iter().any(|r| r.id == room.id));
    assert!(!store.is_member(room.id, bo.id).await.unwrap());
    assert!(!store.rooms_for(bo.id, false).await.unwrap().iter().any(|l| l.room.id == room.id));
}

pub async fn a_room_is_made_with_its_members_and_topic_and_found_by_name(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let mut new = new_room("Plans", RoomType::Private, ann.id, 9);
    new.topic = Topic::parse("Q3 and beyond").unwrap();
    new.members = vec![bob.id, cat.id];
    let room = store.create_room(new).await.unwrap();
    assert_eq!((room.topic.as_str(), room.room_type, room.archived), ("Q3 and beyond", RoomType::Private, false));
    assert_eq!(store.room(room.id).await.unwrap(), Some(room.clone()));
    assert_eq!(store.member_ids(room.id).await.unwrap(), [ann.id, bob.id, cat.id]);
    assert_eq!(store.membership(room.id, bob.id).await.unwrap().map(|m| m.role), Some(MemberRole::Member));
    let by_name = RoomName::parse("PLANS").unwrap().folded();
    assert_eq!(store.room_by_name(&by_name).await.unwrap(), Some(room));
    assert!(store.room_by_name("nothing").await.unwrap().is_none());
    // A member that does not exist fails the whole room: nothing is left behind.
    let mut broken = new_room("Broken", RoomType::Private, ann.id, 9);
    broken.members = vec![UserId(999_999)];
    assert!(store.create_room(broken).await.is_err());
    assert!(store.room_by_name("broken").await.unwrap().is_none(), "the room went with its members");
}

pub async fn a_room_list_holds_public_and_member_rooms_with_role_and_last_message(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let zed = store.create_room(new_room("Zed", RoomType::Private, ann.id, 9)).await.unwrap();
    let apple = store.create_room(new_room("apple", RoomType::Public, bob.id, 9)).await.unwrap();
    let (dm, _) = store.direct_room(&format!("{},{}", ann.id, bob.id), "ann, bob", &[ann.id, bob.id], Timestamp::from_millis(9)).await.unwrap();
    let (sent, _) = store.insert_message(message(apple.id, &UserSummary::from(&bob), "hi", None, 10)).await.unwrap();

    let list = store.rooms_for(ann.id, false).await.unwrap();
    let seen: Vec<_> = list.iter().map(|l| (l.room.name.as_str(), l.my_role, l.last_message_id)).collect();
    assert_eq!(
        seen,
        [
            ("apple", None, Some(sent.id)),
            ("General", None, None),
            ("Random", None, None),
            ("Technology", None, None),
            ("Zed", Some(MemberRole::Owner), None),
            ("ann, bob", Some(MemberRole::Member), None),
        ],
        "public and private rooms by name, then direct rooms"
    );
    assert_eq!(list[5].room.id, dm.id);
    let bobs: Vec<_> = store.rooms_for(bob.id, false).await.unwrap().into_iter().map(|l| l.room.id).collect();
    assert!(!bobs.contains(&zed.id) && bobs.contains(&dm.id) && bobs.contains(&apple.id));
}

pub async fn archived_rooms_are_listed_apart(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let old = store.create_room(new_room("Old", RoomType::Public, ann.id, 9)).await.unwrap();
    let hush = store.create_room(new_room("Hush", RoomType::Private, ann.id, 9)).await.unwrap();
    for room in [old.id, hush.id] {
        let archive = RoomChanges { name: None, topic: None, archived: Some(true), at: Timestamp::from_millis(20) };
        assert!(store.update_room(room, archive).await.unwrap().unwrap().archived);
    }
    let names = |list: Vec<crate::domain::RoomListing>| list.into_iter().map(|l| l.room.name.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(store.rooms_for(ann.id, true).await.unwrap()), ["Hush", "Old"]);
    assert!(!names(store.rooms_for(ann.id, false).await.unwrap()).contains(&"Old".to_owned()));
    assert_eq!(names(store.rooms_for(bob.id, true).await.unwrap()), ["Old"], "a private archived room is its members' only");
}

pub async fn one_set_of_people_has_one_direct_room_even_when_asked_at_once(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let key = format!("{},{}", ann.id, bob.id);
    let at = Timestamp::from_millis(9);
    let members = [ann.id, bob.id];
    let asks = (0..8).map(|_| store.direct_room(&key, "ann, bob", &members, at));
    let answers: Vec<_> = futures_util::future::join_all(asks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|(_, made)| *made).count(), 1, "made once");
    let room = &answers[0].0;
    assert!(answers.iter().all(|(r, _)| r.id == room.id));
    assert_eq!((room.room_type, room.name.as_str(), room.created_by), (RoomType::Direct, "ann, bob", None));
    assert_eq!(store.member_ids(room.id).await.unwrap(), [ann.id, bob.id]);
    assert_eq!(store.membership(room.id, ann.id).await.unwrap().map(|m| m.role), Some(MemberRole::Member));
    let (again, made) = store.direct_room(&key, "ann, bob", &[ann.id, bob.id], at).await.unwrap();
    assert_eq!((again.id, made), (room.id, false));
    let (group, made) =
        store.direct_room(&format!("{},{},{}", ann.id, bob.id, cat.id), "ann, bob, cat", &[ann.id, bob.id, cat.id], at).await.unwrap();
    assert!(made && group.id != room.id);
    // A direct room takes no name from anyone.
    store.create_room(new_room("ann, bob", RoomType::Public, cat.id, 9)).await.unwrap();
}

pub async fn a_room_is_renamed_given_a_topic_archived_and_unarchived(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let room = store.create_room(new_room("Draft", RoomType::Public, ann.id, 9)).await.unwrap();
    let at = Timestamp::from_millis(50);
    let change = |name: Option<&str>, topic: Option<&str>, archived: Option<bool>| RoomChanges {
        name: name.map(|n| RoomName::parse(n).unwrap()),
        topic: topic.map(|t| Topic::parse(t).unwrap()),
        archived,
        at,
    };
    let renamed = store.update_room(room.id, change(Some("Final"), Some("Ship it"), None)).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.topic.as_str(), renamed.archived), ("Final", "Ship it", false));
    assert!(store.room_by_name("draft").await.unwrap().is_none());
    assert!(matches!(store.update_room(room.id, change(Some("G\u{0435}neral"), None, None)).await, Err(StoreError::RoomNameTaken)));
    assert!(store.update_room(room.id, change(None, None, Some(true))).await.unwrap().unwrap().archived);
    let back = store.update_room(room.id, change(None, Some(""), Some(false))).await.unwrap().unwrap();
    assert_eq!((back.name.as_str(), back.topic.as_str(), back.archived), ("Final", "", false));
    assert_eq!(store.update_room(room.id, change(None, None, None)).await.unwrap(), Some(back), "no change reads the room");
    assert!(store.update_room(RoomId(999_999), change(None, Some("x"), None)).await.unwrap().is_none());
}
