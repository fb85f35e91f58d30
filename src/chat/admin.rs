//! Administration: server settings (who may register), invites, and the
//! roles and deactivation of users (docs/protocol.md, "Accounts and
//! administration"). Every use case here starts by checking that the caller is
//! an admin, read from the store (a role change counts at once).

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use blake2::{Blake2b, Digest, digest::consts::U32};

use super::{Audience, Chat, ClusterMsg, Event, Person, store_error};
use crate::domain::{
    ChatError, Invite, NewInvite, RegistrationMode, Role, ServerSettings, Timestamp, User, UserId, UserSummary,
};
use crate::store::Store;

/// Live invites at once, at most (`too_many_invites`).
pub const MAX_LIVE_INVITES: u64 = 100;
/// Uses of one invite: 1..=1000, 1 by default.
pub const INVITE_USES: std::ops::RangeInclusive<u32> = 1..=1000;
pub const DEFAULT_INVITE_USES: u32 = 1;
/// How long an invite lasts, in seconds: a minute to 30 days, a week by default.
pub const INVITE_LIFETIME_S: std::ops::RangeInclusive<i64> = 60..=2_592_000;
pub const DEFAULT_INVITE_LIFETIME_S: i64 = 604_800;

/// How long (in seconds) settings read from the store are trusted. A change
/// drops them at once, here and (through the cluster) on every instance; this
/// only bounds how long a change stays unseen when that word is lost (Redis away).
pub const SETTINGS_RECHECK_SECS: i64 = 30;

/// The server settings as this instance last read them. Registration reads
/// them every time; they change rarely, so they are kept until a change here
/// or on another instance ([`ClusterMsg::SettingsChanged`]) drops them.
#[derive(Default)]
pub(super) struct SettingsCache {
    /// The settings and when the store gave them.
    current: RwLock<Option<(ServerSettings, Timestamp)>>,
    /// Counts changes, so that a load that raced a change does not keep the
    /// settings from before it (as [`super::cache::SessionCache`] does).
    changes: AtomicU64,
}

impl SettingsCache {
    fn get(&self, now: Timestamp) -> Option<ServerSettings> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.as_ref().filter(|(_, at)| now < at.plus_seconds(SETTINGS_RECHECK_SECS)).map(|(s, _)| s.clone())
    }

    fn loaded(&self, settings: &ServerSettings, at: Timestamp, changes_before: u64) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if self.changes.load(Ordering::SeqCst) == changes_before {
            *current = Some((settings.clone(), at));
        }
    }

    pub(super) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The secret of an invite link, shown once; only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode(String);

impl InviteCode {
    /// 16 random bytes, base64url without padding: 22 characters.
    fn generate() -> Result<Self, ChatError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            tracing::error!(error = %e, "no randomness for an invite code");
            ChatError::Internal
        })?;
        Ok(Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the store keeps (blake2b-256, as for session tokens).
    pub(super) fn hash_of(code: &str) -> Vec<u8> {
        Blake2b::<U32>::digest(code.trim().as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteCode(…)")
    }
}

/// A new invite with its code (the only time the code is known).
#[derive(Debug, Clone)]
pub struct CreatedInvite {
    pub invite: Invite,
    pub code: InviteCode,
}

/// What `PATCH /api/admin/settings` may change, unparsed.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange<'a> {
    pub registration: Option<&'a str>,
    /// `Some(None)`: unlimited (null); `Some(Some(n))`: n seconds.
    pub edit_window_s: Option<Option<i64>>,
}

/// What `PATCH /api/admin/users/<id>` may change.
#[derive(Debug, Clone, Default)]
pub struct UserChange<'a> {
    pub role: Option<&'a str>,
    pub deactivated: Option<bool>,
}

/// Reads a registration mode as the wire writes it.
fn parse_registration(raw: &str) -> Result<RegistrationMode, ChatError> {
    RegistrationMode::parse(raw)
        .ok_or_else(|| ChatError::InvalidSetting("registration is open, invite_only or closed".into()))
}

/// Reads a server role as the wire writes it (`moderator` is reserved).
pub fn parse_role(raw: &str) -> Result<Role, ChatError> {
    match raw {
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        _ => Err(ChatError::invalid("role is admin or member")),
    }
}

impl Chat {
    /// The caller as the store knows them now, if they are an admin.
    pub(super) async fn require_admin(&self, caller: &UserSummary) -> Result<User, ChatError> {
        let user = self.inner.store.user(caller.id).await.map_err(store_error)?;
        match user {
            Some(u) if u.deactivated => Err(ChatError::NotAuthenticated),
            Some(u) if u.role == Role::Admin => Ok(u),
            Some(_) => Err(ChatError::Forbidden),
            None => Err(ChatError::NotAuthenticated),
        }
    }

    /// The settings, from memory when this instance read them since the last change.
    pub(super) async fn server_settings(&self) -> Result<ServerSettings, ChatError> {
        let cache = &self.inner.settings;
        let now = self.inner.clock.now();
        if let Some(s) = cache.get(now) {
            return Ok(s);
        }
        let before = cache.changes.load(Ordering::SeqCst);
        let settings = self.inner.store.settings().await.map_err(store_error)?;
        cache.loaded(&settings, now, before);
        Ok(settings)
    }

