//! [`crate::store::SettingsStore`].

use crate::domain::{RegistrationMode, ServerSettings};
use crate::store::Store;

pub async fn settings_never_set_have_their_defaults(store: &dyn Store) {
    let settings = store.settings().await.unwrap();
    assert_eq!(settings, ServerSettings { registration: RegistrationMode::Open, edit_window_s: None });
}

pub async fn settings_are_stored_and_replaced(store: &dyn Store) {
    let invite_only = ServerSettings { registration: RegistrationMode::InviteOnly, edit_window_s: Some(900) };
    store.put_settings(&invite_only).await.unwrap();
    assert_eq!(store.settings().await.unwrap(), invite_only);
    let closed = ServerSettings { registration: RegistrationMode::Closed, edit_window_s: None };
    store.put_settings(&closed).await.unwrap();
    assert_eq!(store.settings().await.unwrap(), closed, "an unlimited window is stored as no row");
    store.put_settings(&closed).await.unwrap();
    assert_eq!(store.settings().await.unwrap(), closed);
}
