//! Typed settings from command-line flags, `PARLEY_*` environment variables
//! and a `.env` file (read by `main` before parsing).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::chat::{ChatConfig, Limit};
use crate::realtime::RealtimeConfig;

#[derive(Debug, Parser)]
#[command(name = "parley", version, about = "Parley: a self-hosted real-time chat server", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create or upgrade the database's tables, then exit.
    Migrate,
    /// Copy a SQLite database, consistently, while Parley may be running
    /// (MySQL/MariaDB and PostgreSQL: use mariadb-dump / pg_dump).
    Backup {
        /// Where to write the copy (must not exist yet).
        file: std::path::PathBuf,
    },
    /// Manage accounts from the command line (works with the server stopped).
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Give a user a server role: `parley users set-role NAME admin|member`.
    SetRole {
        /// The username (any case).
        name: String,
        /// `admin` or `member`.
        #[arg(value_parser = ["admin", "member"])]
        role: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything Parley can be told at start.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "PARLEY_BIND", default_value = "127.0.0.1:5000")]
    pub bind: SocketAddr,

    /// Database URL. `sqlite:parley.db` (the default) is a file in the working
    /// directory, created with its tables on first start.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:parley.db", hide_env_values = true)]
    pub database_url: String,

    /// Redis URL (e.g. `redis://127.0.0.1:6379`). Set it to run several Parley
    /// instances behind one address: events, presence and rate limits are then
    /// shared through Redis.
    #[arg(long, env = "PARLEY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of Parley's Redis keys and channel (one per deployment).
    #[arg(long, env = "PARLEY_REDIS_PREFIX", default_value = "parley")]
    pub redis_prefix: String,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "PARLEY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, in tracing's `EnvFilter` syntax (e.g. `info,parley=debug`).
    #[arg(long, env = "PARLEY_LOG", default_value = "info")]
    pub log: String,

    /// Origins besides the server's own that may post forms and open sockets
    /// (comma-separated, e.g. `https://chat.example.com`).
    #[arg(long, env = "PARLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Mark the session cookie `Secure` (set this when users reach Parley over HTTPS).
    #[arg(long, env = "PARLEY_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Take the client address from the last `X-Forwarded-For` entry (set this
    /// only behind a reverse proxy that sets the header).
    #[arg(long, env = "PARLEY_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// How many days a login lasts.
    #[arg(long, env = "PARLEY_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u64,

    /// Messages one user may send per second, on average.
    #[arg(long, env = "PARLEY_MESSAGE_RATE", default_value_t = 10)]
    pub message_rate: u32,

    /// Messages one user may send at once before the rate applies.
    #[arg(long, env = "PARLEY_MESSAGE_BURST", default_value_t = 20)]
    pub message_burst: u32,

    /// Failed logins allowed from one client address (an IPv6 /64) per 15 minutes.
    #[arg(long, env = "PARLEY_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 50)]
    pub login_failures_per_address: u32,

    /// Failed logins allowed for one username from one client address (an
    /// IPv6 /64) per 15 minutes. Other addresses may still try: failures
    /// there only delay logins for the username (`login_delay_max_ms`).
    #[arg(long, env = "PARLEY_LOGIN_FAILURES_PER_USERNAME", default_value_t = 10)]
    pub login_failures_per_username: u32,

    /// Packets queued for one socket before it counts as not reading and is
    /// disconnected (its client reconnects and catches up with `after`).
    #[arg(long, env = "PARLEY_SOCKET_QUEUE", default_value_t = 1024)]
    pub socket_queue: usize,

    /// Milliseconds between heartbeats to each socket.
    #[arg(long, env = "PARLEY_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,

    /// Milliseconds a socket may take to answer a heartbeat before it is closed.
    #[arg(long, env = "PARLEY_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,

    /// Milliseconds a `typing: true` stands without a refresh before it expires.
    #[arg(long, env = "PARLEY_TYPING_TTL_MS", default_value_t = 5000)]
    pub typing_ttl_ms: u64,

    /// Milliseconds after a graceful stop during which the users who were
    /// online count as online while they reconnect to the restarted server
    /// (one instance; with Redis presence is shared instead). 0: everyone goes
    /// offline at the stop.
    #[arg(long, env = "PARLEY_RESTART_GRACE_MS", default_value_t = 15_000)]
    pub restart_grace_ms: u64,

    // --- Transport hardening (connections, handshakes, metrics, hosts) ---
    /// Connections served at once. Default: the open-file limit minus 1,024
    /// (half the limit when it is small), so the process keeps files for the
    /// database, logs and the reserve below.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Connections one client address (IPv6: one /64) may hold at once; 0: no
    /// cap. Behind a reverse proxy every connection comes from the proxy:
    /// raise it or set 0 there, and cap per client in the proxy.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 1000)]
    pub max_connections_per_address: usize,

    /// Connections accepted beyond `max_connections`, each for one plain
    /// request with a short header timeout and no websocket, so health checks
    /// and logins still answer when the cap is reached.
    #[arg(long, env = "PARLEY_CONNECTION_RESERVE", default_value_t = 128)]
    pub connection_reserve: usize,

    /// Milliseconds a connection may take to send a request's headers, counted
    /// from when it opens or from its previous answer (so it is also how long
    /// an idle keep-alive connection stays open).
    #[arg(long, env = "PARLEY_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// The same for a connection of the reserve.
    #[arg(long, env = "PARLEY_RESERVE_HEADER_TIMEOUT_MS", default_value_t = 2_000)]
    pub reserve_header_timeout_ms: u64,

    /// Milliseconds an Engine.IO session may take to send its Socket.IO
    /// connect before it is closed.
    #[arg(long, env = "PARLEY_SOCKET_CONNECT_TIMEOUT_MS", default_value_t = 10_000)]
    pub socket_connect_timeout_ms: u64,

    /// Bearer token that `/metrics` on the main address asks for. Without it
    /// (and without `--metrics-bind`) metrics are not served.
    #[arg(long, env = "PARLEY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// A separate address (e.g. `127.0.0.1:9100`) that serves `/metrics`
    /// without a token, for a scraper on a private network.
    #[arg(long, env = "PARLEY_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Host names (with or without a port) the server answers to,
    /// comma-separated; `*` allows any. Loopback names and the hosts of
    /// `--allowed-origins` are always allowed. Set it when users reach Parley
    /// by a domain name.
    #[arg(long, env = "PARLEY_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    // Accounts hardening (findings 1, 2, 5, 6, 10 of docs/security.md).
    /// Longest delay, in milliseconds, before a login for a username that
    /// failed many times in 15 minutes is checked (250 ms at the fourth
    /// failure, doubling with each; a delay, never a lockout). 0: no delay.
    #[arg(long, env = "PARLEY_LOGIN_DELAY_MAX_MS", default_value_t = 4000)]
    pub login_delay_max_ms: u64,

    /// Registrations tried from one client address (an IPv6 /64) per hour.
    #[arg(long, env = "PARLEY_REGISTRATIONS_PER_ADDRESS", default_value_t = 10)]
    pub registrations_per_address: u32,

    /// Logins (and, apart, registrations) that may wait for a password-hashing
    /// slot (one slot per core) before more are answered 503 `server_busy`.
    #[arg(long, env = "PARLEY_HASH_QUEUE", default_value_t = 16)]
    pub hash_queue: usize,

    /// How long a login lasts, in seconds, when set (instead of `session_days`).
    #[arg(long, env = "PARLEY_SESSION_SECS")]
    pub session_secs: Option<u64>,

    /// Milliseconds between checks of the sessions of open connections: a
    /// socket whose session expired or was deleted is closed at the next one.
    #[arg(long, env = "PARLEY_SESSION_CHECK_MS", default_value_t = 60_000)]
    pub session_check_ms: u64,

    // Floods of events (finding 8): per-user limits, shared through Redis
    // when there is one.
    /// Rooms one user may create at once, before the per-minute rate applies.
    #[arg(long, env = "PARLEY_ROOM_CREATE_BURST", default_value_t = 5)]
    pub room_create_burst: u32,

    /// Rooms one user may create per minute, on average.
    #[arg(long, env = "PARLEY_ROOM_CREATE_PER_MINUTE", default_value_t = 3)]
    pub room_create_per_minute: u32,

    /// `typing: true` announcements one user may cause per second, on average
    /// (repeats absorbed by `--typing-repeat-ms` cost nothing).
    #[arg(long, env = "PARLEY_TYPING_RATE", default_value_t = 2)]
    pub typing_rate: u32,

    /// `typing: true` announcements one user may cause at once.
    #[arg(long, env = "PARLEY_TYPING_BURST", default_value_t = 10)]
    pub typing_burst: u32,

    /// Milliseconds during which a repeated `typing: true` of a user in a room
    /// is answered ok but not announced again (it still keeps the flag alive).
    #[arg(long, env = "PARLEY_TYPING_REPEAT_MS", default_value_t = 1500)]
    pub typing_repeat_ms: u64,

    /// `join_room` and `leave_room` one user may send per second, on average.
    #[arg(long, env = "PARLEY_JOIN_RATE", default_value_t = 5)]
    pub join_rate: u32,

    /// `join_room` and `leave_room` one user may send at once (a client joins
    /// each of its open rooms when it connects).
    #[arg(long, env = "PARLEY_JOIN_BURST", default_value_t = 50)]
    pub join_burst: u32,

    /// Sockets one user may hold open at once, on all instances together; the
    /// next handshake is refused with `too_many_connections`.
    #[arg(long, env = "PARLEY_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub max_sockets_per_user: u32,

    /// Milliseconds a user whose last socket closed still counts as online
    /// before going offline is announced: a reload or a reconnect within it
    /// announces nothing. 0: offline at once; at most 30000.
    #[arg(long, env = "PARLEY_PRESENCE_LINGER_MS", default_value_t = 1500)]
    pub presence_linger_ms: u64,
}

