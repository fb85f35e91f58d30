//! The contract every backend passes, one suite per port ([`super::ports`]).
//! Each function gets a fresh, migrated, empty store; each backend's test
//! module runs every suite through [`contract_tests!`], as one test module per
//! port (`cargo test --lib store::sqlite::tests::rooms::`).

use crate::domain::{
    AvatarColor, ClientId, DisplayName, Email, MessageBody, MessageType, NewMessage, NewRoom, NewUser, RoomId, RoomName,
    RoomType, Timestamp, Topic, UserId, UserSummary, Username,
};

use super::{Store, StoreError};

pub mod invites;
pub mod members;
pub mod messages;
pub mod presence;
pub mod rooms;
pub mod sessions;
pub mod settings;
pub mod users;

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

/// A room named `name` of `room_type`, made by `by` at `at` with no other member.
pub(crate) fn new_room(name: &str, room_type: RoomType, by: UserId, at: i64) -> NewRoom {
    NewRoom {
        name: RoomName::parse(name).unwrap(),
        room_type,
        topic: Topic::parse("").unwrap(),
        created_by: by,
        at: Timestamp::from_millis(at),
        members: Vec::new(),
    }
}

async fn general(store: &dyn Store) -> RoomId {
    let room = store.room(RoomId(1)).await.unwrap().expect("a fresh store has room 1");
    assert_eq!(room.name.as_str(), "General");
    room.id
}

/// Not in the suite (a backend's test sets the stage with its own SQL): a
/// database from before migration 0003, with user `ann` and a look-alike of
/// General that the old rule let in, every key NULL, has just been opened
/// again. Both look-alikes stay, and no new one can be made.
pub async fn rooms_from_before_the_name_key_were_keyed_at_the_start(store: &dyn Store) {
    let ann = store.user_by_username("ann").await.unwrap().expect("ann");
    let rooms = store.rooms_visible_to(ann.id).await.unwrap();
    assert_eq!(rooms.len(), 4, "both look-alikes stay: {rooms:?}");
    for name in ["general", "G\u{0435}neral", "R\u{0430}ndom"] {
        let made = store.create_room(new_room(name, RoomType::Public, ann.id, 2)).await;
        assert!(matches!(made, Err(StoreError::RoomNameTaken)), "{name:?}: {made:?}");
    }
}

/// The look-alike row and the NULL keys, in SQL every backend takes.
pub const UNKEY_ROOMS_SQL: [&str; 2] = [
    "INSERT INTO rooms (room_name, room_name_folded, created_at) VALUES ('G\u{0435}neral', 'g\u{0435}neral', 1)",
    "UPDATE rooms SET name_key = NULL",
];

