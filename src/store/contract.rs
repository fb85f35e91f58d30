//! The contract every `Store` backend passes. Each function gets a fresh,
//! migrated, empty store; each backend's test module runs them all through
//! [`contract_tests!`].

use crate::domain::{
    AvatarColor, ClientId, DisplayName, Email, MessageBody, MessageId, MessageType, NewMessage, NewUser, Page, RoomId,
    RoomName, RoomType, Timestamp, UserSummary, Username,
};

use super::{Inserted, NewSession, Store, StoreError};

pub(crate) fn new_user(name: &str) -> NewUser {
    let username = Username::parse(name).unwrap();
    NewUser {
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        display_name: DisplayName::parse(None, &username).unwrap(),
        avatar_color: AvatarColor::for_username(&username),
        password_hash: "$argon2id$fake".into(),
        created_at: Timestamp::from_millis(1_000),
        username,
    }
}

pub(crate) fn message(room: RoomId, author: &UserSummary, text: &str, client_id: Option<&str>, at: i64) -> NewMessage {
    NewMessage {
        room_id: room,
        author: author.clone(),
        body: MessageBody::parse(text).unwrap(),
        message_type: MessageType::Text,
        client_id: client_id.map(|c| ClientId::parse(c).unwrap()),
        created_at: Timestamp::from_millis(at),
    }
}

async fn general(store: &dyn Store) -> RoomId {
    let room = store.room(RoomId(1)).await.unwrap().expect("a fresh store has room 1");
    assert_eq!(room.name.as_str(), "General");
    room.id
}

pub async fn a_fresh_store_has_the_three_public_rooms(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let rooms = store.rooms_visible_to(user.id).await.unwrap();
    let names: Vec<_> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["General", "Technology", "Random"]);
    assert!(rooms.iter().all(|r| r.room_type == RoomType::Public && r.created_by.is_none()));
}

pub async fn usernames_and_emails_are_unique_case_insensitively(store: &dyn Store) {
    store.create_user(new_user("ann")).await.unwrap();
    let mut same_name = new_user("ANN");
    same_name.email = Email::parse("other@example.com").unwrap();
    assert!(matches!(store.create_user(same_name).await, Err(StoreError::UsernameTaken)));
    let mut same_email = new_user("bob");
    same_email.email = Email::parse("Ann@Example.com").unwrap();
    assert!(matches!(store.create_user(same_email).await, Err(StoreError::EmailTaken)));
    let found = store.user_by_username("ann").await.unwrap().unwrap();
    assert_eq!(found.username.as_str(), "ann");
    assert!(store.user_by_username("nobody").await.unwrap().is_none());
}

pub async fn a_user_is_found_by_the_folded_email(store: &dyn Store) {
    let ann = store.create_user(new_user("Ann")).await.unwrap();
    let folded = Email::parse("ANN@Example.com").unwrap().folded();
    assert_eq!(store.user_by_email(&folded).await.unwrap().map(|u| u.id), Some(ann.id));
    assert!(store.user_by_email("nobody@example.com").await.unwrap().is_none());
}

pub async fn a_session_finds_its_user_until_it_expires_or_is_deleted(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let session = NewSession {
        token_hash: vec![7; 32],
        user_id: user.id,
        created_at: Timestamp::from_millis(1_000),
        expires_at: Timestamp::from_millis(5_000),
    };
    store.create_session(session).await.unwrap();
    let found = store.session_user(&[7; 32], Timestamp::from_millis(4_999)).await.unwrap().expect("live session");
    assert_eq!(found.user.id, user.id);
    assert_eq!(found.expires_at, Timestamp::from_millis(5_000));
    assert!(store.session_user(&[7; 32], Timestamp::from_millis(5_000)).await.unwrap().is_none(), "expired");
    assert!(store.session_user(&[8; 32], Timestamp::from_millis(1_000)).await.unwrap().is_none());
    store.delete_session(&[7; 32]).await.unwrap();
    assert!(store.session_user(&[7; 32], Timestamp::from_millis(2_000)).await.unwrap().is_none());
}

pub async fn last_seen_is_kept_to_the_millisecond(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    store.set_last_seen(user.id, Timestamp::from_millis(1_795_492_347_123)).await.unwrap();
    let found = store.user_by_username("ann").await.unwrap().unwrap();
    assert_eq!(found.last_seen, Some(Timestamp::from_millis(1_795_492_347_123)));
}

