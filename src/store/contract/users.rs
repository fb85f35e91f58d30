//! [`crate::store::UserStore`].

use super::{new_user, StoreError};
use crate::domain::{AvatarColor, DisplayName, Email, Role, Timestamp, UserId};
use crate::store::Store;

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

pub async fn the_first_account_is_an_admin_and_later_ones_are_members(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    assert_eq!((ann.role, bob.role), (Role::Admin, Role::Member));
    assert!(!ann.deactivated);
    assert_eq!(store.user(ann.id).await.unwrap().map(|u| u.role), Some(Role::Admin));
    assert_eq!(store.user(bob.id).await.unwrap().map(|u| u.role), Some(Role::Member));
}

pub async fn users_are_found_by_id_and_by_a_list_of_ids_in_id_order(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    assert_eq!(store.user(bob.id).await.unwrap().map(|u| u.username), Some(bob.username.clone()));
    assert!(store.user(UserId(999_999)).await.unwrap().is_none());
    let found = store.users_by_ids(&[bob.id, UserId(999_999), ann.id]).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [ann.id, bob.id], "unknown ids are left out");
    assert!(store.users_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn a_search_matches_part_of_a_username_or_display_name_and_leaves_out_the_deactivated(store: &dyn Store) {
    let mut ann = new_user("ann");
    ann.display_name = DisplayName::parse(Some("Ann Lund"), &ann.username).unwrap();
    let ann = store.create_user(ann).await.unwrap();
    let joanna = store.create_user(new_user("Joanna")).await.unwrap();
    let bob = store.create_user(new_user("bob_x")).await.unwrap();
    let gone = store.create_user(new_user("annie")).await.unwrap();
    store.set_deactivated(gone.id, Some(Timestamp::from_millis(5))).await.unwrap();
    let names = |v: Vec<crate::domain::User>| v.into_iter().map(|u| u.username.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(store.search_users(Some("ann"), 50, false).await.unwrap()), ["ann", "Joanna"], "by folded username");
    assert_eq!(names(store.search_users(Some("ann"), 50, true).await.unwrap()), ["ann", "annie", "Joanna"]);
    assert_eq!(names(store.search_users(Some("lund"), 50, false).await.unwrap()), ["ann"], "by display name");
    assert_eq!(names(store.search_users(Some("_"), 50, false).await.unwrap()), ["bob_x"], "wildcards are literal");
    assert_eq!(names(store.search_users(Some("%"), 50, false).await.unwrap()), Vec::<String>::new());
    assert_eq!(names(store.search_users(None, 2, false).await.unwrap()), ["ann", "bob_x"], "ordered, limited");
    let _ = (ann, joanna, bob);
}

pub async fn a_profile_a_password_a_role_and_deactivation_are_changed_in_place(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let name = DisplayName::parse(Some("Bobby"), &bob.username).unwrap();
    let colour = AvatarColor::from_trusted("#00897b".into());
    let changed = store.update_profile(bob.id, Some(name.clone()), None).await.unwrap().unwrap();
    assert_eq!((&changed.display_name, &changed.avatar_color), (&name, &bob.avatar_color));
    let changed = store.update_profile(bob.id, None, Some(colour.clone())).await.unwrap().unwrap();
    assert_eq!((&changed.display_name, &changed.avatar_color), (&name, &colour));
    assert_eq!(store.update_profile(bob.id, None, None).await.unwrap().map(|u| u.display_name), Some(name));
    assert!(store.update_profile(UserId(999_999), None, Some(colour)).await.unwrap().is_none());

    store.set_password_hash(bob.id, "$argon2id$new").await.unwrap();
    assert_eq!(store.user(bob.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert_eq!(store.user(ann.id).await.unwrap().unwrap().password_hash, "$argon2id$fake", "only bob's");

    assert_eq!(store.set_role(bob.id, Role::Admin).await.unwrap().map(|u| u.role), Some(Role::Admin));
    assert!(store.set_role(UserId(999_999), Role::Admin).await.unwrap().is_none());
    assert!(store.set_deactivated(bob.id, Some(Timestamp::from_millis(7))).await.unwrap().unwrap().deactivated);
    assert!(!store.set_deactivated(bob.id, None).await.unwrap().unwrap().deactivated);
    let _ = Email::parse("x@example.com");
    let _: Option<StoreError> = None;
}

pub async fn only_active_admins_are_counted(store: &dyn Store) {
    let ann = store.create_user(new_user("ann")).await.unwrap();
    let bob = store.create_user(new_user("bob")).await.unwrap();
    assert_eq!(store.count_active_admins().await.unwrap(), 1);
    store.set_role(bob.id, Role::Admin).await.unwrap();
    assert_eq!(store.count_active_admins().await.unwrap(), 2);
    store.set_deactivated(ann.id, Some(Timestamp::from_millis(3))).await.unwrap();
    assert_eq!(store.count_active_admins().await.unwrap(), 1);
}