impl Settings {
    /// Defaults, as if started with no flags or environment (for tests).
    pub fn defaults() -> Self {
        Cli::parse_from(["parley"]).settings
    }

    pub fn chat_config(&self) -> ChatConfig {
        ChatConfig {
            session_ttl: match self.session_secs {
                Some(secs) => Duration::from_secs(secs.max(1)),
                None => Duration::from_secs(self.session_days.max(1) * 24 * 3600),
            },
            typing_ttl: Duration::from_millis(self.typing_ttl_ms.max(100)),
            message_rate: self.message_rate,
            message_burst: self.message_burst,
            login_failures_per_address: self.login_failures_per_address,
            login_failures_per_username: self.login_failures_per_username,
            login_window: Duration::from_secs(15 * 60),
            restart_grace: Duration::from_millis(self.restart_grace_ms),
            login_delay_max: Duration::from_millis(self.login_delay_max_ms),
            registrations_per_address: self.registrations_per_address,
            hash_queue: self.hash_queue,
            session_check: Duration::from_millis(self.session_check_ms.max(100)),
            room_create: Limit::per_minute(self.room_create_per_minute, self.room_create_burst),
            typing: Limit::per_second(self.typing_rate, self.typing_burst),
            typing_repeat: Duration::from_millis(self.typing_repeat_ms),
            join: Limit::per_second(self.join_rate, self.join_burst),
            max_sockets_per_user: self.max_sockets_per_user.max(1),
            presence_linger: Duration::from_millis(self.presence_linger_ms.min(30_000)),
        }
    }

    pub fn realtime_config(&self) -> RealtimeConfig {
        RealtimeConfig {
            max_buffer: self.socket_queue.max(4),
            ping_interval: Duration::from_millis(self.ping_interval_ms.max(100)),
            ping_timeout: Duration::from_millis(self.ping_timeout_ms.max(100)),
            connect_timeout: Duration::from_millis(self.socket_connect_timeout_ms.max(100)),
            ..RealtimeConfig::default()
        }
    }

    /// The database URL without any password, for logs.
    pub fn database_for_logs(&self) -> String {
        match self.database_url.split_once('@') {
            Some((_, host)) => format!("{}://…@{host}", self.database_url.split(':').next().unwrap_or("db")),
            None => self.database_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_listen_on_the_original_port_with_a_local_sqlite_file() {
        let s = Settings::defaults();
        assert_eq!(s.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(s.database_url, "sqlite:parley.db");
    }

    #[test]
    fn a_database_password_never_reaches_the_logs() {
        let mut s = Settings::defaults();
        s.database_url = "mysql://parley:hunter2@db:3306/parley".into();
        assert!(!s.database_for_logs().contains("hunter2"));
    }
}