pub async fn who_was_online_at_a_stop_is_remembered_until_taken(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let cat = store.create_user(new_user("cat")).await.unwrap();
    let now = Timestamp::from_millis(100);
    let nothing = store.take_online(now).await.unwrap();
    assert!(nothing.online.is_empty() && nothing.sessions.is_empty(), "a fresh database remembers no one");
    // Ann has two live sessions and an expired one; cat a live one, but cat
    // was not online at the stop.
    for (token, user, expires_at) in [(1u8, ann.id, 500), (2, ann.id, 900), (3, ann.id, 50), (4, cat.id, 900)] {
        let session = NewSession {
            token_hash: vec![token; 32],
            user_id: user,
            created_at: Timestamp::from_millis(1),
            expires_at: Timestamp::from_millis(expires_at),
        };
        store.create_session(session).await.unwrap();
    }
    store.save_online(&[cat.id, ann.id], Timestamp::from_millis(5)).await.unwrap();
    store.save_online(&[bob.id, ann.id, bob.id], Timestamp::from_millis(9)).await.unwrap();
    let taken = store.take_online(now).await.unwrap();
    let names: Vec<_> = taken.online.iter().map(|(u, at)| (u.username.as_str(), at.as_millis())).collect();
    assert_eq!(names, [("ann", 9), ("bob", 9)], "the latest stop replaces the one before; each user once, in id order");
    let sessions: Vec<_> =
        taken.sessions.iter().map(|(hash, s)| (hash[0], s.user.username.as_str(), s.expires_at.as_millis())).collect();
    assert_eq!(sessions, [(2, "ann", 900), (1, "ann", 500)], "the live sessions of who was online, latest to expire first");
    assert!(store.take_online(now).await.unwrap().online.is_empty(), "taken once");
    store.save_online(&[], Timestamp::from_millis(10)).await.unwrap();
    assert!(store.take_online(now).await.unwrap().online.is_empty());
}

pub async fn room_names_are_unique_case_insensitively_and_the_creator_is_owner(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let name = RoomName::parse("Rust").unwrap();
    let room = store.create_room(&name, RoomType::Public, user.id, Timestamp::from_millis(9)).await.unwrap();
    assert_eq!(room.created_by, Some(user.id));
    assert_eq!(store.room(room.id).await.unwrap(), Some(room.clone()));
    assert!(store.is_member(room.id, user.id).await.unwrap());
    let again = RoomName::parse("rUST").unwrap();
    assert!(matches!(
        store.create_room(&again, RoomType::Public, user.id, Timestamp::from_millis(9)).await,
        Err(StoreError::RoomNameTaken)
    ));
    assert!(matches!(
        store.create_room(&RoomName::parse("general").unwrap(), RoomType::Public, user.id, Timestamp::from_millis(9)).await,
        Err(StoreError::RoomNameTaken)
    ));
    assert!(store.room(RoomId(999)).await.unwrap().is_none());
}

/// The `name_key` column's unique index holds the rule, not only a check
/// before the insert: `Gеneral` (Cyrillic `е`) differs from `General` in
/// `room_name_folded` and is refused by the key alone.
pub async fn room_names_are_unique_by_their_confusable_skeleton(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let at = Timestamp::from_millis(9);
    for look_alike in ["G\u{0435}neral", "GENERAL", "R\u{0430}nd\u{043E}m"] {
        let name = RoomName::parse(look_alike).unwrap();
        assert!(
            matches!(store.create_room(&name, RoomType::Public, user.id, at).await, Err(StoreError::RoomNameTaken)),
            "{look_alike:?}"
        );
    }
    let cafe = store.create_room(&RoomName::parse("Caf\u{00E9}").unwrap(), RoomType::Public, user.id, at).await.unwrap();
    assert_eq!(store.room(cafe.id).await.unwrap().unwrap().name.as_str(), "Caf\u{00E9}");
    for same in ["Cafe\u{0301}", "C\u{0430}f\u{00E9}", "caf\u{00C9}"] {
        let name = RoomName::parse(same).unwrap();
        assert!(
            matches!(store.create_room(&name, RoomType::Public, user.id, at).await, Err(StoreError::RoomNameTaken)),
            "{same:?}"
        );
    }
    store.create_room(&RoomName::parse("Caf\u{00E9}s").unwrap(), RoomType::Public, user.id, at).await.unwrap();
}

