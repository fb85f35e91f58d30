//! Registration, login, sessions.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use blake2::{Blake2b, Digest, digest::consts::U32};

use super::ratelimit::{AttemptWindow, ClientNet, LoginGate, LoginKeys, login_delay};
use super::{Chat, ChatConfig, LoginLimits, cluster_error, store_error};
use crate::domain::{
    AvatarColor, ChatError, DisplayName, Email, NewUser, MemberRole, Password, RegistrationMode, RoomName, User, UserSummary, Username,
};
use crate::store::NewSession;

/// What a registration form or JSON body carries, unparsed.
#[derive(Debug, Clone, Default)]
pub struct Registration<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
    /// An invite code (`/register?invite=`), needed while registration is
    /// `invite_only`, ignored while it is `open`.
    pub invite: Option<&'a str>,
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
    /// Login attempts of this instance (with a cluster they are counted there).
    logins: LoginGate,
    /// Registrations per client address of this instance (idem).
    registrations: AttemptWindow<ClientNet>,
    pub(super) hashing: HashPool,
}

impl Accounts {
    pub(super) fn new(config: &ChatConfig) -> Self {
        Self {
            logins: LoginGate::new(login_limits(config)),
            registrations: AttemptWindow::new(config.registrations_per_address, REGISTRATION_WINDOW),
            hashing: HashPool::new(config.hash_queue),
        }
    }
}

/// The window of [`ChatConfig::registrations_per_address`].
pub(super) const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);

fn login_limits(c: &ChatConfig) -> LoginLimits {
    LoginLimits {
        per_address: c.login_failures_per_address,
        per_username: c.login_failures_per_username,
        window: c.login_window,
    }
}

/// Who asks for a password hash: logins and registrations queue apart, so a
/// flood of one cannot make the other wait beyond its own bounded queue.
#[derive(Debug, Clone, Copy)]
pub(super) enum HashKind {
    Login,
    Registration,
}

impl HashKind {
    fn label(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Registration => "registration",
        }
    }
}

/// The password hashes computed at once, and who waits for them.
///
/// One slot per core: each hash takes 19 MiB and a core for ~20-40 ms; more
/// at once only queues them on the CPU and the heap. Registrations may hold
/// at most half of the slots (at least one), so logins of existing users
/// always have the rest. Each kind may have at most `slots + queue` requests
/// admitted, from their database look-ups to the end of their hash; beyond
/// that the answer is `server_busy` at once, instead of a wait that grows
/// with the flood (and before the look-ups, so a flood does not queue ahead
/// of real users for the database either).
pub(super) struct HashPool {
    slots: tokio::sync::Semaphore,
    registration_slots: tokio::sync::Semaphore,
    bound: usize,
    logins: AtomicUsize,
    registrations: AtomicUsize,
}

/// A request admitted to the pool; counted until dropped (cancelled too).
pub(super) struct Admitted<'a> {
    pool: &'a HashPool,
    kind: HashKind,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.pool.count(self.kind).fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashPool {
    fn new(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            slots: tokio::sync::Semaphore::new(cores),
            registration_slots: tokio::sync::Semaphore::new((cores / 2).max(1)),
            bound: cores + queue,
            logins: AtomicUsize::new(0),
            registrations: AtomicUsize::new(0),
        }
    }

    fn count(&self, kind: HashKind) -> &AtomicUsize {
        match kind {
            HashKind::Login => &self.logins,
            HashKind::Registration => &self.registrations,
        }
    }

    /// A place among the requests of `kind` that will hash, or `server_busy`.
    pub(super) fn admit(&self, kind: HashKind) -> Result<Admitted<'_>, ChatError> {
        let admitted = Admitted { pool: self, kind };
        if self.count(kind).fetch_add(1, Ordering::SeqCst) >= self.bound {
            metrics::counter!("parley_password_hash_refused_total", "kind" => kind.label()).increment(1);
            return Err(ChatError::Busy { retry_after: Duration::from_secs(1) });
        }
        Ok(admitted)
    }
}

impl Admitted<'_> {
    /// Runs `f` (a hash) off the async threads when a slot is free.
    pub(super) async fn run<T: Send + 'static>(self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ChatError> {
        let pool = self.pool;
        let _registration_slot = match self.kind {
            HashKind::Registration => Some(pool.registration_slots.acquire().await.map_err(|_| ChatError::Internal)?),
            HashKind::Login => None,
        };
        let _slot = pool.slots.acquire().await.map_err(|_| ChatError::Internal)?;
        metrics::counter!("parley_password_hashes_total", "kind" => self.kind.label()).increment(1);
        tokio::task::spawn_blocking(f).await.map_err(|_| ChatError::Internal)
    }
}

