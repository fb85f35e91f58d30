//! Server settings ([`crate::store::SettingsStore`]): one row per setting set.

use super::Stmt;
use crate::domain::{RegistrationMode, ServerSettings};

const REGISTRATION: &str = "registration";
const EDIT_WINDOW: &str = "edit_window_s";

pub fn all() -> Stmt {
    Stmt::new("SELECT name, value FROM server_settings")
}

/// The settings from `(name, value)` rows; a missing or unreadable row is the default.
pub fn from_rows(rows: impl IntoIterator<Item = (String, String)>) -> ServerSettings {
    let mut settings = ServerSettings::default();
    for (name, value) in rows {
        match name.as_str() {
            REGISTRATION => settings.registration = RegistrationMode::parse(&value).unwrap_or_default(),
            EDIT_WINDOW => settings.edit_window_s = value.parse().ok(),
            _ => {}
        }
    }
    settings
}

/// The statements that store `settings`, in one transaction.
pub fn put(settings: &ServerSettings) -> Vec<Stmt> {
    let mut put = vec![
        Stmt::new("DELETE FROM server_settings WHERE name IN (").bind_list([REGISTRATION, EDIT_WINDOW]).push(")"),
        Stmt::new("INSERT INTO server_settings (name, value) VALUES (")
            .bind(REGISTRATION)
            .push(", ")
            .bind(settings.registration.as_str())
            .push(")"),
    ];
    if let Some(window) = settings.edit_window_s {
        put.push(
            Stmt::new("INSERT INTO server_settings (name, value) VALUES (")
                .bind(EDIT_WINDOW)
                .push(", ")
                .bind(window.to_string())
                .push(")"),
        );
    }
    put
}
