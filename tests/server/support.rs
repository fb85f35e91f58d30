//! `spawn_app()` and `TestApp`: one server per test, with its own database;
//! [`Process`]: the built binary as a process of its own. Shared by every
//! black-box test binary (server, abuse, faults, cluster, outage, through
//! `#[path]`), each of which uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

pub use parley_testdb::{Backend, TestDb};
use parley::{App, Settings};
use parley_client::{ConnectOptions, HttpClient, SioClient};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for an event that must not come.
pub const QUIET: Duration = Duration::from_millis(300);
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    /// The test's own database: a SQLite file, or a fresh database on the
    /// server that `PARLEY_TEST_DATABASE` names (see the `parley-testdb` crate).
    pub database_url: String,
    /// What it was started with (its address included), for [`TestApp::restart_after`].
    settings: Settings,
    _dir: tempfile::TempDir,
    _db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<Serving>,
    /// The server's chat service, for tests that cause what no route causes yet.
    pub chat: parley::chat::Chat,
}

/// A server with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server with settings changed by `tweak` (bind and database are the test's own).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = match Backend::from_env() {
        Some(backend) => Some(TestDb::create(backend).await.unwrap_or_else(|| panic!("set {}", backend.env_var()))),
        None => None,
    };
    let database_url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite:{}", dir.path().join("parley.db").display()),
    };
    let mut settings = Settings::defaults();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = database_url;
    settings.typing_ttl_ms = 400;
    // With PARLEY_TEST_REDIS_URL, the instance shares its state through Redis
    // under a key prefix of its own.
    if let Ok(url) = std::env::var("PARLEY_TEST_REDIS_URL") {
        settings.redis_url = Some(url);
        settings.redis_prefix = unique_prefix();
    }
    settings.message_rate = 1000;
    settings.message_burst = 1000;
    // Tests open many connections from 127.0.0.1.
    settings.max_connections_per_address = 0;
    // Every test registers its users from 127.0.0.1, many at once in places.
    settings.registrations_per_address = 100_000;
    settings.hash_queue = 10_000;
    // Tests create rooms, join and type in quick bursts; the abuse suite's
    // floods module sets these limits back where it tests them.
    settings.room_create_burst = 1000;
    settings.room_create_per_minute = 1000;
    settings.join_rate = 1000;
    settings.join_burst = 1000;
    settings.typing_rate = 1000;
    settings.typing_burst = 1000;
    tweak(&mut settings);
    // What `tweak` left (a test may bring a database server of its own).
    let database_url = settings.database_url.clone();
    let (settings, stop, handle, chat) = start(settings).await;
    let base = format!("http://{}", settings.bind);
    TestApp { base, database_url, settings, _dir: dir, _db: db, stop: Some(stop), handle: Some(handle), chat }
}

/// A second instance beside `first`: its database and its Redis prefix.
/// `None` unless `first` shares its state through Redis on a database
/// server (`PARLEY_TEST_REDIS_URL` and `PARLEY_TEST_DATABASE`).
#[allow(dead_code)]
pub async fn spawn_beside(first: &TestApp) -> Option<TestApp> {
    if first.settings.redis_url.is_none() || first._db.is_none() {
        return None;
    }
    let mut settings = first.settings.clone();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    let (settings, stop, handle, chat) = start(settings).await;
    let base = format!("http://{}", settings.bind);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = first.database_url.clone();
    Some(TestApp { base, database_url, settings, _dir: dir, _db: None, stop: Some(stop), handle: Some(handle), chat })
}

type Serving = JoinHandle<std::io::Result<()>>;

/// Builds and runs a server; its settings come back with the address it bound.
async fn start(mut settings: Settings) -> (Settings, oneshot::Sender<()>, Serving, parley::chat::Chat) {
    let app = App::build(settings.clone()).await.expect("app builds");
    settings.bind = app.local_addr().unwrap();
    let chat = app.chat().clone();
    settings.metrics_bind = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    (settings, stop, handle, chat)
}

