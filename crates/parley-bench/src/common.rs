//! What every scenario shares: users and their cookies, the server process's
//! figures from /proc, latency histograms, and the clock deliveries are timed on.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parley_client::HttpClient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub const PASSWORD: &str = "bench-password-1";

/// A logged-in user: the name and the session cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchUser {
    pub username: String,
    pub cookie: String,
}

pub fn load_users(path: &Path) -> Result<Vec<BenchUser>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e} (run the users scenario first)", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

pub fn save_users(path: &Path, users: &[BenchUser]) -> Result<()> {
    std::fs::write(path, serde_json::to_string(users)?)?;
    Ok(())
}

/// Registers (if needed) and logs in one user.
pub async fn login(base: &str, username: &str) -> Result<BenchUser> {
    let http = HttpClient::new(base);
    let r = http.api_register(username, &format!("{username}@bench.test"), PASSWORD).await?;
    if !(r.status().is_success() || r.status().as_u16() == 409) {
        return Err(format!("register {username}: {}", r.status()).into());
    }
    let r = http.api_login(username, PASSWORD).await?;
    if !r.status().is_success() {
        return Err(format!("login {username}: {}", r.status()).into());
    }
    let cookie = http.cookie_header().ok_or("no session cookie")?;
    Ok(BenchUser { username: username.to_owned(), cookie })
}

/// The server process, read from /proc.
#[derive(Debug, Clone, Copy)]
pub struct ServerProc(pub Option<u32>);

impl ServerProc {
    /// Resident memory in bytes.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0?)).ok()?;
        let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// User + system CPU time used so far.
    pub fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0?)).ok()?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf only reads a constant of the running system.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_micros(ticks * 1_000_000 / hz))
    }
}

/// How the clients ask to hear `presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PresenceMode {
    /// List the `presence_batch` capability in the handshake, as Parley's web
    /// client does: changes arrive coalesced, one event per window.
    Batch,
    /// Ask for nothing: one `presence` event per change, as clients written
    /// before the capability (a server without it answers this way anyway).
    Each,
}

impl PresenceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceMode::Batch => "batch",
            PresenceMode::Each => "each",
        }
    }
}

static PRESENCE: OnceLock<PresenceMode> = OnceLock::new();

/// Set once, before any client connects.
pub fn set_presence_mode(mode: PresenceMode) {
    let _ = PRESENCE.set(mode);
}

pub fn presence_mode() -> PresenceMode {
    *PRESENCE.get().unwrap_or(&PresenceMode::Batch)
}

/// The handshake `auth` every client of this run sends.
pub fn handshake_auth() -> Option<Value> {
    match presence_mode() {
        PresenceMode::Batch => Some(json!({"capabilities": ["presence_batch"]})),
        PresenceMode::Each => None,
    }
}

/// The one clock every send and receive is timed on.
pub fn clock() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

pub fn now_micros() -> u64 {
    clock().elapsed().as_micros() as u64
}

/// A histogram of microseconds, 1 µs to 100 s.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles in milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

/// Progress on stderr, so stdout keeps only the summary.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("[{:>7.1}s] {}", $crate::common::clock().elapsed().as_secs_f64(), format!($($arg)*)) };
}