    /// `GET /api/admin/settings`.
    pub async fn admin_settings(&self, caller: &UserSummary) -> Result<ServerSettings, ChatError> {
        self.require_admin(caller).await?;
        self.server_settings().await
    }

    /// `PATCH /api/admin/settings`: changes what is given, keeps the rest.
    pub async fn change_settings(
        &self,
        caller: &UserSummary,
        change: SettingsChange<'_>,
    ) -> Result<ServerSettings, ChatError> {
        self.require_admin(caller).await?;
        let registration = change.registration.map(parse_registration).transpose()?;
        let edit_window = match change.edit_window_s {
            None => None,
            Some(None) => Some(None),
            Some(Some(n)) => Some(Some(
                u64::try_from(n).map_err(|_| ChatError::InvalidSetting("edit_window_s is 0 or more, or null".into()))?,
            )),
        };
        let mut settings = self.inner.store.settings().await.map_err(store_error)?;
        if let Some(mode) = registration {
            settings.registration = mode;
        }
        if let Some(window) = edit_window {
            settings.edit_window_s = window;
        }
        self.inner.store.put_settings(&settings).await.map_err(store_error)?;
        self.settings_changed();
        if let Some(cluster) = &self.inner.cluster {
            cluster.broadcast(ClusterMsg::SettingsChanged);
        }
        tracing::info!(admin = %caller.id, registration = settings.registration.as_str(), "server settings changed");
        Ok(settings)
    }

    /// The settings changed (here or on another instance): read them again next time.
    pub(super) fn settings_changed(&self) {
        self.inner.settings.changed();
    }

    /// `POST /api/admin/invites`.
    pub async fn create_invite(
        &self,
        caller: &UserSummary,
        max_uses: Option<i64>,
        expires_in_s: Option<i64>,
    ) -> Result<CreatedInvite, ChatError> {
        let admin = self.require_admin(caller).await?;
        let max_uses = match max_uses {
            None => DEFAULT_INVITE_USES,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| INVITE_USES.contains(n))
                .ok_or_else(|| ChatError::invalid("max_uses is 1 to 1000"))?,
        };
        let lifetime = match expires_in_s {
            None => DEFAULT_INVITE_LIFETIME_S,
            Some(s) if INVITE_LIFETIME_S.contains(&s) => s,
            Some(_) => return Err(ChatError::invalid("expires_in_s is 60 to 2592000 (30 days)")),
        };
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        // Two admins racing for the 100th place may both get one: a limit
        // against mistakes, not a security boundary.
        if store.count_live_invites(now).await.map_err(store_error)? >= MAX_LIVE_INVITES {
            return Err(ChatError::TooManyInvites);
        }
        let code = InviteCode::generate()?;
        let new = NewInvite {
            code_hash: InviteCode::hash_of(code.expose()),
            created_by: admin.id,
            created_at: now,
            expires_at: now.plus_seconds(lifetime),
            max_uses,
        };
        let invite = store.create_invite(new).await.map_err(store_error)?;
        tracing::info!(admin = %admin.id, invite = invite.id, "invite created");
        Ok(CreatedInvite { invite, code })
    }

    /// `GET /api/admin/invites`: the invites that still work.
    pub async fn live_invites(&self, caller: &UserSummary) -> Result<Vec<Invite>, ChatError> {
        self.require_admin(caller).await?;
        self.inner.store.live_invites(self.inner.clock.now()).await.map_err(store_error)
    }

    /// `DELETE /api/admin/invites/<id>`: an unknown or already revoked one is `invite_not_found`.
    pub async fn revoke_invite(&self, caller: &UserSummary, id: i64) -> Result<(), ChatError> {
        self.require_admin(caller).await?;
        let revoked = self.inner.store.revoke_invite(id, self.inner.clock.now()).await.map_err(store_error)?;
        if revoked { Ok(()) } else { Err(ChatError::InviteNotFound) }
    }

    /// Registration may go on under the current mode: the first account
    /// always may; `closed` refuses; `invite_only` needs an invite, which is
    /// only checked (and used) by [`Chat::use_invite`], at the last step.
    pub(super) async fn registration_mode(&self, invite: Option<&str>) -> Result<RegistrationMode, ChatError> {
        let settings = self.server_settings().await?;
        if settings.registration == RegistrationMode::Open || self.no_users_yet().await? {
            return Ok(RegistrationMode::Open);
        }
        match settings.registration {
            RegistrationMode::Closed => Err(ChatError::RegistrationClosed),
            _ if invite.is_none_or(|c| c.trim().is_empty()) => Err(ChatError::InviteRequired),
            mode => Ok(mode),
        }
    }

    async fn no_users_yet(&self) -> Result<bool, ChatError> {
        let anyone = self.inner.store.search_users(None, 1, true).await.map_err(store_error)?;
        Ok(anyone.is_empty())
    }

    /// Takes one use of an invite, atomically: `invite_invalid` when it is
    /// unknown, expired, revoked or used up.
    pub(super) async fn use_invite(&self, code: &str) -> Result<(), ChatError> {
        let code = code.trim();
        // 22 characters as made; anything far off is not looked up.
        if code.is_empty() || code.len() > 64 {
            return Err(ChatError::InviteInvalid);
        }
        let used = self
            .inner
            .store
            .use_invite(&InviteCode::hash_of(code), self.inner.clock.now())
            .await
            .map_err(store_error)?;
        if used { Ok(()) } else { Err(ChatError::InviteInvalid) }
    }

    /// `PATCH /api/admin/users/<id>`: a role, or deactivation (which ends the
    /// user's sessions and closes their sockets at once, on every instance).
    /// The last active admin can be neither demoted nor deactivated.
    pub async fn change_user(
        &self,
        caller: &UserSummary,
        target: UserId,
        change: UserChange<'_>,
    ) -> Result<Person, ChatError> {
        self.require_admin(caller).await?;
        let role = change.role.map(parse_role).transpose()?;
        let store = &self.inner.store;
        let mut user = store.user(target).await.map_err(store_error)?.ok_or(ChatError::UserNotFound)?;
        let loses_admin = user.role == Role::Admin
            && !user.deactivated
            && (role == Some(Role::Member) || change.deactivated == Some(true));
        // Two admins demoting each other at the same moment could both pass:
        // `parley users set-role` is the way back if that ever happens.
        if loses_admin && store.count_active_admins().await.map_err(store_error)? <= 1 {
            return Err(ChatError::LastAdmin);
        }
        if let Some(role) = role
            && role != user.role
        {
            user = store.set_role(target, role).await.map_err(store_error)?.ok_or(ChatError::UserNotFound)?;
            tracing::info!(admin = %caller.id, user_id = %target, role = role.as_str(), "role changed");
        }
        if let Some(deactivated) = change.deactivated
            && deactivated != user.deactivated
        {
            let at = deactivated.then(|| self.inner.clock.now());
            user = store.set_deactivated(target, at).await.map_err(store_error)?.ok_or(ChatError::UserNotFound)?;
            if deactivated {
                self.end_sessions_of(target, None).await?;
            }
            tracing::info!(admin = %caller.id, user_id = %target, deactivated, "account deactivation changed");
        }
        let person = self.person(&user).await;
        self.publish(Audience::Everyone, Event::UserUpdated(person.clone()));
        Ok(person)
    }

    /// Deletes the user's sessions (but `except`, a token hash) and closes
    /// their connections, here and, through the cluster, on every instance.
    pub(super) async fn end_sessions_of(&self, user: UserId, except: Option<&[u8]>) -> Result<usize, ChatError> {
        let ended = self.inner.store.delete_sessions_of(user, except).await.map_err(store_error)?;
        for token_hash in &ended {
            self.session_ended(token_hash);
            if let Some(cluster) = &self.inner.cluster {
                cluster.broadcast(ClusterMsg::SessionEnded { token_hash: token_hash.clone() });
            }
        }
        Ok(ended.len())
    }
}