pub(super) fn hash_password(password: &Password) -> Result<String, ChatError> {
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

pub(super) fn verify_password(password: &Password, hash: &str) -> bool {
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

/// Longer than any username (32 characters of at most 4 bytes): not looked up.
const MAX_LOGIN_NAME_BYTES: usize = 128;

impl Chat {
    /// Creates an account. Nothing is stored unless every field is valid, the
    /// client has not registered too often, the registration mode lets them
    /// (an invite while it is `invite_only`; the first account always may),
    /// the username and email are free and the password is not a common one.
    /// The invite's use is taken, and the (expensive) password hash computed,
    /// last, when the account will most likely be created; the unique
    /// constraints stay the final word for a race between two (the invite's
    /// use is then spent).
    pub async fn register(&self, form: Registration<'_>, client: IpAddr) -> Result<UserSummary, ChatError> {
        self.create_account(form, client).await.map(|user| UserSummary::from(&user))
    }

    /// [`Chat::register`], then a session for the new account: the
    /// registration form signs the new person in.
    pub async fn register_signed_in(
        &self,
        form: Registration<'_>,
        client: IpAddr,
    ) -> Result<(SessionToken, UserSummary), ChatError> {
        let user = self.create_account(form, client).await?;
        let token = self.open_session(&user).await?;
        Ok((token, UserSummary::from(&user)))
    }

    async fn create_account(&self, form: Registration<'_>, client: IpAddr) -> Result<User, ChatError> {
        let username = Username::parse(form.username)?;
        let email = Email::parse(form.email)?;
        let display_name = DisplayName::parse(form.display_name, &username)?;
        let password = Password::parse(form.password)?;
        self.registration_allowed(ClientNet::of(client)).await?;
        let mode = self.registration_mode(form.invite).await?;
        let admitted = self.inner.accounts.hashing.admit(HashKind::Registration)?;
        let store = &self.inner.store;
        if store.user_by_username(&username.folded()).await.map_err(store_error)?.is_some() {
            return Err(ChatError::UsernameTaken);
        }
        if store.user_by_email(&email.folded()).await.map_err(store_error)?.is_some() {
            return Err(ChatError::EmailTaken);
        }
        // After the limit: the estimate costs a few milliseconds of CPU.
        password.check_strength(&[username.as_str(), email.as_str(), display_name.as_str()])?;
        if mode == RegistrationMode::InviteOnly {
            self.use_invite(form.invite.unwrap_or_default()).await?;
        }
        let password_hash = admitted.run(move || hash_password(&password)).await??;
        let user = NewUser {
            avatar_color: AvatarColor::for_username(&username),
            username,
            email,
            display_name,
            password_hash,
            created_at: self.inner.clock.now(),
        };
        let user = store.create_user(user).await.map_err(store_error)?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "registered");
        self.account_created(&user).await;
        Ok(user)
    }

    /// What a new account gets besides its row: membership of General, when
    /// a room of that name exists (docs/protocol.md, "Membership and events").
    /// The account exists whatever happens here: a failure is logged, and the
    /// person can still join General from the room list.
    async fn account_created(&self, user: &User) {
        let store = &self.inner.store;
        let general = RoomName::from_trusted("General".into()).folded();
        let joined = async {
            let Some(room) = store.room_by_name(&general).await? else { return Ok(()) };
            store.add_members(room.id, &[user.id], MemberRole::Member, self.inner.clock.now()).await.map(|_| ())
        };
        if let Err(e) = joined.await {
            tracing::warn!(error = %e, user_id = %user.id, "a new account did not become a member of General");
        }
    }

    async fn registration_allowed(&self, client: ClientNet) -> Result<(), ChatError> {
        let max = self.inner.config.registrations_per_address;
        let allowed = match &self.inner.cluster {
            None => self.inner.accounts.registrations.take(&client),
            Some(cluster) => {
                cluster.take_attempt("register", client, max, REGISTRATION_WINDOW).await.map_err(cluster_error)?
            }
        };
        allowed.map_err(|retry_after| ChatError::RateLimited { retry_after })
    }

    /// Checks a username and password and opens a session.
    ///
    /// The attempt is counted before the password is checked (so parallel
    /// attempts cannot slip past the limits), and given back on success.
    /// A username that failed several times recently is checked only after a
    /// growing delay ([`super::ratelimit::login_delay`]).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(SessionToken, UserSummary), ChatError> {
        let folded = username.trim().to_ascii_lowercase();
        let keys = LoginKeys::new(client, &folded);
        let failures = self.login_reserve(&keys).await?;
        let delay = login_delay(failures, self.inner.config.login_delay_max);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match self.check_password(&folded, password).await {
            // Said only to whoever knows the password.
            Ok(Some(user)) if user.deactivated => {
                self.login_release(&keys, false).await;
                Err(ChatError::AccountDeactivated)
            }
            Ok(Some(user)) => {
                self.login_release(&keys, true).await;
                let token = self.open_session(&user).await?;
                Ok((token, UserSummary::from(&user)))
            }
            Ok(None) => {
                self.login_failed(&keys).await;
                Err(ChatError::InvalidCredentials)
            }
            Err(e) => {
                self.login_release(&keys, false).await;
                Err(e)
            }
        }
    }

    /// The user, if the password is theirs.
    async fn check_password(&self, folded: &str, password: &str) -> Result<Option<User>, ChatError> {
        let admitted = self.inner.accounts.hashing.admit(HashKind::Login)?;
        let user = if folded.len() > MAX_LOGIN_NAME_BYTES {
            None
        } else {
            self.inner.store.user_by_username(folded).await.map_err(store_error)?
        };
        let hash = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
        let offered = Password::offered(password);
        let matches = admitted.run(move || verify_password(&offered, &hash)).await?;
        Ok(user.filter(|_| matches))
    }

    async fn login_reserve(&self, keys: &LoginKeys) -> Result<u32, ChatError> {
        let reserved = match &self.inner.cluster {
            None => self.inner.accounts.logins.reserve(keys),
            Some(cluster) => {
                cluster.login_reserve(keys, login_limits(&self.inner.config)).await.map_err(cluster_error)?
            }
        };
        reserved.map_err(|retry_after| ChatError::RateLimited { retry_after })
    }

    async fn login_failed(&self, keys: &LoginKeys) {
        match &self.inner.cluster {
            None => self.inner.accounts.logins.failed(keys),
            Some(cluster) => {
                if let Err(e) = cluster.login_failed(keys, login_limits(&self.inner.config)).await {
                    tracing::warn!(error = %e, "login failure not counted");
                }
            }
        }
    }

    async fn login_release(&self, keys: &LoginKeys, succeeded: bool) {
        match &self.inner.cluster {
            None if succeeded => self.inner.accounts.logins.succeeded(keys),
            None => self.inner.accounts.logins.release(keys),
            Some(cluster) => {
                if let Err(e) = cluster.login_release(keys, succeeded).await {
                    tracing::warn!(error = %e, "login attempt not given back");
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
        self.session_ended(&token_hash);
        if let Some(cluster) = &self.inner.cluster {
            cluster.broadcast(super::ClusterMsg::SessionEnded { token_hash });
        }
        Ok(())
    }

    /// Forgets a session that ended and closes this instance's connections
    /// opened with it.
    pub(super) fn session_ended(&self, token_hash: &[u8]) {
        self.inner.sessions.ended(token_hash);
        for conn in self.inner.presence.connections_of_session(token_hash) {
            self.inner.notifier.disconnect(&conn);
        }
    }

    /// Checks the session of every open connection of this instance against
    /// the store, and closes the connections whose session expired or was
    /// deleted (by another instance, by hand, or when the account changes).
    /// Each instance checks its own connections, so this holds with a
    /// cluster too. Returns how many sessions ended.
    pub async fn check_sessions(&self) -> usize {
        let now = self.inner.clock.now();
        let mut ended = 0;
        for token_hash in self.inner.presence.sessions_in_use() {
            match self.inner.store.session_user(&token_hash, now).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::info!("a session of an open connection ended; closing its connections");
                    self.session_ended(&token_hash);
                    ended += 1;
                }
                // The database is away: check again next time rather than
                // close everyone's connections.
                Err(e) => {
                    tracing::warn!(error = %e, "sessions of open connections not checked");
                    return ended;
                }
            }
        }
        ended
    }

    /// Runs [`Chat::check_sessions`] every `session_check`, for as long as
    /// this chat service lives.
    pub fn start_session_checks(&self) {
        let this = std::sync::Arc::downgrade(&self.inner);
        let every = self.inner.config.session_check;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = this.upgrade() else { return };
                Chat { inner }.check_sessions().await;
            }
        });
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