/// Generates, for a backend, one test module per port with one
/// `#[tokio::test]` per contract function. `$open` names an async fn of the
/// calling module giving `Some((fresh store, guard kept alive))`, or `None`
/// when the backend's server is not configured (the test is skipped).
#[macro_export]
macro_rules! contract_tests {
    ($open:ident) => {
        $crate::contract_tests!(@ports $open;
            users: [
                usernames_and_emails_are_unique_case_insensitively,
                a_user_is_found_by_the_folded_email,
                the_first_account_is_an_admin_and_later_ones_are_members,
                users_are_found_by_id_and_by_a_list_of_ids_in_id_order,
                a_search_matches_part_of_a_username_or_display_name_and_leaves_out_the_deactivated,
                a_profile_a_password_a_role_and_deactivation_are_changed_in_place,
                only_active_admins_are_counted,
            ],
            sessions: [
                a_session_finds_its_user_until_it_expires_or_is_deleted,
                a_deactivated_user_s_sessions_find_no_one,
                ending_a_user_s_sessions_keeps_the_one_excepted_and_names_those_ended,
            ],
            presence: [
                last_seen_is_kept_to_the_millisecond,
                who_was_online_at_a_stop_is_remembered_until_taken,
            ],
            rooms: [
                a_fresh_store_has_the_three_public_rooms,
                room_names_are_unique_case_insensitively_and_the_creator_is_owner,
                room_names_are_unique_by_their_confusable_skeleton,
                private_rooms_are_visible_to_members_only,
                a_room_is_made_with_its_members_and_topic_and_found_by_name,
                a_room_list_holds_public_and_member_rooms_with_role_and_last_message,
                archived_rooms_are_listed_apart,
                one_set_of_people_has_one_direct_room_even_when_asked_at_once,
                a_room_is_renamed_given_a_topic_archived_and_unarchived,
            ],
            members: [
                membership_has_a_role_and_a_join_time,
                adding_members_adds_only_those_not_yet_members,
                a_member_is_removed_or_given_another_role,
                a_user_s_member_rooms_leave_out_archived_ones_and_members_come_in_join_order,
                the_members_of_many_rooms_come_in_one_answer_by_room_then_user,
            ],
            messages: [
                messages_are_stored_verbatim_and_paged_in_id_order,
                a_repeated_client_id_returns_the_first_message,
                concurrent_sends_are_committed_together_with_retries_found_in_and_across_batches,
            ],
            settings: [
                settings_never_set_have_their_defaults,
                settings_are_stored_and_replaced,
            ],
            invites: [
                an_invite_is_live_until_used_up_expired_or_revoked,
                an_invite_s_last_use_is_taken_once_by_concurrent_registrations,
            ],
        );
    };
    (@ports $open:ident; $($port:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $port {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let Some((store, _guard)) = super::$open().await else {
                            eprintln!("skipped: no test database server configured");
                            return;
                        };
                        $crate::store::contract::$port::$name(&*store).await;
                        // Close the pool before the guard drops the database, so no
                        // connection of it still holds a lock the drop must wait for.
                        store.close().await;
                    }
                )*
            }
        )*
    };
}

/// A database as it was before migration 0004, with two users and a room
/// that bob made: `migrations/<backend>` up to 0003 run from a copy in `dir`,
/// then [`BEFORE_0004_SQL`] (run by the caller on its connection).
pub async fn migrations_before_0004(backend: &str, dir: &std::path::Path) -> sqlx::migrate::Migrator {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0004" {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(dir.to_path_buf()).await.unwrap()
}

/// Two users and bob's room, in the schema of migration 0003.
pub const BEFORE_0004_SQL: [&str; 2] = [
    "INSERT INTO users (username, username_folded, email, email_folded, display_name, password_hash, avatar_color, created_at) \
     VALUES ('ann', 'ann', 'ann@example.com', 'ann@example.com', 'ann', 'h', '#e53935', 1), \
            ('bob', 'bob', 'bob@example.com', 'bob@example.com', 'bob', 'h', '#e53935', 2)",
    "INSERT INTO rooms (room_name, room_name_folded, name_key, room_type, created_by, created_at) \
     VALUES ('Bobs', 'bobs', 'bobs', 'public', 2, 3)",
];

/// Not in the suite (the stage is [`BEFORE_0004_SQL`]): migration 0004 made
/// every user a member of General, bob the owner of his room, and the first
/// user the admin.
pub async fn migration_0004_made_membership_last_and_the_first_user_admin(store: &dyn Store) {
    use crate::domain::{MemberRole, Role};
    let ann = store.user_by_username("ann").await.unwrap().unwrap();
    let bob = store.user_by_username("bob").await.unwrap().unwrap();
    assert_eq!((ann.role, bob.role), (Role::Admin, Role::Member));
    assert_eq!(store.member_ids(RoomId(1)).await.unwrap(), [ann.id, bob.id], "everyone is in General");
    let bobs = store.room_by_name("bobs").await.unwrap().unwrap();
    assert_eq!((bobs.topic.as_str(), bobs.archived), ("", false));
    assert_eq!(store.membership(bobs.id, bob.id).await.unwrap().map(|m| m.role), Some(MemberRole::Owner));
    assert!(!store.is_member(bobs.id, ann.id).await.unwrap());
    assert_eq!(store.settings().await.unwrap(), crate::domain::ServerSettings::default());
}