/// Not in the suite (a backend's test sets the stage with its own SQL): a
/// database from before migration 0003, with user `ann` and a look-alike of
/// General that the old rule let in, every key NULL, has just been opened
/// again. Both look-alikes stay, and no new one can be made.
pub async fn rooms_from_before_the_name_key_were_keyed_at_the_start(store: &dyn Store) {
    let ann = store.user_by_username("ann").await.unwrap().expect("ann");
    let rooms = store.rooms_visible_to(ann.id).await.unwrap();
    assert_eq!(rooms.len(), 4, "both look-alikes stay: {rooms:?}");
    let at = Timestamp::from_millis(2);
    for name in ["general", "G\u{0435}neral", "R\u{0430}ndom"] {
        let made = store.create_room(&RoomName::parse(name).unwrap(), RoomType::Public, ann.id, at).await;
        assert!(matches!(made, Err(StoreError::RoomNameTaken)), "{name:?}: {made:?}");
    }
}

/// The look-alike row and the NULL keys, in SQL every backend takes.
pub const UNKEY_ROOMS_SQL: [&str; 2] = [
    "INSERT INTO rooms (room_name, room_name_folded, created_at) VALUES ('G\u{0435}neral', 'g\u{0435}neral', 1)",
    "UPDATE rooms SET name_key = NULL",
];

pub async fn private_rooms_are_visible_to_members_only(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bo = store.create_user(new_user("bob")).await.unwrap();
    let secret = RoomName::parse("Secret").unwrap();
    let room = store.create_room(&secret, RoomType::Private, ann.id, Timestamp::from_millis(9)).await.unwrap();
    assert!(store.rooms_visible_to(ann.id).await.unwrap().iter().any(|r| r.id == room.id));
    assert!(!store.rooms_visible_to(bo.id).await.unwrap().iter().any(|r| r.id == room.id));
    assert!(!store.is_member(room.id, bo.id).await.unwrap());
}

