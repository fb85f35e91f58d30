//! [`crate::store::MessageStore`].

use super::{general, message, new_user};
use crate::domain::{ClientId, MessageBody, MessageId, MessageType, NewMessage, Page, RoomId, Timestamp, UserSummary};
use crate::store::{Inserted, Store};

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
