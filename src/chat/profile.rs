//! Account settings: the user's own name and colour, their password, and
//! "sign out everywhere" (docs/protocol.md, "Accounts and administration").

use super::accounts::{AuthSession, HashKind, hash_password, verify_password};
use super::{Audience, Chat, Event, store_error};
use crate::domain::{AvatarColor, ChatError, DisplayName, Password, User, UserSummary};

/// What `PATCH /api/me` may change, unparsed.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange<'a> {
    pub display_name: Option<&'a str>,
    pub avatar_color: Option<&'a str>,
}

impl Chat {
    /// `GET /api/me`: the user as the store knows them now (with their role).
    pub async fn me(&self, session: &AuthSession) -> Result<User, ChatError> {
        match self.inner.store.user(session.user.id).await.map_err(store_error)? {
            Some(user) if !user.deactivated => Ok(user),
            _ => Err(ChatError::NotAuthenticated),
        }
    }

    /// `PATCH /api/me`: a new display name (the registration rules; blank
    /// falls back to the username) or avatar colour (`#rrggbb`). Everyone
    /// hears `user_updated`, and this user's next messages, typing and
    /// presence carry the new name at once, on every instance.
    pub async fn update_profile(&self, session: &AuthSession, change: ProfileChange<'_>) -> Result<User, ChatError> {
        let username = &session.user.username;
        let display_name = change.display_name.map(|d| DisplayName::parse(Some(d), username)).transpose()?;
        let avatar_color = change.avatar_color.map(AvatarColor::parse).transpose()?;
        let user = if display_name.is_none() && avatar_color.is_none() {
            self.me(session).await?
        } else {
            self.inner
                .store
                .update_profile(session.user.id, display_name, avatar_color)
                .await
                .map_err(store_error)?
                .ok_or(ChatError::NotAuthenticated)?
        };
        let summary = UserSummary::from(&user);
        self.user_changed(&summary);
        let person = self.person(&user).await;
        // Other instances update their caches when this event reaches them
        // (see `Chat::on_cluster_message`).
        self.publish(Audience::Everyone, Event::UserUpdated(person));
        Ok(user)
    }

    /// A user's name or colour changed: the sessions and connections of this
    /// instance carry the new one from now on.
    pub(super) fn user_changed(&self, user: &UserSummary) {
        self.inner.sessions.user_changed(user.id);
        self.inner.presence.user_changed(user);
    }

    /// `POST /api/me/password`: `wrong_password` unless `current` is right;
    /// the new one follows the registration rules. Every other session of the
    /// user ends and their sockets close; this one stays.
    pub async fn change_password(&self, session: &AuthSession, current: &str, new: &str) -> Result<(), ChatError> {
        let new = Password::parse(new)?;
        let admitted = self.inner.accounts.hashing.admit(HashKind::Login)?;
        let user = self.me(session).await?;
        let hash = user.password_hash.clone();
        let offered = Password::offered(current);
        if !admitted.run(move || verify_password(&offered, &hash)).await? {
            return Err(ChatError::WrongPassword);
        }
        new.check_strength(&[user.username.as_str(), &user.email, user.display_name.as_str()])?;
        let admitted = self.inner.accounts.hashing.admit(HashKind::Login)?;
        let password_hash = admitted.run(move || hash_password(&new)).await??;
        self.inner.store.set_password_hash(user.id, &password_hash).await.map_err(store_error)?;
        let ended = self.end_sessions_of(user.id, Some(&session.token_hash)).await?;
        tracing::info!(user_id = %user.id, other_sessions_ended = ended, "password changed");
        Ok(())
    }

    /// `DELETE /api/me/sessions`: every session of the user ends, this one
    /// too, and every socket of theirs closes, on every instance.
    pub async fn end_all_sessions(&self, session: &AuthSession) -> Result<(), ChatError> {
        let ended = self.end_sessions_of(session.user.id, None).await?;
        // This session may have ended already (another request); its sockets close anyway.
        self.session_ended(&session.token_hash);
        tracing::info!(user_id = %session.user.id, sessions_ended = ended, "signed out everywhere");
        Ok(())
    }
}
