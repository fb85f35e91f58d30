//! The storage ports, one per aggregate. Each is a small trait with a doc line
//! per method and a contract suite of its own (`store::contract::<port>`) that
//! every backend runs. [`super::Store`] is all of them together.

mod database;
mod invites;
mod members;
mod messages;
mod presence;
mod rooms;
mod sessions;
mod settings;
mod users;

pub use database::Database;
pub use invites::InviteStore;
pub use members::MemberStore;
pub use messages::{Inserted, MessageStore};
pub use presence::{CarriedOver, PresenceStore};
pub use rooms::RoomStore;
pub use sessions::{NewSession, SessionStore, SessionUser};
pub use settings::SettingsStore;
pub use users::UserStore;