/// `parley users set-role NAME admin|member`: straight on the database, so
/// that it works with the server stopped (a running server reads roles from
/// the store on every admin request, so it sees the change at once). The last
/// active admin is not demoted (`last_admin`): promote another first.
pub async fn set_role_offline(store: &dyn Store, username: &str, role: &str) -> Result<User, ChatError> {
    let role = parse_role(role)?;
    let folded = username.trim().to_ascii_lowercase();
    let user = store.user_by_username(&folded).await.map_err(store_error)?.ok_or(ChatError::UserNotFound)?;
    if user.role == Role::Admin
        && role == Role::Member
        && !user.deactivated
        && store.count_active_admins().await.map_err(store_error)? <= 1
    {
        return Err(ChatError::LastAdmin);
    }
    store.set_role(user.id, role).await.map_err(store_error)?.ok_or(ChatError::UserNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_code_is_22_url_safe_characters_and_only_its_hash_is_kept() {
        let a = InviteCode::generate().unwrap();
        let b = InviteCode::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 22);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(InviteCode::hash_of(a.expose()).len(), 32);
        assert_ne!(InviteCode::hash_of(a.expose()), InviteCode::hash_of(b.expose()));
        assert_eq!(format!("{a:?}"), "InviteCode(…)");
    }

    #[test]
    fn only_the_three_registration_modes_are_accepted() {
        for mode in ["open", "invite_only", "closed"] {
            assert_eq!(parse_registration(mode).unwrap().as_str(), mode);
        }
        for bad in ["", "Open", "invite-only", "moderated"] {
            assert_eq!(parse_registration(bad).unwrap_err().code(), "invalid_setting", "{bad:?}");
        }
    }

    #[test]
    fn a_role_is_admin_or_member_and_moderator_is_reserved() {
        assert_eq!(parse_role("admin"), Ok(Role::Admin));
        assert_eq!(parse_role("member"), Ok(Role::Member));
        for bad in ["moderator", "Admin", ""] {
            assert_eq!(parse_role(bad).unwrap_err().code(), "invalid_payload", "{bad:?}");
        }
    }
}