/// A Redis key prefix no other test uses.
pub fn unique_prefix() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("parley-test-{}-{}-{nanos}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

impl TestApp {
    pub fn http(&self) -> HttpClient {
        HttpClient::new(&self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A URL on the `--metrics-bind` address (with `:0`, the port it bound).
    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.settings.metrics_bind.expect("metrics_bind is set"))
    }

    /// Registers and logs in a user; the returned client holds the session cookie.
    pub async fn user(&self, name: &str) -> HttpClient {
        user_at(&self.base, name).await
    }

    /// A connected socket of a logged-in user, its `connection_success` consumed.
    pub async fn socket(&self, http: &HttpClient) -> SioClient {
        socket_at(&self.base, http).await
    }

    /// A user with a connected socket.
    pub async fn connected(&self, name: &str) -> (HttpClient, SioClient) {
        let http = self.user(name).await;
        let socket = self.socket(&http).await;
        (http, socket)
    }

    pub async fn connect_raw(&self, opts: ConnectOptions) -> Result<SioClient, parley_client::SioError> {
        SioClient::connect(&self.base, opts).await
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(WAIT, handle).await.expect("stops in time").expect("task").expect("serves");
        }
    }
}

impl TestApp {
    /// Stops the server the way SIGTERM does, waits `pause`, and starts it
    /// again with the same settings on the same database and address (the
    /// clients' cookies and URLs stay good).
    pub async fn restart_after(&mut self, pause: Duration) {
        self.stop().await;
        tokio::time::sleep(pause).await;
        let (settings, stop, handle, chat) = start(self.settings.clone()).await;
        (self.settings, self.stop, self.handle, self.chat) = (settings, Some(stop), Some(handle), chat);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Registers and logs in a user at `base`; the client holds the session cookie.
pub async fn user_at(base: &str, name: &str) -> HttpClient {
    let http = HttpClient::new(base);
    http.register_and_login(name, PASSWORD).await.expect("register and login");
    http
}

/// Logs in at `base` as a user registered there or on another instance of
/// the same database, registering them first if nobody has.
pub async fn login_at(base: &str, name: &str) -> HttpClient {
    let http = HttpClient::new(base);
    let registered = http.api_register(name, &format!("{name}@example.test"), PASSWORD).await.expect("register");
    // 409: registered before; 403: registration closed since (by the test),
    // for a user registered before it was. The login says which.
    assert!(matches!(registered.status().as_u16(), 201 | 403 | 409), "register {name}: {}", registered.status());
    let login = http.api_login(name, PASSWORD).await.expect("login");
    assert_eq!(login.status(), 200, "login {name}");
    http
}

/// A connected socket at `base` of a logged-in user, its `connection_success` consumed.
pub async fn socket_at(base: &str, http: &HttpClient) -> SioClient {
    let mut s = SioClient::connect(base, http.sio_options()).await.expect("socket connects");
    s.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
    s
}

/// Joins a room with an ack and checks it succeeded.
pub async fn join(socket: &SioClient, room_id: i64) -> Value {
    let ack = socket.emit_with_ack("join_room", json!({"room_id": room_id, "room_name": ""}), WAIT).await.expect("ack");
    assert_eq!(ack["ok"], true, "join failed: {ack}");
    ack
}

/// Sends a message with an ack.
pub async fn send(socket: &SioClient, room_id: i64, text: &str) -> Value {
    socket.emit_with_ack("send_message", json!({"room_id": room_id, "message": text}), WAIT).await.expect("ack")
}

/// Sends a message, checks it was acked, and gives its id.
pub async fn send_ok(socket: &SioClient, room_id: i64, text: &str) -> i64 {
    let ack = send(socket, room_id, text).await;
    assert_eq!(ack["ok"], true, "send failed: {ack}");
    ack["id"].as_i64().expect("the ack carries the id")
}

/// The id of a room by name.
pub async fn room_id(http: &HttpClient, name: &str) -> i64 {
    let (status, rooms) = http.get_json("/api/rooms").await.expect("rooms");
    assert_eq!(status, 200);
    rooms.as_array().unwrap().iter().find(|r| r["room_name"] == name).expect("room exists")["id"].as_i64().unwrap()
}

pub fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// The bearer token [`Process`] asks for on `/metrics`.
pub const METRICS_TOKEN: &str = "scrape-token";

/// The limits [`spawn_app_with`] raises, as a [`Process`]'s environment, and
/// two more that the process tests need: many users and sockets, all from
/// 127.0.0.1, register, log in, join and send in quick bursts.
pub const RELAXED_LIMITS: &[(&str, &str)] = &[
    ("PARLEY_MESSAGE_RATE", "1000"),
    ("PARLEY_MESSAGE_BURST", "1000"),
    ("PARLEY_MAX_CONNECTIONS_PER_ADDRESS", "0"),
    ("PARLEY_MAX_SOCKETS_PER_USER", "100000"),
    ("PARLEY_REGISTRATIONS_PER_ADDRESS", "100000"),
    ("PARLEY_HASH_QUEUE", "10000"),
    ("PARLEY_LOGIN_FAILURES_PER_ADDRESS", "100000"),
    ("PARLEY_ROOM_CREATE_BURST", "1000"),
    ("PARLEY_ROOM_CREATE_PER_MINUTE", "1000"),
    ("PARLEY_JOIN_RATE", "1000"),
    ("PARLEY_JOIN_BURST", "100000"),
    ("PARLEY_TYPING_RATE", "1000"),
    ("PARLEY_TYPING_BURST", "1000"),
];

/// The built `parley` binary running as a process of its own (for tests that
/// measure its memory or open files, restart or kill it, or run several), on
/// a port the system chooses and a fresh SQLite file.
pub struct Process {
    pub base: String,
    pub pid: u32,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Starts the binary with these extra environment variables (a
    /// `DATABASE_URL` among them replaces the fresh SQLite file) and waits
    /// (at most 10 s) until `/readyz` answers. It binds a port the system
    /// chooses and says which in its log: a port picked here and bound there
    /// could be taken in between, and another server would answer.
    pub async fn spawn(envs: &[(&str, &str)]) -> Process {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"));
        cmd.env("PARLEY_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite:{}/p.db", dir.path().display()))
            .env("PARLEY_LOG", "warn,parley=info")
            .env("PARLEY_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .env("PARLEY_METRICS_TOKEN", METRICS_TOKEN)
            .envs(envs.iter().copied())
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("parley starts");
        let pid = child.id().expect("pid");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, address) = oneshot::channel();
        tokio::spawn(async move {
            let mut found = Some(found);
            // Reads the log to its end, so the server never blocks on a full pipe.
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Parley is listening")
                    && let Some(at) = line.find("127.0.0.1:")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(line[at + 10..].chars().take_while(char::is_ascii_digit).collect::<String>());
                }
                if std::env::var_os("PARLEY_TEST_SERVER_LOG").is_some() {
                    eprintln!("[parley {pid}] {line}");
                }
            }
        });
        let port = tokio::time::timeout(Duration::from_secs(20), address)
            .await
            .expect("the server logs its address in time")
            .expect("the server logs its address");
        // Owned at once, so Drop kills it whatever happens next.
        let process = Process { base: format!("http://127.0.0.1:{port}"), pid, child, _dir: dir };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(process.url("/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("parley on {} was not ready within 10 s", process.base);
    }

    /// [`Process::spawn`] with [`RELAXED_LIMITS`] (which `envs` may override).
    pub async fn spawn_relaxed(envs: &[(&str, &str)]) -> Process {
        Process::spawn(&[RELAXED_LIMITS, envs].concat()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn http(&self) -> HttpClient {
        HttpClient::new(&self.base)
    }

    /// Registers and logs in a user; the returned client holds the session cookie.
    pub async fn user(&self, name: &str) -> HttpClient {
        user_at(&self.base, name).await
    }

    /// A connected socket of a logged-in user, its `connection_success` consumed.
    pub async fn socket(&self, http: &HttpClient) -> SioClient {
        socket_at(&self.base, http).await
    }

    /// The process's resident memory in KiB (VmRSS of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
    }

    /// Stops it as a deploy does (SIGTERM) and waits until it has exited.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        // SAFETY: kill(2) on the pid of our own child, which has not been
        // reaped (try_wait above found it running), so the pid is still its.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        self.child.wait().await.expect("wait for parley")
    }

    /// Kills it (SIGKILL: no goodbye) and waits until it is gone.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub async fn stop(mut self) {
        self.kill().await;
    }
}
