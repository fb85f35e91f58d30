//! Server-wide settings and invites (docs/protocol.md, "Accounts and administration").

use serde::{Deserialize, Serialize};

use super::{Timestamp, UserId};

/// Who may register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    #[default]
    Open,
    InviteOnly,
    Closed,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InviteOnly => "invite_only",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "invite_only" => Some(Self::InviteOnly),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// The settings an admin changes; a setting never stored has its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSettings {
    pub registration: RegistrationMode,
    /// How long a message stays editable, in seconds; `None` is unlimited.
    pub edit_window_s: Option<u64>,
}

/// A stored invite; the code itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    /// `None` once the admin who made it is deleted.
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub max_uses: u32,
    pub uses: u32,
}

/// What creating an invite stores.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub code_hash: Vec<u8>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub max_uses: u32,
}

impl NewInvite {
    /// The invite as stored under `id`, not used yet.
    pub fn stored_as(&self, id: i64) -> Invite {
        Invite {
            id,
            created_by: Some(self.created_by),
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_uses: self.max_uses,
            uses: 0,
        }
    }
}