pub async fn messages_are_stored_verbatim_and_paged_in_id_order(store: &dyn Store) {
    let user = store.create_user(new_user("ann")).await.unwrap();
    let author = UserSummary::from(&user);
    let room = general(store).await;
    let text = "<script>alert('é😀')</script>";
    let (first, inserted) = store.insert_message(message(room, &author, text, None, 100)).await.unwrap();
    assert_eq!(inserted, Inserted::New);
    let mut ids = vec![first.id];
    for i in 1..10 {
        let (m, _) = store.insert_message(message(room, &author, &format!("m{i}"), None, 100 + i)).await.unwrap();
        assert!(m.id > *ids.last().unwrap(), "ids grow");
        ids.push(m.id);
    }
    let latest = store.messages(room, Page::Latest { limit: 100 }).await.unwrap();
    assert_eq!(latest.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert_eq!(latest[0], first);
    assert_eq!(latest[0].body.as_str(), text);
    assert_eq!(latest[0].created_at, Timestamp::from_millis(100));
    assert_eq!(latest[0].author, author);
    let ids_of = |v: Vec<crate::domain::Message>| v.into_iter().map(|m| m.id).collect::<Vec<MessageId>>();
    assert_eq!(ids_of(store.messages(room, Page::Latest { limit: 3 }).await.unwrap()), ids[7..]);
    assert_eq!(ids_of(store.messages(room, Page::Before { id: ids[5], limit: 2 }).await.unwrap()), ids[3..5]);
    assert_eq!(ids_of(store.messages(room, Page::After { id: ids[5], limit: 2 }).await.unwrap()), ids[6..8]);
    assert!(store.messages(RoomId(2), Page::Latest { limit: 10 }).await.unwrap().is_empty());
}

pub async fn a_repeated_client_id_returns_the_first_message(store: &dyn Store) {
    let ann = UserSummary::from(&store.create_user(new_user("ann")).await.unwrap());
    let bo = UserSummary::from(&store.create_user(new_user("bob")).await.unwrap());
    let room = general(store).await;
    let (first, _) = store.insert_message(message(room, &ann, "one", Some("c1"), 1)).await.unwrap();
    let (again, inserted) = store.insert_message(message(room, &ann, "one (retry)", Some("c1"), 2)).await.unwrap();
    assert_eq!(inserted, Inserted::Existing);
    assert_eq!(again, first);
    let (other, inserted) = store.insert_message(message(room, &bo, "bob's", Some("c1"), 3)).await.unwrap();
    assert_eq!(inserted, Inserted::New, "client ids are per user");
    assert_ne!(other.id, first.id);
    assert_eq!(store.messages(room, Page::Latest { limit: 10 }).await.unwrap().len(), 2);
}

/// Group commit: sends that arrive together share transactions, across rooms;
/// retries are found within a batch and across batches, and one bad send
/// (a room that does not exist) fails alone.
pub async fn concurrent_sends_are_committed_together_with_retries_found_in_and_across_batches(store: &dyn Store) {
    let user = UserSummary::from(&store.create_user(new_user("ann")).await.unwrap());
    let send = |room: i64, text: String, client_id: Option<String>| NewMessage {
        room_id: RoomId(room),
        author: user.clone(),
        body: MessageBody::parse(&text).unwrap(),
        message_type: MessageType::Text,
        client_id: client_id.map(|c| ClientId::parse(&c).unwrap()),
        created_at: Timestamp::from_millis(1),
    };
    let (earlier, _) = store.insert_message(send(1, "earlier".into(), Some("old".into()))).await.unwrap();
    // 300 sends at once over the three rooms: they queue while the writers are
    // busy and go in batches.
    let sends = (0..300).map(|i| {
        let client_id = match i % 3 {
            0 => None,
            1 => Some(format!("c{}", i / 6)), // each such id is sent twice, to one room
            _ => Some("old".to_owned()),       // a retry of the earlier send
        };
        store.insert_message(send(1 + (i / 6) % 3, format!("m{i}"), client_id))
    });
    let bad = store.insert_message(send(999_999, "nowhere".into(), None));
    let (results, bad) = tokio::join!(futures_util::future::join_all(sends), bad);
    assert!(bad.is_err(), "a send to a room that does not exist fails");
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    let new: Vec<_> = results.iter().filter(|(_, inserted)| *inserted == Inserted::New).collect();
    assert_eq!(new.len(), 100 + 50, "100 without a client id, 50 distinct new ids");
    for (m, inserted) in &results {
        if m.client_id.as_ref().is_some_and(|c| c.as_str() == "old") {
            assert_eq!((m.id, *inserted), (earlier.id, Inserted::Existing));
        }
    }
    let paired: Vec<_> = results.iter().filter(|(m, _)| m.client_id.as_ref().is_some_and(|c| c.as_str() != "old")).collect();
    for pair in paired.chunks(2) {
        assert_eq!(pair[0].0.id, pair[1].0.id, "both sends of one client id get one message");
        assert_eq!(pair.iter().filter(|(_, inserted)| *inserted == Inserted::New).count(), 1, "one of them is new");
    }
    let mut stored = Vec::new();
    for room in 1..=3 {
        let page = store.messages(RoomId(room), Page::After { id: MessageId(0), limit: 200 }).await.unwrap();
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "a room's messages in id order");
        stored.extend(page);
    }
    assert_eq!(stored.len(), 151, "the earlier send and the 150 new ones, nothing twice");
    for (m, _) in &new {
        let row = stored.iter().find(|s| s.id == m.id).expect("every new id is stored");
        assert_eq!((&row.body, row.room_id), (&m.body, m.room_id), "ids match their own text and room");
    }
}

/// Generates one `#[tokio::test]` per contract function for a backend;
/// `$open` is an async fn giving `Some((fresh store, guard kept alive))`, or
/// `None` when the backend's server is not configured (the test is skipped).
#[macro_export]
macro_rules! contract_tests {
    ($open:path) => {
        $crate::contract_tests!(@each $open;
            a_fresh_store_has_the_three_public_rooms,
            usernames_and_emails_are_unique_case_insensitively,
            a_user_is_found_by_the_folded_email,
            a_session_finds_its_user_until_it_expires_or_is_deleted,
            last_seen_is_kept_to_the_millisecond,
            who_was_online_at_a_stop_is_remembered_until_taken,
            room_names_are_unique_case_insensitively_and_the_creator_is_owner,
            room_names_are_unique_by_their_confusable_skeleton,
            private_rooms_are_visible_to_members_only,
            messages_are_stored_verbatim_and_paged_in_id_order,
            a_repeated_client_id_returns_the_first_message,
            concurrent_sends_are_committed_together_with_retries_found_in_and_across_batches,
        );
    };
    (@each $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, _guard)) = $open().await else {
                    eprintln!("skipped: no test database server configured");
                    return;
                };
                $crate::store::contract::$name(&*store).await;
                // Close the pool before the guard drops the database, so no
                // connection of it still holds a lock the drop must wait for.
                store.close().await;
            }
        )*
    };
}
