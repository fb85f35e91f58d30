//! `spawn_app()` and `TestApp`: one server per test, with its own database.

use std::time::Duration;

use parley::store::testdb::{Backend, TestDb};
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
    /// server that `PARLEY_TEST_DATABASE` names (see `parley::store::testdb`).
    pub database_url: String,
    /// What it was started with (its address included), for [`TestApp::restart_after`].
    settings: Settings,
    _dir: tempfile::TempDir,
    _db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<Serving>,
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
    settings.database_url = database_url.clone();
    settings.typing_ttl_ms = 400;
    // With PARLEY_TEST_REDIS_URL, the instance shares its state through Redis
    // under a key prefix of its own.
    if let Ok(url) = std::env::var("PARLEY_TEST_REDIS_URL") {
        settings.redis_url = Some(url);
        settings.redis_prefix = unique_prefix();
    }
    settings.message_rate = 1000;
    settings.message_burst = 1000;
    // Every test registers its users from 127.0.0.1, many at once in places.
    settings.registrations_per_address = 100_000;
    settings.hash_queue = 10_000;
    tweak(&mut settings);
    let (settings, stop, handle) = start(settings).await;
    let base = format!("http://{}", settings.bind);
    TestApp { base, database_url, settings, _dir: dir, _db: db, stop: Some(stop), handle: Some(handle) }
}

type Serving = JoinHandle<std::io::Result<()>>;

/// Builds and runs a server; its settings come back with the address it bound.
async fn start(mut settings: Settings) -> (Settings, oneshot::Sender<()>, Serving) {
    let app = App::build(settings.clone()).await.expect("app builds");
    settings.bind = app.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    (settings, stop, handle)
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

    /// Registers and logs in a user; the returned client holds the session cookie.
    pub async fn user(&self, name: &str) -> HttpClient {
        let http = self.http();
        http.register_and_login(name, PASSWORD).await.expect("register and login");
        http
    }

    /// A connected socket of a logged-in user, its `connection_success` consumed.
    pub async fn socket(&self, http: &HttpClient) -> SioClient {
        let mut s = SioClient::connect(&self.base, http.sio_options()).await.expect("socket connects");
        s.wait_for("connection_success", |_| true, WAIT).await.expect("connection_success");
        s
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
        let (settings, stop, handle) = start(self.settings.clone()).await;
        (self.settings, self.stop, self.handle) = (settings, Some(stop), Some(handle));
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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

/// The id of a room by name.
pub async fn room_id(http: &HttpClient, name: &str) -> i64 {
    let (status, rooms) = http.get_json("/api/rooms").await.expect("rooms");
    assert_eq!(status, 200);
    rooms.as_array().unwrap().iter().find(|r| r["room_name"] == name).expect("room exists")["id"].as_i64().unwrap()
}

pub fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// The built server as a process of its own (its own SQLite database, no
/// Redis): for tests that read its `/metrics` (the recorder is
/// process-wide) or its memory. `env` adds settings.
#[allow(dead_code)] // used by the abuse suite (tests/abuse)
pub struct ServerProcess {
    child: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(dead_code)]
impl ServerProcess {
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .env("PARLEY_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite:{}", dir.path().join("parley.db").display()))
            .env("PARLEY_LOG", "warn,parley=info")
            .env("NO_COLOR", "1")
            .env_remove("PARLEY_REDIS_URL")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("parley starts");
        let stdout = child.stdout.take().unwrap();
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Parley is listening")
                    && let Some(at) = line.find("127.0.0.1:")
                {
                    let port: String = line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                    let _ = found.send(port);
                }
            }
        });
        let port = address.recv_timeout(Duration::from_secs(20)).expect("the server logs its address");
        let server = Self { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
        for _ in 0..200 {
            if reqwest::get(format!("{}/readyz", server.base)).await.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    }

    /// The process's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}
