//! Registration, login, sessions.

use std::net::IpAddr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use blake2::{Blake2b, Digest, digest::consts::U32};

use super::ratelimit::FailureWindow;
use super::{Chat, ChatConfig, LoginLimits, cluster_error, store_error};
use crate::domain::{
    AvatarColor, ChatError, DisplayName, Email, NewUser, Password, User, UserSummary, Username,
};
use crate::store::NewSession;

/// What a registration form or JSON body carries, unparsed.
#[derive(Debug, Clone, Default)]
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
}

/// The secret a client holds (in its cookie). Only its hash is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    fn generate() -> Result<Self, ChatError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            tracing::error!(error = %e, "no randomness for a session token");
            ChatError::Internal
        })?;
        Ok(Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as a client presented it.
    pub fn from_client(s: &str) -> Self {
        Self(s.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(super) fn hash(&self) -> Vec<u8> {
        Blake2b::<U32>::digest(self.0.as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// A logged-in user, as a request or a connection carries it.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub user: UserSummary,
    /// Identifies the session without exposing the token (for logout).
    pub(super) token_hash: Vec<u8>,
}

pub(super) struct Accounts {
    per_address: FailureWindow<IpAddr>,
    per_username: FailureWindow<String>,
    /// Password hashes computed at once: one per core. Each takes 19 MiB and a
    /// core for ~20 ms; more at once only queues them on the CPU and the heap.
    hashing: tokio::sync::Semaphore,
}

impl Accounts {
    pub(super) fn new(config: &ChatConfig) -> Self {
        Self {
            per_address: FailureWindow::new(config.login_failures_per_address, config.login_window),
            per_username: FailureWindow::new(config.login_failures_per_username, config.login_window),
            hashing: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        }
    }
}

fn hash_password(password: &Password) -> Result<String, ChatError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| ChatError::Internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| ChatError::Internal)?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ChatError::Internal
        })
}

fn verify_password(password: &Password, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A real argon2id hash to check against when the username does not exist, so
/// that an unknown name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(&Password::offered("not a real password")).unwrap_or_default())
}

impl Accounts {
    /// Runs password hashing off the async threads, a core's worth at a time.
    async fn hashing<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ChatError> {
        let _slot = self.hashing.acquire().await.map_err(|_| ChatError::Internal)?;
        tokio::task::spawn_blocking(f).await.map_err(|_| ChatError::Internal)
    }
}

impl Chat {
    /// Creates an account. Nothing is stored unless every field is valid and
    /// the username and email are free.
    pub async fn register(&self, form: Registration<'_>) -> Result<UserSummary, ChatError> {
        let username = Username::parse(form.username)?;
        let email = Email::parse(form.email)?;
        let display_name = DisplayName::parse(form.display_name, &username)?;
        let password = Password::parse(form.password)?;
        let password_hash = self.inner.accounts.hashing(move || hash_password(&password)).await??;
        let user = NewUser {
            avatar_color: AvatarColor::for_username(&username),
            username,
            email,
            display_name,
            password_hash,
            created_at: self.inner.clock.now(),
        };
        let user = self.inner.store.create_user(user).await.map_err(store_error)?;
        tracing::info!(user_id = %user.id, "registered");
        Ok(UserSummary::from(&user))
    }

    /// Checks a username and password and opens a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(SessionToken, UserSummary), ChatError> {
        let folded = username.trim().to_ascii_lowercase();
        self.login_allowed(client, &folded).await?;

        let user = self.inner.store.user_by_username(&folded).await.map_err(store_error)?;
        let hash = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
        let offered = Password::offered(password);
        let matches = self.inner.accounts.hashing(move || verify_password(&offered, &hash)).await?;
        let user = match user {
            Some(user) if matches => user,
            _ => {
                self.login_failed(client, &folded).await;
                return Err(ChatError::InvalidCredentials);
            }
        };
        self.login_succeeded(&folded).await;
        let token = self.open_session(&user).await?;
        Ok((token, UserSummary::from(&user)))
    }

    fn login_limits(&self) -> LoginLimits {
        let c = &self.inner.config;
        LoginLimits {
            per_address: c.login_failures_per_address,
            per_username: c.login_failures_per_username,
            window: c.login_window,
        }
    }

    async fn login_allowed(&self, client: IpAddr, folded: &str) -> Result<(), ChatError> {
        let allowed = match &self.inner.cluster {
            None => {
                let limits = &self.inner.accounts;
                limits.per_address.check(&client).and_then(|()| limits.per_username.check(&folded.to_owned()))
            }
            Some(cluster) => cluster.login_allowed(client, folded, self.login_limits()).await.map_err(cluster_error)?,
        };
        allowed.map_err(|retry_after| ChatError::RateLimited { retry_after })
    }

    async fn login_failed(&self, client: IpAddr, folded: &str) {
        match &self.inner.cluster {
            None => {
                self.inner.accounts.per_address.record_failure(&client);
                self.inner.accounts.per_username.record_failure(&folded.to_owned());
            }
            Some(cluster) => {
                if let Err(e) = cluster.login_failed(client, folded, self.login_limits()).await {
                    tracing::warn!(error = %e, "login failure not counted");
                }
            }
        }
    }

    async fn login_succeeded(&self, folded: &str) {
        match &self.inner.cluster {
            None => self.inner.accounts.per_username.clear(&folded.to_owned()),
            Some(cluster) => {
                if let Err(e) = cluster.login_succeeded(folded).await {
                    tracing::warn!(error = %e, "login success not recorded");
                }
            }
        }
    }

    async fn open_session(&self, user: &User) -> Result<SessionToken, ChatError> {
        let token = SessionToken::generate()?;
        let now = self.inner.clock.now();
        let ttl = i64::try_from(self.inner.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
        let session = NewSession {
            token_hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now.plus_seconds(ttl),
        };
        self.inner.store.create_session(session).await.map_err(store_error)?;
        Ok(token)
    }

    /// The session a token belongs to, if it is still valid.
    /// Sessions confirmed by the store in the last few seconds are answered
    /// from memory (see [`super::cache::SESSION_RECHECK_SECS`]).
    pub async fn authenticate(&self, token: &SessionToken) -> Result<AuthSession, ChatError> {
        let token_hash = token.hash();
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        let user = self
            .inner
            .sessions
            .get_or_load(&token_hash, now, async || {
                let found = store.session_user(&token_hash, now).await.map_err(store_error)?;
                Ok::<_, ChatError>(found.map(|f| (UserSummary::from(&f.user), f.expires_at)))
            })
            .await?
            .ok_or(ChatError::NotAuthenticated)?;
        Ok(AuthSession { user, token_hash })
    }

    /// Ends a session on the server, and closes every connection opened with it.
    pub async fn logout(&self, token: &SessionToken) -> Result<(), ChatError> {
        let token_hash = token.hash();
        self.inner.store.delete_session(&token_hash).await.map_err(store_error)?;
        self.inner.sessions.ended(&token_hash);
        for conn in self.inner.presence.connections_of_session(&token_hash) {
            self.inner.notifier.disconnect(&conn);
        }
        if let Some(cluster) = &self.inner.cluster {
            cluster.broadcast(super::ClusterMsg::SessionEnded { token_hash });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_is_random_and_only_its_hash_is_kept() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(a.hash(), SessionToken::from_client(a.expose()).hash());
        assert_ne!(a.hash(), a.expose().as_bytes());
    }

    #[test]
    fn a_password_verifies_against_its_own_argon2id_hash_only() {
        let pw = Password::parse("correct horse").unwrap();
        let hash = hash_password(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(&Password::offered("wrong horse"), &hash));
        assert!(!verify_password(&pw, "not a hash"));
    }
}
